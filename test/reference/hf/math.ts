/**
 * Small float64 numeric pieces of the independent Hugging Face references (test/reference/hf/forward-*.ts).
 * Written from torch / transformers semantics with plain loops; nothing here is imported from src/.
 *
 * Layout: a batch of activations is one row-major Float64Array of N = B·T rows (row b·T + t).
 */

export type F64 = Float64Array;

/** nn.Linear: y = x·Wᵀ + b with W stored [out, in]. */
export function linear(x: F64, inDim: number, W: F64, b: F64 | undefined, out: number): F64 {
  const N = x.length / inDim;
  if (W.length !== out * inDim) throw new Error(`linear: weight has ${W.length} values, expected ${out}×${inDim}`);
  const y = new Float64Array(N * out);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inDim; i++) s += x[n * inDim + i]! * W[o * inDim + i]!;
      y[n * out + o] = s;
    }
  }
  return y;
}

/** GPT-2's Conv1D: y = x·W + b with W stored [in, out]. */
export function conv1d(x: F64, inDim: number, W: F64, b: F64 | undefined, out: number): F64 {
  const N = x.length / inDim;
  if (W.length !== out * inDim) throw new Error(`conv1d: weight has ${W.length} values, expected ${inDim}×${out}`);
  const y = new Float64Array(N * out);
  for (let n = 0; n < N; n++) {
    for (let o = 0; o < out; o++) {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < inDim; i++) s += x[n * inDim + i]! * W[i * out + o]!;
      y[n * out + o] = s;
    }
  }
  return y;
}

/** torch.nn.LayerNorm over the last axis (biased variance); `b` absent = no bias. */
export function layerNorm(x: F64, d: number, w: F64, b: F64 | undefined, eps: number): F64 {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let mean = 0;
    for (let i = 0; i < d; i++) mean += x[r * d + i]!;
    mean /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[r * d + i]! - mean) ** 2;
    const inv = 1 / Math.sqrt(v / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = (x[r * d + i]! - mean) * inv * w[i]! + (b ? b[i]! : 0);
  }
  return y;
}

/** RMSNorm: x / √(mean(x²) + eps) · (w + offset); offset 1 for Gemma's (1 + w). */
export function rmsNorm(x: F64, d: number, w: F64, eps: number, offset = 0): F64 {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / d; r++) {
    let ms = 0;
    for (let i = 0; i < d; i++) ms += x[r * d + i]! ** 2;
    const inv = 1 / Math.sqrt(ms / d + eps);
    for (let i = 0; i < d; i++) y[r * d + i] = x[r * d + i]! * inv * (w[i]! + offset);
  }
  return y;
}

/**
 * erf to ~1e-15: Maclaurin series for |x| < 3 (terms stay below e^9, so ~1e-12 absolute at worst), Lentz-free
 * backward continued fraction of erfc for larger |x|. Precise enough to compare against torch in float64.
 */
export function erf(x: number): number {
  const z = Math.abs(x);
  if (z < 3) {
    let term = z, sum = z;
    for (let n = 1; n < 200; n++) {
      term *= (-z * z) / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    const r = (2 / Math.sqrt(Math.PI)) * sum;
    return x < 0 ? -r : r;
  }
  // erfc(z) = exp(-z²)/√π · 1/(z + (1/2)/(z + 1/(z + (3/2)/(z + 2/(z + …)))))
  let f = z;
  for (let k = 80; k >= 1; k--) f = z + k / 2 / f;
  const erfc = Math.exp(-z * z) / Math.sqrt(Math.PI) / f;
  return x < 0 ? erfc - 1 : 1 - erfc;
}

/** HF ACT2FN names → scalar function. */
export function activation(name: string): (x: number) => number {
  switch (name) {
    case 'gelu':
      return (x) => 0.5 * x * (1 + erf(x / Math.SQRT2));
    case 'gelu_new':
    case 'gelu_pytorch_tanh':
    case 'gelu_fast':
      return (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
    case 'silu':
    case 'swish':
      return (x) => x / (1 + Math.exp(-x));
    case 'relu':
      return (x) => Math.max(0, x);
    default:
      throw new Error(`reference: activation '${name}' is not implemented`);
  }
}

export function mapInPlace(x: F64, f: (v: number) => number): F64 {
  for (let i = 0; i < x.length; i++) x[i] = f(x[i]!);
  return x;
}

export function add(...xs: F64[]): F64 {
  const y = new Float64Array(xs[0]!.length);
  for (const x of xs) for (let i = 0; i < y.length; i++) y[i]! += x[i]!;
  return y;
}

/** Columns [start, start + count) of an [N, cols] matrix. */
export function sliceCols(x: F64, cols: number, start: number, count: number): F64 {
  const N = x.length / cols;
  const y = new Float64Array(N * count);
  for (let n = 0; n < N; n++) for (let i = 0; i < count; i++) y[n * count + i] = x[n * cols + start + i]!;
  return y;
}

/** The project's position ids: cumsum(mask) − 1 clamped at 0, per text; [B·T]. */
export function maskPositions(mask: number[][]): number[] {
  const pos: number[] = [];
  for (const row of mask) {
    let c = 0;
    for (const m of row) {
      c += m ? 1 : 0;
      pos.push(Math.max(c - 1, 0));
    }
  }
  return pos;
}

export interface AttentionArgs {
  B: number;
  T: number;
  nHead: number;
  nKv: number;
  headDim: number;
  /** q [B·T, nHead·hd], k / v [B·T, nKv·hd] (already rotated). */
  q: F64;
  k: F64;
  v: F64;
  /** Multiplies q·k. */
  scale: number;
  causal: boolean;
  /** Key j visible to query i only if i − j < window. */
  window?: number;
  /** scores ← cap·tanh(scores / cap) before masking. */
  softcap?: number;
  mask: number[][];
}

/**
 * Eager scaled-dot-product attention with repeat_kv (query head h reads kv head ⌊h / (nHead/nKv)⌋). Masked keys
 * get probability exactly 0; a query with no visible key (a left pad) gets an all-zero row and a zero output.
 * Returns the head-concatenated output [B·T, nHead·hd] and the probabilities [B, nHead, T, T].
 */
export function attention(a: AttentionArgs): { out: F64; pattern: F64 } {
  const { B, T, nHead, nKv, headDim: hd, q, k, v } = a;
  const rep = nHead / nKv;
  if (!Number.isInteger(rep)) throw new Error(`attention: ${nHead} heads do not divide into ${nKv} kv heads`);
  const qc = nHead * hd, kc = nKv * hd;
  const out = new Float64Array(B * T * qc);
  const pattern = new Float64Array(B * nHead * T * T);
  const s = new Float64Array(T);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < nHead; h++) {
      const g = Math.floor(h / rep);
      for (let i = 0; i < T; i++) {
        let max = -Infinity;
        const vis: boolean[] = [];
        for (let j = 0; j < T; j++) {
          vis[j] = !!a.mask[b]![j] && (!a.causal || j <= i) && (a.window === undefined || i - j < a.window);
          if (!vis[j]) continue;
          let dot = 0;
          for (let e = 0; e < hd; e++) dot += q[(b * T + i) * qc + h * hd + e]! * k[(b * T + j) * kc + g * hd + e]!;
          let sc = dot * a.scale;
          if (a.softcap !== undefined) sc = a.softcap * Math.tanh(sc / a.softcap);
          s[j] = sc;
          if (sc > max) max = sc;
        }
        if (max === -Infinity) continue;
        let z = 0;
        for (let j = 0; j < T; j++) if (vis[j]) z += s[j] = Math.exp(s[j]! - max);
        for (let j = 0; j < T; j++) {
          if (!vis[j]) continue;
          const p = s[j]! / z;
          pattern[((b * nHead + h) * T + i) * T + j] = p;
          for (let e = 0; e < hd; e++) out[(b * T + i) * qc + h * hd + e]! += p * v[(b * T + j) * kc + g * hd + e]!;
        }
      }
    }
  }
  return { out, pattern };
}

/** Each text's last real token's row of the pattern: [B, nHead, T]. */
export function lastRow(pattern: F64, mask: number[][], nHead: number, T: number): F64 {
  const B = mask.length;
  const y = new Float64Array(B * nHead * T);
  for (let b = 0; b < B; b++) {
    let last = 0;
    mask[b]!.forEach((m, t) => { if (m) last = t; });
    for (let h = 0; h < nHead; h++) {
      for (let j = 0; j < T; j++) y[(b * nHead + h) * T + j] = pattern[((b * nHead + h) * T + last) * T + j]!;
    }
  }
  return y;
}

// ---------------------------------------------------------------------------------------------------------
// Rotary embeddings (transformers modeling_rope_utils.py + each family's apply_rotary_pos_emb)

/** `rope_scaling` as config.json writes it ('type' in old files, 'rope_type' in new ones). */
export type RopeScalingJson = Record<string, unknown> | null | undefined;

/**
 * inv_freq[e], e < dims/2, for a batch whose largest position id is `maxPos` (dynamic / longrope depend on it),
 * and the attention factor that multiplies cos and sin (1 except longrope).
 */
export function ropeInvFreq(
  dims: number, base: number, scaling: RopeScalingJson, maxPositionEmbeddings: number, maxPos: number,
  originalMaxPositionEmbeddings?: number,
): { invFreq: number[]; attentionFactor: number } {
  const type = scaling ? String(scaling.rope_type ?? scaling.type ?? 'default') : 'default';
  const half = dims / 2;
  const plain = (b: number): number[] => Array.from({ length: half }, (_, e) => 1 / Math.pow(b, (2 * e) / dims));
  const seqLen = maxPos + 1;
  const num = (k: string): number => {
    const v = scaling?.[k];
    if (typeof v !== 'number') throw new Error(`reference: rope_scaling.${k} missing`);
    return v;
  };
  switch (type) {
    case 'default':
      return { invFreq: plain(base), attentionFactor: 1 };
    case 'linear':
      return { invFreq: plain(base).map((f) => f / num('factor')), attentionFactor: 1 };
    case 'dynamic': {
      // HF dynamic NTK: the base grows once max(position_ids) + 1 exceeds config.max_position_embeddings.
      const factor = num('factor');
      const L = Math.max(seqLen, maxPositionEmbeddings);
      const b = base * Math.pow((factor * L) / maxPositionEmbeddings - (factor - 1), dims / (dims - 2));
      return { invFreq: plain(b), attentionFactor: 1 };
    }
    case 'llama3': {
      const factor = num('factor'), lo = num('low_freq_factor'), hi = num('high_freq_factor');
      const old = num('original_max_position_embeddings');
      const loWave = old / lo, hiWave = old / hi;
      return {
        invFreq: plain(base).map((f) => {
          const wave = (2 * Math.PI) / f;
          if (wave < hiWave) return f;
          if (wave > loWave) return f / factor;
          const smooth = (old / wave - lo) / (hi - lo);
          return ((1 - smooth) * f) / factor + smooth * f;
        }),
        attentionFactor: 1,
      };
    }
    case 'longrope': {
      const short = scaling!.short_factor as number[], long = scaling!.long_factor as number[];
      let factor = typeof scaling!.factor === 'number' ? scaling!.factor : 1;
      let orig = maxPositionEmbeddings;
      if (originalMaxPositionEmbeddings) {
        orig = originalMaxPositionEmbeddings;
        factor = maxPositionEmbeddings / originalMaxPositionEmbeddings;
      }
      let att = typeof scaling!.attention_factor === 'number' ? scaling!.attention_factor : undefined;
      if (att === undefined) att = factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(orig));
      const ext = seqLen > orig ? long : short;
      return { invFreq: plain(base).map((f, e) => f / ext[e]!), attentionFactor: att };
    }
    default:
      throw new Error(`reference: rope_scaling type '${type}' is not implemented`);
  }
}

/**
 * Rotates the first `dims` dimensions of every head of x [B·T, nHeads·hd] by angle pos·invFreq[e]:
 * 'half' (rotate_half): dimension e pairs with e + dims/2; 'interleaved' (GPT-J rotate_every_two): 2e with 2e+1.
 * cos and sin are multiplied by `attentionFactor` (as HF does), so a factor ≠ 1 scales the rotated part only.
 */
export function applyRotary(
  x: F64, nHeads: number, hd: number, positions: number[], dims: number, invFreq: number[],
  style: 'half' | 'interleaved', attentionFactor = 1,
): F64 {
  const y = Float64Array.from(x);
  const cols = nHeads * hd, half = dims / 2;
  for (let n = 0; n < positions.length; n++) {
    for (let e = 0; e < half; e++) {
      const ang = positions[n]! * invFreq[e]!;
      const c = Math.cos(ang) * attentionFactor, s = Math.sin(ang) * attentionFactor;
      for (let h = 0; h < nHeads; h++) {
        const o = n * cols + h * hd;
        const i1 = style === 'half' ? o + e : o + 2 * e;
        const i2 = style === 'half' ? o + e + half : o + 2 * e + 1;
        const a = x[i1]!, b = x[i2]!;
        y[i1] = a * c - b * s;
        y[i2] = b * c + a * s;
      }
    }
  }
  return y;
}
