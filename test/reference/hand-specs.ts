/**
 * Hand-written ModelSpecs that exercise every feature of the spec (test helper), and random parameters for
 * them under canonical names. Until every architecture family has its module, these are how the gradient
 * engine and the Fisher tail are checked on parallel / post residuals, partial and interleaved rotary,
 * rope scaling, soft-caps, windows, sandwich and offset norms, MQA, learned positions with an offset, …
 */
import { canonicalWeightShapes, W, type BlockSpec, type ModelSpec, type NormSpec, type WeightRecipe } from '../../src/model/spec.ts';
import { mulberry32 } from '../../src/model/tiny-checkpoint.ts';
import { ParamStore, type ParamTensor } from '../../src/params/param-store.ts';

const ln = (bias = true): NormSpec => ({ kind: 'layernorm', eps: 1e-5, bias, weightOffset: 0 });
const rms = (offset = 0): NormSpec => ({ kind: 'rmsnorm', eps: 1e-6, bias: false, weightOffset: offset });

function model(name: string, d: number, nLayer: number, block: (l: number) => BlockSpec, rest: Partial<ModelSpec>): ModelSpec {
  return {
    family: name, modelType: name, nLayer, dModel: d, vocabSize: 23, maxPositions: 32,
    embed: { scale: 1, tokenTypes: 0 },
    blocks: Array.from({ length: nLayer }, (_, l) => block(l)),
    finalNorm: ln(),
    unembed: { tied: false, bias: false },
    ...rest,
  };
}

/** name → spec; each one turns on a different set of features. */
export const HAND_SPECS: Record<string, ModelSpec> = {
  // GPT-J / Phi-2 style: one shared norm, parallel attention + MLP, partial interleaved rotary, erf GELU, b_U
  'parallel-shared-norm': model('parallel-shared-norm', 16, 2, () => ({
    residual: 'parallel', ln1: ln(),
    attn: { nHead: 4, nKvHead: 2, headDim: 4, scale: 0.5, qkvBias: false, outBias: true, causal: true, rotary: { dims: 2, base: 10000, style: 'interleaved', scaling: { type: 'none' } } },
    mlp: { gated: false, activation: 'gelu', dFF: 24, bias: true },
  }), { unembed: { tied: false, bias: true } }),
  // GPT-NeoX style: two norms, parallel, partial half-split rotary with dynamic NTK scaling active (short original context)
  'parallel-two-norms': model('parallel-two-norms', 16, 2, () => ({
    residual: 'parallel', ln1: ln(), ln2: ln(),
    attn: { nHead: 2, nKvHead: 2, headDim: 8, scale: 1 / Math.sqrt(8), qkvBias: true, outBias: true, causal: true, rotary: { dims: 4, base: 10000, style: 'half', scaling: { type: 'dynamic', factor: 2, originalMaxPositions: 4 } } },
    mlp: { gated: false, activation: 'gelu_tanh', dFF: 32, bias: true },
  }), {}),
  // Gemma-2 style: (1 + w) RMSNorms, sandwich norms, attention and final soft-caps, sliding window on even layers,
  // gated tanh-GELU, √d embedding scale, tied head, llama3 rope scaling
  'gemma2-like': model('gemma2-like', 16, 2, (l) => ({
    residual: 'pre', ln1: rms(1), ln2: rms(1), ln1Post: rms(1), ln2Post: rms(1),
    attn: { nHead: 4, nKvHead: 2, headDim: 4, scale: 0.3, qkvBias: false, outBias: false, causal: true, softcap: 2, window: l % 2 === 0 ? 3 : undefined,
      rotary: { dims: 4, base: 10000, style: 'half', scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 8 } } },
    mlp: { gated: true, activation: 'gelu_tanh', dFF: 24, bias: false },
  }), { embed: { scale: 4, tokenTypes: 0 }, finalNorm: rms(1), unembed: { tied: true, bias: false, softcap: 3 } }),
  // OPT-350m style post-LN decoder: learned positions with offset 2, ReLU, no final norm; MQA with linear-scaled rotary is elsewhere
  'post-ln-learned-positions': model('post-ln-learned-positions', 12, 2, () => ({
    residual: 'post', ln1: ln(), ln2: ln(),
    attn: { nHead: 3, nKvHead: 3, headDim: 4, scale: 0.5, qkvBias: true, outBias: true, causal: true },
    mlp: { gated: false, activation: 'relu', dFF: 20, bias: true },
  }), { embed: { scale: 1, tokenTypes: 0, learnedPositions: { rows: 34, offset: 2 } }, finalNorm: undefined }),
  // Llama-style MQA with SwiGLU, linear rope scaling, embedding norm and a token-type row (encoder-style embeddings on a decoder)
  'mqa-swiglu': model('mqa-swiglu', 16, 2, () => ({
    residual: 'pre', ln1: rms(), ln2: rms(),
    attn: { nHead: 4, nKvHead: 1, headDim: 4, scale: 0.5, qkvBias: true, outBias: false, causal: true, rotary: { dims: 4, base: 500, style: 'half', scaling: { type: 'linear', factor: 2 } } },
    mlp: { gated: true, activation: 'silu', dFF: 24, bias: true },
  }), { finalNorm: rms(), embed: { scale: 1, tokenTypes: 2, norm: ln() } }),
};

/** Random canonical parameters: norm weights near 1 (near 0 for (1 + w) norms), the rest N(0, std²). */
export function handStore(spec: ModelSpec, seed = 1, std = 0.3): ParamStore<Float64Array> {
  const r = mulberry32(seed);
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const tensors = new Map<string, ParamTensor<Float64Array>>();
  const offsets = new Map<string, number>();
  const note = (n: NormSpec | undefined, w: string): void => { if (n) offsets.set(w, n.weightOffset); };
  note(spec.finalNorm, 'ln_final.w');
  spec.blocks.forEach((b, l) => {
    note(b.ln1, `blocks.${l}.ln1.w`);
    note(b.ln2, `blocks.${l}.ln2.w`);
    note(b.ln1Post, `blocks.${l}.ln1_post.w`);
    note(b.ln2Post, `blocks.${l}.ln2_post.w`);
  });
  note(spec.embed.norm, 'embed.ln.w');
  for (const [name, shape] of canonicalWeightShapes(spec)) {
    if (name === 'unembed.W_U' && spec.unembed?.tied) continue;
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    const isNormW = /\.w$/.test(name);
    for (let i = 0; i < n; i++) data[i] = isNormW ? 1 - (offsets.get(name) ?? 0) + 0.2 * (r() - 0.5) : std * normal();
    tensors.set(name, { shape, data });
  }
  return ParamStore.fromSpec(spec, tensors);
}

/**
 * The same parameters stored the way checkpoints fuse and transpose them, with the recipes that undo it:
 * per block a transposed fused q|k|v (Conv1D style, row ranges), a fused q|k|v bias, gate and up
 * interleaved row by row in one tensor (row gathers), and a transposed W_out. Checks the recipes' adjoint.
 */
export function fusedStore(spec: ModelSpec, seed = 1, std = 0.3): ParamStore<Float64Array> {
  const canon = handStore(spec, seed, std);
  const c = canon.canonical();
  const tensors = new Map<string, ParamTensor<Float64Array>>();
  const recipes = new Map<string, WeightRecipe>();
  const d = spec.dModel;
  for (const [name, r] of canon.layout.recipes) recipes.set(name, r);
  for (const [name, t] of canon.tensors) tensors.set(name, t);
  spec.blocks.forEach((b, l) => {
    const n = W.block(l);
    const q = b.attn.nHead * b.attn.headDim;
    const kv = b.attn.nKvHead * b.attn.headDim;
    const f = b.mlp.dFF;
    const rowsOut = q + 2 * kv;
    const qkv = new Float64Array(d * rowsOut);
    [[n.Wq, 0, q], [n.Wk, q, kv], [n.Wv, q + kv, kv]].forEach(([name, start, count]) => {
      const w = c.get(name as string)!.data;
      for (let i = 0; i < (count as number); i++) for (let j = 0; j < d; j++) qkv[j * rowsOut + (start as number) + i] = w[i * d + j];
      tensors.delete(name as string);
      recipes.set(name as string, { from: `h.${l}.qkv.weight`, storedShape: [d, rowsOut], transpose: true, rows: { start: start as number, count: count as number } });
    });
    tensors.set(`h.${l}.qkv.weight`, { shape: [d, rowsOut], data: qkv });
    if (b.attn.qkvBias) {
      const bias = new Float64Array(rowsOut);
      [[n.bq, 0, q], [n.bk, q, kv], [n.bv, q + kv, kv]].forEach(([name, start, count]) => {
        bias.set(c.get(name as string)!.data, start as number);
        tensors.delete(name as string);
        recipes.set(name as string, { from: `h.${l}.qkv.bias`, storedShape: [rowsOut], rows: { start: start as number, count: count as number } });
      });
      tensors.set(`h.${l}.qkv.bias`, { shape: [rowsOut], data: bias });
    }
    if (b.mlp.gated) {
      const gu = new Float64Array(2 * f * d);
      const even = Int32Array.from({ length: f }, (_, i) => 2 * i);
      const odd = Int32Array.from({ length: f }, (_, i) => 2 * i + 1);
      for (const [name, rows] of [[n.Win, even], [n.Wgate, odd]] as const) {
        const w = c.get(name)!.data;
        for (let i = 0; i < f; i++) gu.set(w.subarray(i * d, (i + 1) * d), rows[i] * d);
        tensors.delete(name);
        recipes.set(name, { from: `h.${l}.gate_up.weight`, storedShape: [2 * f, d], rows });
      }
      tensors.set(`h.${l}.gate_up.weight`, { shape: [2 * f, d], data: gu });
    }
    const wo = c.get(n.Wout)!.data;
    const down = new Float64Array(f * d);
    for (let i = 0; i < d; i++) for (let j = 0; j < f; j++) down[j * d + i] = wo[i * f + j];
    tensors.delete(n.Wout);
    tensors.set(`h.${l}.down.weight`, { shape: [f, d], data: down });
    recipes.set(n.Wout, { from: `h.${l}.down.weight`, storedShape: [f, d], transpose: true });
  });
  return new ParamStore(null, tensors, { spec, recipes });
}
