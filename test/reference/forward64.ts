/**
 * Independent float64 reference forward pass for GPT-2 and the Llama family, written for clarity with plain
 * loops. It shares NO code with the runtime (src/model/graph-*.ts): every formula is re-derived here from the
 * Hugging Face transformers modelling code, one sequence at a time, without padding.
 *
 * Returns what `model(ids, output_hidden_states=True)` returns in transformers: hidden[0] = embeddings,
 * hidden[i] = output of block i for i < nLayer, hidden[nLayer] = final norm applied to the output of the last
 * block; plus the post-nonlinearity MLP activations of every block and logits = lm_head(hidden[nLayer]).
 */
import type { ModelConfig } from '../../src/model/config.ts';
import type { F32Tensor } from '../../src/model/tensor.ts';

export interface ReferenceWeights {
  config: ModelConfig;
  tensor(name: string): F32Tensor;
}

export interface ReferenceOutput {
  /** nLayer+1 arrays, each [T, d] row-major. */
  hidden: Float64Array[];
  /** nLayer arrays, each [T, dFF]. */
  mlp: Float64Array[];
  /** [T, V]. */
  logits: Float64Array;
}

type Mat = { rows: number; cols: number; data: Float64Array };

function get(w: ReferenceWeights, name: string): Float64Array {
  return Float64Array.from(w.tensor(name).data);
}

/** y[t] = x[t] · W + b, where W is stored [in, out] (HF Conv1D). */
function linearInOut(x: Mat, W: Float64Array, b: Float64Array | undefined, out: number): Mat {
  const y = new Float64Array(x.rows * out);
  for (let t = 0; t < x.rows; t++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < x.cols; i++) s += x.data[t * x.cols + i]! * W[i * out + o]!;
      y[t * out + o] = s;
    }
  }
  return { rows: x.rows, cols: out, data: y };
}

/** y[t] = x[t] · Wᵀ + b, where W is stored [out, in] (nn.Linear). */
function linearOutIn(x: Mat, W: Float64Array, b: Float64Array | undefined, out: number): Mat {
  const y = new Float64Array(x.rows * out);
  for (let t = 0; t < x.rows; t++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < x.cols; i++) s += x.data[t * x.cols + i]! * W[o * x.cols + i]!;
      y[t * out + o] = s;
    }
  }
  return { rows: x.rows, cols: out, data: y };
}

function layerNorm(x: Mat, g: Float64Array, b: Float64Array, eps: number): Mat {
  const y = new Float64Array(x.data.length);
  for (let t = 0; t < x.rows; t++) {
    let mean = 0;
    for (let i = 0; i < x.cols; i++) mean += x.data[t * x.cols + i]!;
    mean /= x.cols;
    let v = 0;
    for (let i = 0; i < x.cols; i++) v += (x.data[t * x.cols + i]! - mean) ** 2;
    v /= x.cols; // biased variance, as torch.nn.LayerNorm
    const inv = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < x.cols; i++) y[t * x.cols + i] = (x.data[t * x.cols + i]! - mean) * inv * g[i]! + b[i]!;
  }
  return { rows: x.rows, cols: x.cols, data: y };
}

function rmsNorm(x: Mat, g: Float64Array, eps: number): Mat {
  const y = new Float64Array(x.data.length);
  for (let t = 0; t < x.rows; t++) {
    let ms = 0;
    for (let i = 0; i < x.cols; i++) ms += x.data[t * x.cols + i]! ** 2;
    ms /= x.cols;
    const inv = 1 / Math.sqrt(ms + eps);
    for (let i = 0; i < x.cols; i++) y[t * x.cols + i] = x.data[t * x.cols + i]! * inv * g[i]!;
  }
  return { rows: x.rows, cols: x.cols, data: y };
}

/** erf with |error| < 1.2e-7 (Numerical Recipes erfc Chebyshev fit), enough for the 1e-4 tolerance. */
function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z - 1.26551223 +
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
        t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? 1 - r : r - 1;
}

function activation(kind: ModelConfig['activation'], x: number): number {
  switch (kind) {
    case 'gelu_new':
      return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'gelu':
      return 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'silu':
      return x / (1 + Math.exp(-x));
    case 'relu':
      return Math.max(0, x);
  }
}

/**
 * Causal multi-head attention for one sequence. q: [T, nHead*hd], k/v: [T, nKv*hd]; query head h reads
 * key/value head floor(h / (nHead/nKv)) (HF repeat_kv).
 */
function attention(q: Mat, k: Mat, v: Mat, nHead: number, nKv: number, hd: number): Mat {
  const T = q.rows;
  const rep = nHead / nKv;
  const out = new Float64Array(T * nHead * hd);
  const scale = 1 / Math.sqrt(hd);
  for (let h = 0; h < nHead; h++) {
    const kvh = Math.floor(h / rep);
    for (let i = 0; i < T; i++) {
      const scores = new Float64Array(i + 1);
      let max = -Infinity;
      for (let j = 0; j <= i; j++) {
        let s = 0;
        for (let e = 0; e < hd; e++) s += q.data[i * q.cols + h * hd + e]! * k.data[j * k.cols + kvh * hd + e]!;
        scores[j] = s * scale;
        max = Math.max(max, scores[j]!);
      }
      let z = 0;
      for (let j = 0; j <= i; j++) {
        scores[j] = Math.exp(scores[j]! - max);
        z += scores[j]!;
      }
      for (let j = 0; j <= i; j++) {
        const p = scores[j]! / z;
        for (let e = 0; e < hd; e++) out[i * nHead * hd + h * hd + e]! += p * v.data[j * v.cols + kvh * hd + e]!;
      }
    }
  }
  return { rows: T, cols: nHead * hd, data: out };
}

/** HF rotary embedding, rotate_half convention: pairs (e, e + hd/2) rotate by angle pos * theta^(-2e/hd). */
function rope(x: Mat, nHeads: number, hd: number, theta: number): Mat {
  const y = new Float64Array(x.data.length);
  const half = hd / 2;
  for (let t = 0; t < x.rows; t++) {
    for (let h = 0; h < nHeads; h++) {
      const base = t * x.cols + h * hd;
      for (let e = 0; e < half; e++) {
        const angle = t * Math.pow(theta, (-2 * e) / hd);
        const c = Math.cos(angle), s = Math.sin(angle);
        const a = x.data[base + e]!, b = x.data[base + e + half]!;
        y[base + e] = a * c - b * s;
        y[base + e + half] = b * c + a * s;
      }
    }
  }
  return { rows: x.rows, cols: x.cols, data: y };
}

function addInPlace(h: Mat, a: Mat): void {
  for (let i = 0; i < h.data.length; i++) h.data[i]! += a.data[i]!;
}

function copy(m: Mat): Float64Array {
  return Float64Array.from(m.data);
}

export function referenceForward(w: ReferenceWeights, ids: number[]): ReferenceOutput {
  if (w.config.architecture === 'bert') return referenceForwardBert(w, ids);
  return w.config.architecture === 'gpt2' ? gpt2(w, ids) : llama(w, ids);
}

/**
 * BERT (HF BertModel, eager attention): positions arange(T), token types all 0, post-LN blocks, exact erf GELU,
 * LayerNorm eps from the config. `mask` (1 = real token) masks padded KEYS only, as HF's extended attention
 * mask does (padded queries still attend to every real key). Returns hidden[0] = LayerNorm(embeddings),
 * hidden[i] = output of layer i (no final norm), mlp = GELU(intermediate) of every layer, logits empty.
 */
export function referenceForwardBert(w: ReferenceWeights, ids: number[], mask: number[] = ids.map(() => 1)): ReferenceOutput {
  const c = w.config;
  const d = c.dModel, T = ids.length, H = c.nHead, hd = c.headDim;
  const word = get(w, 'embeddings.word_embeddings.weight');
  const pos = get(w, 'embeddings.position_embeddings.weight');
  const types = (c.typeVocabSize ?? 0) > 0 ? get(w, 'embeddings.token_type_embeddings.weight') : new Float64Array(d);
  const e: Mat = { rows: T, cols: d, data: new Float64Array(T * d) };
  for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) e.data[t * d + i] = word[ids[t]! * d + i]! + pos[t * d + i]! + types[i]!;
  const ln = (x: Mat, prefix: string): Mat => layerNorm(x, get(w, `${prefix}.weight`), get(w, `${prefix}.bias`), c.normEps);
  const dense = (x: Mat, prefix: string, out: number): Mat => linearOutIn(x, get(w, `${prefix}.weight`), get(w, `${prefix}.bias`), out);
  let h = ln(e, 'embeddings.LayerNorm');
  const hidden = [copy(h)];
  const mlp: Float64Array[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `encoder.layer.${l}`;
    const q = dense(h, `${p}.attention.self.query`, d);
    const k = dense(h, `${p}.attention.self.key`, d);
    const v = dense(h, `${p}.attention.self.value`, d);
    const att = new Float64Array(T * d);
    for (let head = 0; head < H; head++) {
      for (let i = 0; i < T; i++) {
        const scores = new Float64Array(T);
        let max = -Infinity;
        for (let j = 0; j < T; j++) {
          if (!mask[j]) continue;
          let s = 0;
          for (let x = 0; x < hd; x++) s += q.data[i * d + head * hd + x]! * k.data[j * d + head * hd + x]!;
          scores[j] = s / Math.sqrt(hd);
          max = Math.max(max, scores[j]!);
        }
        let z = 0;
        for (let j = 0; j < T; j++) if (mask[j]) z += (scores[j] = Math.exp(scores[j]! - max));
        for (let j = 0; j < T; j++) {
          if (!mask[j]) continue;
          for (let x = 0; x < hd; x++) att[i * d + head * hd + x]! += (scores[j]! / z) * v.data[j * d + head * hd + x]!;
        }
      }
    }
    const a = dense({ rows: T, cols: d, data: att }, `${p}.attention.output.dense`, d);
    addInPlace(a, h);
    const a2 = ln(a, `${p}.attention.output.LayerNorm`);
    const f = dense(a2, `${p}.intermediate.dense`, c.dFF);
    for (let i = 0; i < f.data.length; i++) f.data[i] = activation(c.activation, f.data[i]!);
    mlp.push(copy(f));
    const o = dense(f, `${p}.output.dense`, d);
    addInPlace(o, a2);
    h = ln(o, `${p}.output.LayerNorm`);
    hidden.push(copy(h));
  }
  return { hidden, mlp, logits: new Float64Array(0) };
}

function gpt2(w: ReferenceWeights, ids: number[]): ReferenceOutput {
  const c = w.config;
  const d = c.dModel, T = ids.length;
  const wte = get(w, 'wte.weight'), wpe = get(w, 'wpe.weight');
  const h: Mat = { rows: T, cols: d, data: new Float64Array(T * d) };
  for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) h.data[t * d + i] = wte[ids[t]! * d + i]! + wpe[t * d + i]!;
  const hidden = [copy(h)];
  const mlp: Float64Array[] = [];
  for (let l = 0; l < c.nLayer; l++) {
    const p = `h.${l}.`;
    const x = layerNorm(h, get(w, `${p}ln_1.weight`), get(w, `${p}ln_1.bias`), c.normEps);
    const qkv = linearInOut(x, get(w, `${p}attn.c_attn.weight`), get(w, `${p}attn.c_attn.bias`), 3 * d);
    const part = (k: number): Mat => {
      const m = new Float64Array(T * d);
      for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) m[t * d + i] = qkv.data[t * 3 * d + k * d + i]!;
      return { rows: T, cols: d, data: m };
    };
    const att = attention(part(0), part(1), part(2), c.nHead, c.nHead, c.headDim);
    addInPlace(h, linearInOut(att, get(w, `${p}attn.c_proj.weight`), get(w, `${p}attn.c_proj.bias`), d));
    const x2 = layerNorm(h, get(w, `${p}ln_2.weight`), get(w, `${p}ln_2.bias`), c.normEps);
    const f = linearInOut(x2, get(w, `${p}mlp.c_fc.weight`), get(w, `${p}mlp.c_fc.bias`), c.dFF);
    for (let i = 0; i < f.data.length; i++) f.data[i] = activation(c.activation, f.data[i]!);
    mlp.push(copy(f));
    addInPlace(h, linearInOut(f, get(w, `${p}mlp.c_proj.weight`), get(w, `${p}mlp.c_proj.bias`), d));
    hidden.push(copy(h));
  }
  const last = layerNorm(h, get(w, 'ln_f.weight'), get(w, 'ln_f.bias'), c.normEps);
  hidden[c.nLayer] = copy(last);
  const logits = linearOutIn(last, get(w, 'lm_head.weight'), undefined, c.vocabSize);
  return { hidden, mlp, logits: logits.data };
}

function llama(w: ReferenceWeights, ids: number[]): ReferenceOutput {
  const c = w.config;
  const d = c.dModel, T = ids.length, hd = c.headDim;
  const emb = get(w, 'embed_tokens.weight');
  const h: Mat = { rows: T, cols: d, data: new Float64Array(T * d) };
  for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) h.data[t * d + i] = emb[ids[t]! * d + i]!;
  const hidden = [copy(h)];
  const mlp: Float64Array[] = [];
  const opt = (name: string): Float64Array | undefined => (c.qkvBias ? get(w, name) : undefined);
  for (let l = 0; l < c.nLayer; l++) {
    const p = `layers.${l}.`;
    const x = rmsNorm(h, get(w, `${p}input_layernorm.weight`), c.normEps);
    let q = linearOutIn(x, get(w, `${p}self_attn.q_proj.weight`), opt(`${p}self_attn.q_proj.bias`), c.nHead * hd);
    let k = linearOutIn(x, get(w, `${p}self_attn.k_proj.weight`), opt(`${p}self_attn.k_proj.bias`), c.nKvHead * hd);
    const v = linearOutIn(x, get(w, `${p}self_attn.v_proj.weight`), opt(`${p}self_attn.v_proj.bias`), c.nKvHead * hd);
    q = rope(q, c.nHead, hd, c.ropeTheta);
    k = rope(k, c.nKvHead, hd, c.ropeTheta);
    const att = attention(q, k, v, c.nHead, c.nKvHead, hd);
    const oBias = c.attnOutBias ? get(w, `${p}self_attn.o_proj.bias`) : undefined;
    addInPlace(h, linearOutIn(att, get(w, `${p}self_attn.o_proj.weight`), oBias, d));
    const x2 = rmsNorm(h, get(w, `${p}post_attention_layernorm.weight`), c.normEps);
    const mb = (name: string): Float64Array | undefined => (c.mlpBias ? get(w, `${p}mlp.${name}.bias`) : undefined);
    const gate = linearOutIn(x2, get(w, `${p}mlp.gate_proj.weight`), mb('gate_proj'), c.dFF);
    const up = linearOutIn(x2, get(w, `${p}mlp.up_proj.weight`), mb('up_proj'), c.dFF);
    const a = new Float64Array(T * c.dFF);
    for (let i = 0; i < a.length; i++) a[i] = activation(c.activation, gate.data[i]!) * up.data[i]!;
    mlp.push(Float64Array.from(a));
    addInPlace(h, linearOutIn({ rows: T, cols: c.dFF, data: a }, get(w, `${p}mlp.down_proj.weight`), mb('down_proj'), d));
    hidden.push(copy(h));
  }
  const last = rmsNorm(h, get(w, 'norm.weight'), c.normEps);
  hidden[c.nLayer] = copy(last);
  const logits = linearOutIn(last, get(w, 'lm_head.weight'), undefined, c.vocabSize);
  return { hidden, mlp, logits: logits.data };
}
