"""
Float64 torch re-implementations of transformers' forward passes for the model-zoo families, written in the
tensor style of transformers 4.57's modelling files (view / transpose / chunk, rotate_half by torch.cat, repeat_kv
by expand, additive finfo.min masks), so that they check the loop-based TypeScript references in
test/reference/hf/ with a structurally different implementation. (transformers itself needs torch >= 2.1; Debian
ships 1.13, so its code is followed here line by line instead of imported.)

Usage: hf_zoo.py CASE_DIR OUT_DIR
  CASE_DIR holds config.json, model.safetensors (F32) and case.json {"family", "ids", "mask"};
  OUT_DIR receives hidden.npy [L+1, B, T, d], logits.npy [B, T, V] (when there is a head) and per-layer hooks
  ln1.npy, attn_v.npy, attn_pattern.npy, attn_out.npy, mlp_post.npy, mlp_out.npy ([L, ...]; resid_post is hidden).

Padding semantics of the project: position ids = cumsum(mask) - 1 clamped at 0 (RoBERTa: + padding_idx + 1),
key j visible to query i iff mask[j] and (decoders) j <= i (and i - j < window for sliding layers).
"""
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from hf_forward import read_safetensors  # noqa: E402

DT = torch.float64


def load(case_dir):
    cfg = json.load(open(os.path.join(case_dir, "config.json")))
    case = json.load(open(os.path.join(case_dir, "case.json")))
    W = {k: torch.from_numpy(v).to(DT) for k, v in read_safetensors(os.path.join(case_dir, "model.safetensors")).items()}
    ids = torch.tensor(case["ids"], dtype=torch.long)
    mask = torch.tensor(case["mask"], dtype=torch.long)
    return cfg, case, W, ids, mask


def positions(mask):
    return torch.clamp(torch.cumsum(mask, dim=-1) - 1, min=0)


def additive_mask(mask, causal, window=None):
    """[B, 1, T, T] float64: 0 where visible, finfo.min elsewhere (masking_utils' causal / sliding / padding)."""
    B, T = mask.shape
    q = torch.arange(T)[:, None]
    kv = torch.arange(T)[None, :]
    vis = torch.ones(T, T, dtype=torch.bool)
    if causal:
        vis = vis & (kv <= q)
    if window is not None:
        vis = vis & (kv > q - window)
    vis = vis[None, None] & mask[:, None, None, :].bool()
    return torch.where(vis, torch.zeros((), dtype=DT), torch.tensor(torch.finfo(DT).min, dtype=DT))


def rotate_half(x):
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2 :]
    return torch.cat((-x2, x1), dim=-1)


def rope_cos_sin(pos, dim, base):
    """Default rope: inv_freq = 1 / base^(arange(0, dim, 2) / dim), emb = cat(freqs, freqs)."""
    inv_freq = 1.0 / (base ** (torch.arange(0, dim, 2, dtype=DT) / dim))
    freqs = pos[..., None].to(DT) * inv_freq
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos(), emb.sin()


def apply_rotary_pos_emb(q, k, cos, sin):
    """Partial rotary as in modeling_gpt_neox / phi3: rotate the first cos.shape[-1] dims, pass the rest."""
    cos = cos.unsqueeze(1)
    sin = sin.unsqueeze(1)
    r = cos.shape[-1]
    q_rot, q_pass = q[..., :r], q[..., r:]
    k_rot, k_pass = k[..., :r], k[..., r:]
    q_embed = (q_rot * cos) + (rotate_half(q_rot) * sin)
    k_embed = (k_rot * cos) + (rotate_half(k_rot) * sin)
    return torch.cat([q_embed, q_pass], dim=-1), torch.cat([k_embed, k_pass], dim=-1)


def repeat_kv(x, n_rep):
    b, kv, t, hd = x.shape
    if n_rep == 1:
        return x
    return x[:, :, None, :, :].expand(b, kv, n_rep, t, hd).reshape(b, kv * n_rep, t, hd)


def eager_attention(q, k, v, amask, scaling, softcap=None):
    """q [B, H, T, hd], k / v [B, KV, T, hd] → output [B, T, H·hd], probabilities [B, H, T, T]."""
    n_rep = q.shape[1] // k.shape[1]
    k = repeat_kv(k, n_rep)
    v = repeat_kv(v, n_rep)
    w = torch.matmul(q, k.transpose(2, 3)) * scaling
    if softcap is not None:
        w = w / softcap
        w = torch.tanh(w)
        w = w * softcap
    w = w + amask
    p = F.softmax(w, dim=-1)
    out = torch.matmul(p, v).transpose(1, 2).contiguous()
    B, T = out.shape[0], out.shape[1]
    return out.reshape(B, T, -1), p


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


ACT = {"gelu": F.gelu, "gelu_new": gelu_tanh, "gelu_pytorch_tanh": gelu_tanh, "silu": F.silu, "relu": F.relu}


class Rec:
    def __init__(self):
        self.h = {}

    def __call__(self, name, x):
        self.h.setdefault(name, []).append(x.detach().clone())


def heads(x, B, T, n, hd):
    return x.view(B, T, n, hd).transpose(1, 2)


# ------------------------------------------------------------------------------------------------ families


def gpt_neox(cfg, W, ids, mask, rec):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hs = d // H
    eps = cfg["layer_norm_eps"]
    B, T = ids.shape
    cos, sin = rope_cos_sin(positions(mask), int(hs * cfg["rotary_pct"]), cfg["rotary_emb_base"])
    amask = additive_mask(mask, True)
    act = ACT[cfg["hidden_act"]]
    ln = lambda x, p: F.layer_norm(x, (d,), W[p + ".weight"], W[p + ".bias"], eps)
    lin = lambda x, p: F.linear(x, W[p + ".weight"], W.get(p + ".bias"))
    h = W["gpt_neox.embed_in.weight"][ids]
    hidden = []
    for l in range(cfg["num_hidden_layers"]):
        p = f"gpt_neox.layers.{l}"
        hidden.append(h)
        x = ln(h, p + ".input_layernorm")
        rec("ln1", x)
        qkv = lin(x, p + ".attention.query_key_value").view(B, T, -1, 3 * hs).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        rec("attn_v", v.transpose(1, 2).reshape(B, T, d))
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        a, pat = eager_attention(q, k, v, amask, hs ** -0.5)
        rec("attn_pattern", pat)
        attn_output = lin(a, p + ".attention.dense")
        rec("attn_out", attn_output)
        if cfg["use_parallel_residual"]:
            m = act(lin(ln(h, p + ".post_attention_layernorm"), p + ".mlp.dense_h_to_4h"))
            rec("mlp_post", m)
            mlp_output = lin(m, p + ".mlp.dense_4h_to_h")
            h = mlp_output + attn_output + h
        else:
            attn_output = attn_output + h
            m = act(lin(ln(attn_output, p + ".post_attention_layernorm"), p + ".mlp.dense_h_to_4h"))
            rec("mlp_post", m)
            mlp_output = lin(m, p + ".mlp.dense_4h_to_h")
            h = mlp_output + attn_output
        rec("mlp_out", mlp_output)
    h = ln(h, "gpt_neox.final_layer_norm")
    hidden.append(h)
    return hidden, F.linear(h, W["embed_out.weight"])


def gemma_rms(x, w, eps):
    # Gemma(2)RMSNorm: x * rsqrt(mean(x^2) + eps) * (1 + w)
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * (1.0 + w)


def gemma_family(cfg, W, ids, mask, rec, v2):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV, hd = cfg["num_key_value_heads"], cfg["head_dim"]
    eps = cfg["rms_norm_eps"]
    B, T = ids.shape
    L = cfg["num_hidden_layers"]
    cos, sin = rope_cos_sin(positions(mask), hd, cfg["rope_theta"])
    act = ACT[cfg.get("hidden_activation") or cfg["hidden_act"]]
    nrm = lambda x, p: gemma_rms(x, W[p + ".weight"], eps)
    lin = lambda x, p: F.linear(x, W[p + ".weight"], W.get(p + ".bias"))
    if v2:
        types = cfg.get("layer_types") or ["sliding_attention" if (i + 1) % 2 else "full_attention" for i in range(L)]
        scaling = cfg["query_pre_attn_scalar"] ** -0.5
        softcap = cfg.get("attn_logit_softcapping")
    else:
        types = ["full_attention"] * L
        scaling = hd ** -0.5
        softcap = None
    masks = {
        "full_attention": additive_mask(mask, True),
        "sliding_attention": additive_mask(mask, True, cfg.get("sliding_window")),
    }
    h = W["model.embed_tokens.weight"][ids]
    # normalizer in the dtype of an fp32 model (what the TypeScript reference mirrors)
    h = h * torch.tensor(d ** 0.5, dtype=torch.float32).to(DT)
    hidden = []
    for l in range(L):
        p = f"model.layers.{l}"
        hidden.append(h)
        residual = h
        x = nrm(h, p + ".input_layernorm")
        rec("ln1", x)
        q = heads(lin(x, p + ".self_attn.q_proj"), B, T, H, hd)
        k = heads(lin(x, p + ".self_attn.k_proj"), B, T, KV, hd)
        v = heads(lin(x, p + ".self_attn.v_proj"), B, T, KV, hd)
        rec("attn_v", v.transpose(1, 2).reshape(B, T, KV * hd))
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        a, pat = eager_attention(q, k, v, masks[types[l]], scaling, softcap)
        rec("attn_pattern", pat)
        a = lin(a, p + ".self_attn.o_proj")
        if v2:
            a = nrm(a, p + ".post_attention_layernorm")
        rec("attn_out", a)
        h = residual + a
        residual = h
        x = nrm(h, p + (".pre_feedforward_layernorm" if v2 else ".post_attention_layernorm"))
        m = act(lin(x, p + ".mlp.gate_proj")) * lin(x, p + ".mlp.up_proj")
        rec("mlp_post", m)
        m = lin(m, p + ".mlp.down_proj")
        if v2:
            m = nrm(m, p + ".post_feedforward_layernorm")
        rec("mlp_out", m)
        h = residual + m
    h = nrm(h, "model.norm")
    hidden.append(h)
    logits = F.linear(h, W["model.embed_tokens.weight"])
    cap = cfg.get("final_logit_softcapping") if v2 else None
    if cap is not None:
        logits = torch.tanh(logits / cap) * cap
    return hidden, logits


def rotate_every_two(x):
    x1 = x[:, :, :, ::2]
    x2 = x[:, :, :, 1::2]
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


def gptj(cfg, W, ids, mask, rec):
    d, H = cfg["n_embd"], cfg["n_head"]
    hd = d // H
    B, T = ids.shape
    rd = cfg.get("rotary_dim") or hd
    # create_sinusoidal_positions + gather by position id; sin / cos repeat_interleave'd (tensors [B, T, H, hd])
    inv_freq = 1.0 / (10000 ** (torch.arange(0, rd, 2, dtype=DT) / rd))
    sinusoid = positions(mask)[..., None].to(DT) * inv_freq
    sin = torch.repeat_interleave(torch.sin(sinusoid)[:, :, None, :], 2, 3)
    cos = torch.repeat_interleave(torch.cos(sinusoid)[:, :, None, :], 2, 3)

    def rot(t):
        r, ps = t[:, :, :, :rd], t[:, :, :, rd:]
        return torch.cat([r * cos + rotate_every_two(r) * sin, ps], dim=-1)

    amask = additive_mask(mask, True)
    act = ACT[cfg["activation_function"]]
    ln = lambda x, p: F.layer_norm(x, (d,), W[p + ".weight"], W[p + ".bias"], cfg["layer_norm_epsilon"])
    lin = lambda x, p: F.linear(x, W[p + ".weight"], W.get(p + ".bias"))
    h = W["transformer.wte.weight"][ids]
    hidden = []
    for l in range(cfg["n_layer"]):
        p = f"transformer.h.{l}"
        hidden.append(h)
        residual = h
        x = ln(h, p + ".ln_1")
        rec("ln1", x)
        q = rot(lin(x, p + ".attn.q_proj").view(B, T, H, hd)).permute(0, 2, 1, 3)
        k = rot(lin(x, p + ".attn.k_proj").view(B, T, H, hd)).permute(0, 2, 1, 3)
        vv = lin(x, p + ".attn.v_proj")
        rec("attn_v", vv)
        v = heads(vv, B, T, H, hd)
        a, pat = eager_attention(q, k, v, amask, 1.0 / math.sqrt(hd))
        rec("attn_pattern", pat)
        a = lin(a, p + ".attn.out_proj")
        rec("attn_out", a)
        m = act(lin(x, p + ".mlp.fc_in"))
        rec("mlp_post", m)
        m = lin(m, p + ".mlp.fc_out")
        rec("mlp_out", m)
        h = a + m + residual
    h = ln(h, "transformer.ln_f")
    hidden.append(h)
    return hidden, F.linear(h, W["lm_head.weight"], W["lm_head.bias"])


def phi3(cfg, W, ids, mask, rec):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    KV = cfg["num_key_value_heads"]
    hd = d // H
    B, T = ids.shape
    cos, sin = rope_cos_sin(positions(mask), int(hd * cfg.get("partial_rotary_factor", 1.0)), cfg["rope_theta"])
    amask = additive_mask(mask, True, cfg.get("sliding_window"))
    act = ACT[cfg["hidden_act"]]
    eps = cfg["rms_norm_eps"]
    nrm = lambda x, p: W[p + ".weight"] * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))
    lin = lambda x, p: F.linear(x, W[p + ".weight"])
    h = W["model.embed_tokens.weight"][ids]
    hidden = []
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}"
        hidden.append(h)
        residual = h
        x = nrm(h, p + ".input_layernorm")
        rec("ln1", x)
        qkv = lin(x, p + ".self_attn.qkv_proj")
        query_pos = H * hd
        q = heads(qkv[..., :query_pos], B, T, H, hd)
        k = heads(qkv[..., query_pos : query_pos + KV * hd], B, T, KV, hd)
        vv = qkv[..., query_pos + KV * hd :]
        rec("attn_v", vv)
        v = heads(vv, B, T, KV, hd)
        q, k = apply_rotary_pos_emb(q, k, cos, sin)
        a, pat = eager_attention(q, k, v, amask, hd ** -0.5)
        rec("attn_pattern", pat)
        a = lin(a, p + ".self_attn.o_proj")
        rec("attn_out", a)
        h = residual + a
        residual = h
        up_states = lin(nrm(h, p + ".post_attention_layernorm"), p + ".mlp.gate_up_proj")
        gate, up_states = up_states.chunk(2, dim=-1)
        up_states = up_states * act(gate)
        rec("mlp_post", up_states)
        m = lin(up_states, p + ".mlp.down_proj")
        rec("mlp_out", m)
        h = residual + m
    h = nrm(h, "model.norm")
    hidden.append(h)
    return hidden, F.linear(h, W["lm_head.weight"])


def opt(cfg, W, ids, mask, rec):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = d // H
    B, T = ids.shape
    P = "model.decoder."
    amask = additive_mask(mask, True)
    act = ACT[cfg["activation_function"]]
    ln = lambda x, p: F.layer_norm(x, (d,), W[p + ".weight"], W[p + ".bias"], 1e-5)
    lin = lambda x, p: F.linear(x, W[p + ".weight"], W.get(p + ".bias"))
    h = W[P + "embed_tokens.weight"][ids] + W[P + "embed_positions.weight"][positions(mask) + 2]
    hidden = []
    for l in range(cfg["num_hidden_layers"]):
        p = f"{P}layers.{l}"
        hidden.append(h)
        residual = h
        x = ln(h, p + ".self_attn_layer_norm")
        rec("ln1", x)
        q = heads(lin(x, p + ".self_attn.q_proj") * hd ** -0.5, B, T, H, hd)
        k = heads(lin(x, p + ".self_attn.k_proj"), B, T, H, hd)
        vv = lin(x, p + ".self_attn.v_proj")
        rec("attn_v", vv)
        a, pat = eager_attention(q, k, heads(vv, B, T, H, hd), amask, 1.0)
        rec("attn_pattern", pat)
        a = lin(a, p + ".self_attn.out_proj")
        rec("attn_out", a)
        h = residual + a
        residual = h
        m = act(lin(ln(h, p + ".final_layer_norm"), p + ".fc1"))
        rec("mlp_post", m)
        m = lin(m, p + ".fc2")
        rec("mlp_out", m)
        h = residual + m
    h = ln(h, P + "final_layer_norm")
    hidden.append(h)
    return hidden, F.linear(h, W[P + "embed_tokens.weight"])


def gpt_neo(cfg, W, ids, mask, rec):
    d, H = cfg["hidden_size"], cfg["num_heads"]
    hd = d // H
    B, T = ids.shape
    act = ACT[cfg["activation_function"]]
    ln = lambda x, p: F.layer_norm(x, (d,), W[p + ".weight"], W[p + ".bias"], cfg["layer_norm_epsilon"])
    lin = lambda x, p: F.linear(x, W[p + ".weight"], W.get(p + ".bias"))
    masks = {"global": additive_mask(mask, True), "local": additive_mask(mask, True, cfg["window_size"])}
    h = W["transformer.wte.weight"][ids] + W["transformer.wpe.weight"][positions(mask)]
    hidden = []
    for l in range(cfg["num_layers"]):
        p = f"transformer.h.{l}"
        hidden.append(h)
        residual = h
        x = ln(h, p + ".ln_1")
        rec("ln1", x)
        at = p + ".attn.attention"
        vv = lin(x, at + ".v_proj")
        rec("attn_v", vv)
        # GPTNeoSelfAttention: no scaling of q·k
        a, pat = eager_attention(heads(lin(x, at + ".q_proj"), B, T, H, hd), heads(lin(x, at + ".k_proj"), B, T, H, hd),
                                 heads(vv, B, T, H, hd), masks[cfg["attention_layers"][l]], 1.0)
        rec("attn_pattern", pat)
        a = lin(a, at + ".out_proj")
        rec("attn_out", a)
        h = residual + a
        residual = h
        m = act(lin(ln(h, p + ".ln_2"), p + ".mlp.c_fc"))
        rec("mlp_post", m)
        m = lin(m, p + ".mlp.c_proj")
        rec("mlp_out", m)
        h = residual + m
    h = ln(h, "transformer.ln_f")
    hidden.append(h)
    return hidden, F.linear(h, W["transformer.wte.weight"])


def roberta(cfg, W, ids, mask, rec):
    d, H = cfg["hidden_size"], cfg["num_attention_heads"]
    hd = d // H
    B, T = ids.shape
    eps = cfg["layer_norm_eps"]
    act = ACT[cfg["hidden_act"]]
    ln = lambda x, p: F.layer_norm(x, (d,), W[p + ".weight"], W[p + ".bias"], eps)
    lin = lambda x, p: F.linear(x, W[p + ".weight"], W.get(p + ".bias"))
    P = "roberta."
    pos = positions(mask) + cfg["pad_token_id"] + 1
    e = W[P + "embeddings.word_embeddings.weight"][ids] + W[P + "embeddings.position_embeddings.weight"][pos]
    e = e + W[P + "embeddings.token_type_embeddings.weight"][torch.zeros_like(ids)]
    h = ln(e, P + "embeddings.LayerNorm")
    amask = additive_mask(mask, False)
    hidden = [h]
    for l in range(cfg["num_hidden_layers"]):
        p = f"{P}encoder.layer.{l}"
        s = p + ".attention.self"
        vv = lin(h, s + ".value")
        rec("attn_v", vv)
        a, pat = eager_attention(heads(lin(h, s + ".query"), B, T, H, hd), heads(lin(h, s + ".key"), B, T, H, hd),
                                 heads(vv, B, T, H, hd), amask, 1.0 / math.sqrt(hd))
        rec("attn_pattern", pat)
        a = lin(a, p + ".attention.output.dense")
        rec("attn_out", a)
        a = ln(a + h, p + ".attention.output.LayerNorm")
        rec("ln1", a)
        m = act(lin(a, p + ".intermediate.dense"))
        rec("mlp_post", m)
        m = lin(m, p + ".output.dense")
        rec("mlp_out", m)
        h = ln(m + a, p + ".output.LayerNorm")
        hidden.append(h)
    x = F.layer_norm(F.gelu(lin(h, "lm_head.dense")), (d,), W["lm_head.layer_norm.weight"], W["lm_head.layer_norm.bias"], eps)
    return hidden, F.linear(x, W[P + "embeddings.word_embeddings.weight"], W["lm_head.bias"])


FAMILIES = {
    "gpt_neox": gpt_neox,
    "gemma": lambda *a: gemma_family(*a, v2=False),
    "gemma2": lambda *a: gemma_family(*a, v2=True),
    "gptj": gptj,
    "phi3": phi3,
    "opt": opt,
    "gpt_neo": gpt_neo,
    "roberta": roberta,
}


def main():
    case_dir, out_dir = sys.argv[1], sys.argv[2]
    cfg, case, W, ids, mask = load(case_dir)
    rec = Rec()
    with torch.no_grad():
        hidden, logits = FAMILIES[case["family"]](cfg, W, ids, mask, rec)
    os.makedirs(out_dir, exist_ok=True)
    np.save(os.path.join(out_dir, "hidden.npy"), torch.stack(hidden).numpy())
    if logits is not None:
        np.save(os.path.join(out_dir, "logits.npy"), logits.numpy())
    for name, xs in rec.h.items():
        np.save(os.path.join(out_dir, f"{name}.npy"), torch.stack(xs).numpy())


if __name__ == "__main__":
    main()
