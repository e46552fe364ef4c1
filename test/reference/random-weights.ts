/**
 * In-memory WeightSources with seeded random weights, for tests and benchmarks (no checkpoint on disk).
 * Canonical tensor names as the checkpoint loader exposes them; `lm_head.weight` returns the very same array
 * as the token embedding when the config ties them (as the loader does).
 */
import { parseConfig, type ModelConfig } from '../../src/model/config.ts';
import type { F32Tensor } from '../../src/model/tensor.ts';
import type { WeightSource } from '../../src/model/runtime.ts';
import { mulberry32 } from '../../src/util/random.ts';

export const prng = mulberry32;

export interface RandomSource extends WeightSource {
  names(): string[];
}

/** Every tensor name and shape a config implies. */
export function tensorShapes(c: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const d = c.dModel, f = c.dFF, V = c.vocabSize;
  if (c.architecture === 'gpt2') {
    m.set('wte.weight', [V, d]);
    m.set('wpe.weight', [c.maxPositions, d]);
    for (let l = 0; l < c.nLayer; l++) {
      const p = `h.${l}.`;
      for (const ln of ['ln_1', 'ln_2']) {
        m.set(`${p}${ln}.weight`, [d]);
        m.set(`${p}${ln}.bias`, [d]);
      }
      m.set(`${p}attn.c_attn.weight`, [d, 3 * d]);
      m.set(`${p}attn.c_attn.bias`, [3 * d]);
      m.set(`${p}attn.c_proj.weight`, [d, d]);
      m.set(`${p}attn.c_proj.bias`, [d]);
      m.set(`${p}mlp.c_fc.weight`, [d, f]);
      m.set(`${p}mlp.c_fc.bias`, [f]);
      m.set(`${p}mlp.c_proj.weight`, [f, d]);
      m.set(`${p}mlp.c_proj.bias`, [d]);
    }
    m.set('ln_f.weight', [d]);
    m.set('ln_f.bias', [d]);
    m.set('lm_head.weight', [V, d]);
    return m;
  }
  const q = c.nHead * c.headDim, kv = c.nKvHead * c.headDim;
  m.set('embed_tokens.weight', [V, d]);
  for (let l = 0; l < c.nLayer; l++) {
    const p = `layers.${l}.`;
    m.set(`${p}input_layernorm.weight`, [d]);
    m.set(`${p}post_attention_layernorm.weight`, [d]);
    m.set(`${p}self_attn.q_proj.weight`, [q, d]);
    m.set(`${p}self_attn.k_proj.weight`, [kv, d]);
    m.set(`${p}self_attn.v_proj.weight`, [kv, d]);
    if (c.qkvBias) {
      m.set(`${p}self_attn.q_proj.bias`, [q]);
      m.set(`${p}self_attn.k_proj.bias`, [kv]);
      m.set(`${p}self_attn.v_proj.bias`, [kv]);
    }
    m.set(`${p}self_attn.o_proj.weight`, [d, q]);
    if (c.attnOutBias) m.set(`${p}self_attn.o_proj.bias`, [d]);
    m.set(`${p}mlp.gate_proj.weight`, [f, d]);
    m.set(`${p}mlp.up_proj.weight`, [f, d]);
    m.set(`${p}mlp.down_proj.weight`, [d, f]);
    if (c.mlpBias) {
      m.set(`${p}mlp.gate_proj.bias`, [f]);
      m.set(`${p}mlp.up_proj.bias`, [f]);
      m.set(`${p}mlp.down_proj.bias`, [d]);
    }
  }
  m.set('norm.weight', [d]);
  m.set('lm_head.weight', [V, d]);
  return m;
}

/**
 * Random weights: matrices uniform with std `scale` (default 1/sqrt(fan-in)-like 0.02*sqrt(768/d) is too
 * small to exercise attention, so a larger default is used), norm gains 1 ± 0.2, biases ± 0.1.
 */
export function randomWeightSource(raw: Record<string, unknown>, seed = 1, scale?: number): RandomSource {
  const config = parseConfig(raw);
  const shapes = tensorShapes(config);
  const rnd = prng(seed);
  const tensors = new Map<string, F32Tensor>();
  const std = scale ?? 1 / Math.sqrt(config.dModel);
  const half = Math.sqrt(3) * std; // uniform [-half, half] has this std
  for (const [name, shape] of shapes) {
    if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue;
    let n = 1;
    for (const s of shape) n *= s;
    const data = new Float32Array(n);
    const isNorm = /(ln_|norm)/.test(name) && name.endsWith('weight');
    const isBias = name.endsWith('bias');
    for (let i = 0; i < n; i++) {
      const u = rnd() * 2 - 1;
      data[i] = isNorm ? (/ln_.*bias/.test(name) ? 0.1 * u : 1 + 0.2 * u) : isBias ? 0.1 * u : half * u;
    }
    tensors.set(name, { shape, data });
  }
  if (config.tieWordEmbeddings) tensors.set('lm_head.weight', tensors.get(config.architecture === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight')!);
  return {
    config,
    tensor(name: string): F32Tensor {
      const t = tensors.get(name);
      if (!t) throw new Error(`random weight source has no tensor '${name}'`);
      return t;
    },
    names: () => [...tensors.keys()],
  };
}
