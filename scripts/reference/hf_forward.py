"""
Faithful float64 re-implementations of Hugging Face transformers' GPT2Model and LlamaModel (also Qwen2 and
Mistral, which share LlamaModel's maths) forward passes with output_hidden_states=True, written in plain torch.

transformers itself is not installable here, so this module copies its semantics line by line (transformers
4.40-era modeling_gpt2.py / modeling_llama.py):
  GPT-2: wte + wpe; per block  h = h + attn(ln_1(h)),  h = h + mlp(ln_2(h));  Conv1D layers (x @ W + b with W
         stored [in, out]); q, k, v split from c_attn; scores / sqrt(head_dim); causal mask then the padding
         mask; softmax; c_proj; mlp = c_proj(gelu_new(c_fc(x))) with gelu_new the tanh approximation.
  Llama: embed_tokens; per layer  h = h + o_proj(attn(input_layernorm(h))),  h = h + mlp(post_attention_layernorm(h));
         LlamaRMSNorm w * x / sqrt(mean(x^2) + eps); rotary embeddings with inv_freq = 1 / theta^(2i/hd),
         emb = cat(freqs, freqs), q*cos + rotate_half(q)*sin, rotate_half(x) = cat(-x2, x1); repeat_kv (query
         head h uses key/value head h // n_rep); nn.Linear (x @ W^T + b); SwiGLU mlp down(silu(gate(x)) * up(x)).
  hidden_states: the input of every block, then the FINAL NORM applied to the last block's output
         (nLayer + 1 tensors; the last block's raw output is not among them), as transformers returns them.
  Padding: position ids = cumsum(attention_mask) - 1 clamped at 0 (what `generate` passes; equals arange for
         unpadded and right-padded texts); key j is visible to query i iff j <= i and attention_mask[j] = 1.

Weights are read from a safetensors file (a tiny reader below: no safetensors package needed).
"""
import json
import math
import struct

import numpy as np
import torch

_ST_DTYPES = {"F32": np.float32, "F16": np.float16, "F64": np.float64, "I64": np.int64, "I32": np.int32}


def read_safetensors(path):
    """Returns {name: np.ndarray} (BF16 widened to float32 exactly)."""
    with open(path, "rb") as f:
        (hlen,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(hlen))
        base = 8 + hlen
        out = {}
        for name, e in header.items():
            if name == "__metadata__":
                continue
            start, end = e["data_offsets"]
            f.seek(base + start)
            raw = f.read(end - start)
            if e["dtype"] == "BF16":
                bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
                arr = bits.view(np.float32)
            else:
                arr = np.frombuffer(raw, dtype=np.dtype(_ST_DTYPES[e["dtype"]]).newbyteorder("<"))
            out[name] = arr.reshape(e["shape"]).copy()
        return out


def load_weights(model_dir, dtype=torch.float64):
    """Canonical names (no `transformer.` / `model.` prefix) → torch tensors of `dtype` (default float64)."""
    raw = read_safetensors(f"{model_dir}/model.safetensors")
    w = {}
    for name, arr in raw.items():
        for p in ("transformer.", "model."):
            if name.startswith(p):
                name = name[len(p):]
                break
        w[name] = torch.from_numpy(arr).to(dtype)
    return w


def position_ids_from_mask(mask):
    return torch.clamp(torch.cumsum(mask, dim=-1) - 1, min=0)


def additive_mask(mask, T, dtype):
    """[B, 1, T, T]: 0 where visible, finfo.min where not (causal AND padding), as transformers builds it."""
    causal = torch.tril(torch.ones(T, T, dtype=torch.bool))
    visible = causal[None, None, :, :] & mask[:, None, None, :].bool()
    return torch.where(visible, torch.zeros((), dtype=dtype), torch.tensor(torch.finfo(dtype).min, dtype=dtype))


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2_forward(cfg, w, ids, mask):
    """GPT2Model(ids, attention_mask, position_ids, output_hidden_states=True).hidden_states, float64."""
    B, T = ids.shape
    d = cfg["n_embd"]
    H = cfg["n_head"]
    hd = d // H
    eps = cfg.get("layer_norm_epsilon", 1e-5)
    act = cfg.get("activation_function", "gelu_new")
    act_fn = gelu_new if act in ("gelu_new", "gelu_pytorch_tanh") else torch.nn.functional.gelu
    pos = position_ids_from_mask(mask)
    h = w["wte.weight"][ids] + w["wpe.weight"][pos]
    amask = additive_mask(mask, T, h.dtype)
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (d,), w[p + ".weight"], w[p + ".bias"], eps)
    conv1d = lambda x, p: torch.addmm(w[p + ".bias"], x.reshape(-1, x.shape[-1]), w[p + ".weight"]).reshape(*x.shape[:-1], -1)
    hidden = []
    for i in range(cfg["n_layer"]):
        hidden.append(h)
        p = f"h.{i}"
        residual = h
        x = ln(h, p + ".ln_1")
        qkv = conv1d(x, p + ".attn.c_attn")
        q, k, v = qkv.split(d, dim=2)
        split = lambda t: t.view(B, T, H, hd).permute(0, 2, 1, 3)
        q, k, v = split(q), split(k), split(v)
        scores = torch.matmul(q, k.transpose(-1, -2)) / torch.full([], v.size(-1) ** 0.5, dtype=q.dtype)
        scores = scores + amask
        probs = torch.softmax(scores, dim=-1)
        a = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous().view(B, T, d)
        a = conv1d(a, p + ".attn.c_proj")
        h = a + residual
        residual = h
        x = ln(h, p + ".ln_2")
        x = conv1d(act_fn(conv1d(x, p + ".mlp.c_fc")), p + ".mlp.c_proj")
        h = residual + x
    h = ln(h, "ln_f")
    hidden.append(h)
    return hidden


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def repeat_kv(x, n_rep):
    b, kvh, t, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kvh, n_rep, t, hd).reshape(b, kvh * n_rep, t, hd)


def llama_forward(cfg, w, ids, mask):
    """LlamaModel / Qwen2Model(ids, attention_mask, position_ids, output_hidden_states=True).hidden_states, float64."""
    B, T = ids.shape
    d = cfg["hidden_size"]
    H = cfg["num_attention_heads"]
    KV = cfg.get("num_key_value_heads", H)
    hd = cfg.get("head_dim") or d // H
    eps = cfg.get("rms_norm_eps", 1e-6)
    theta = cfg.get("rope_theta", 10000.0)
    pos = position_ids_from_mask(mask)
    inv_freq = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.int64).to(torch.float64) / hd))
    freqs = pos[:, :, None].to(torch.float64) * inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    dt = w["norm.weight"].dtype
    cos, sin = emb.cos()[:, None].to(dt), emb.sin()[:, None].to(dt)  # [B, 1, T, hd]
    amask = additive_mask(mask, T, w["norm.weight"].dtype)

    def linear(x, p):
        b = w.get(p + ".bias")
        return torch.nn.functional.linear(x, w[p + ".weight"], b)

    h = w["embed_tokens.weight"][ids]
    hidden = []
    for i in range(cfg["num_hidden_layers"]):
        hidden.append(h)
        p = f"layers.{i}"
        residual = h
        x = rms_norm(h, w[p + ".input_layernorm.weight"], eps)
        q = linear(x, p + ".self_attn.q_proj").view(B, T, H, hd).transpose(1, 2)
        k = linear(x, p + ".self_attn.k_proj").view(B, T, KV, hd).transpose(1, 2)
        v = linear(x, p + ".self_attn.v_proj").view(B, T, KV, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = repeat_kv(k, H // KV)
        v = repeat_kv(v, H // KV)
        scores = torch.matmul(q, k.transpose(2, 3)) / math.sqrt(hd) + amask
        probs = torch.softmax(scores, dim=-1)
        a = torch.matmul(probs, v).transpose(1, 2).contiguous().reshape(B, T, H * hd)
        h = residual + linear(a, p + ".self_attn.o_proj")
        residual = h
        x = rms_norm(h, w[p + ".post_attention_layernorm.weight"], eps)
        x = linear(torch.nn.functional.silu(linear(x, p + ".mlp.gate_proj")) * linear(x, p + ".mlp.up_proj"), p + ".mlp.down_proj")
        h = residual + x
    h = rms_norm(h, w["norm.weight"], eps)
    hidden.append(h)
    return hidden


def forward(model_dir, ids, mask, dtype=torch.float64, weights=None):
    """Hidden states (list of [B, T, d] tensors of `dtype`) of the checkpoint in model_dir."""
    with open(f"{model_dir}/config.json") as f:
        cfg = json.load(f)
    w = weights if weights is not None else load_weights(model_dir, dtype)
    ids = torch.as_tensor(ids, dtype=torch.int64)
    mask = torch.as_tensor(mask, dtype=torch.int64)
    with torch.no_grad():
        if cfg["model_type"] == "gpt2":
            return gpt2_forward(cfg, w, ids, mask)
        return llama_forward(cfg, w, ids, mask)
