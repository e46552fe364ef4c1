/**
 * The cases whose outputs real PyTorch computed (scripts/reference/hf-zoo-fixtures.ts → hf_zoo.py, float64) and
 * test/fixtures/hf-zoo/<name>/ holds: each is a tiny checkpoint (regenerated from the seed by the test) and one
 * padded batch: a full text, a left-padded one and a right-padded one.
 */
import type { HfFamily, TinyOpts } from './checkpoints.ts';

export interface TorchCase {
  name: string;
  family: HfFamily;
  opts: TinyOpts;
  /** hf_zoo.py function when it is not the family's own (a second, independent torch path). */
  impl?: string;
  ids: number[][];
  mask: number[][];
}

const MASK = [
  [1, 1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 0, 0, 0],
];

function ids(pad: number): number[][] {
  return [
    [5, 17, 42, 8, 91, 33, 60],
    [pad, pad, 12, 77, 3, 50, 29],
    [64, 9, 88, 21, pad, pad, pad],
  ];
}

export const TORCH_CASES: TorchCase[] = [
  { name: 'gpt_neox', family: 'gpt_neox', opts: { seed: 11 }, ids: ids(0), mask: MASK },
  {
    name: 'gpt_neox_sequential', family: 'gpt_neox', ids: ids(0), mask: MASK,
    opts: { seed: 12, config: { use_parallel_residual: false, rotary_pct: 0.25, partial_rotary_factor: 0.25 } },
  },
  { name: 'gemma2', family: 'gemma2', opts: { seed: 13 }, ids: ids(0), mask: MASK },
  { name: 'gemma', family: 'gemma', opts: { seed: 14 }, ids: ids(0), mask: MASK },
  { name: 'gptj', family: 'gptj', opts: { seed: 15 }, ids: ids(0), mask: MASK },
  { name: 'phi3', family: 'phi3', opts: { seed: 16, config: { partial_rotary_factor: 0.5, sliding_window: 4 } }, ids: ids(0), mask: MASK },
  { name: 'opt', family: 'opt', opts: { seed: 17 }, ids: ids(1), mask: MASK },
  { name: 'gpt_neo', family: 'gpt_neo', opts: { seed: 18 }, ids: ids(0), mask: MASK },
  { name: 'roberta', family: 'roberta', opts: { seed: 19 }, ids: ids(1), mask: MASK },
  { name: 'bert', family: 'bert', opts: { seed: 20 }, ids: ids(0), mask: MASK },
  { name: 'distilbert', family: 'distilbert', opts: { seed: 21 }, ids: ids(0), mask: MASK },
  { name: 'gpt2_layer_scaled', family: 'gpt2', opts: { seed: 22, config: { scale_attn_by_inverse_layer_idx: true } }, ids: ids(0), mask: MASK },
  {
    name: 'llama_llama3_bias', family: 'llama', ids: ids(0), mask: MASK,
    opts: {
      seed: 23,
      config: {
        attention_bias: true, mlp_bias: true,
        rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 },
      },
    },
  },
  { name: 'llama_dynamic', family: 'llama', ids: ids(0), mask: MASK, opts: { seed: 24, config: { rope_scaling: { type: 'dynamic', factor: 2 }, max_position_embeddings: 4 } } },
  { name: 'llama_linear', family: 'llama', ids: ids(0), mask: MASK, opts: { seed: 25, config: { rope_scaling: { rope_type: 'linear', factor: 3 }, head_dim: 12 } } },
  { name: 'mistral', family: 'mistral', opts: { seed: 26 }, ids: ids(0), mask: MASK },
  {
    name: 'qwen2_sliding', family: 'qwen2', ids: ids(0), mask: MASK,
    opts: { seed: 27, config: { use_sliding_window: true, sliding_window: 2, max_window_layers: 1, layer_types: null } },
  },
  {
    name: 'phi3_longrope', family: 'phi3', impl: 'phi3_longrope', ids: ids(0), mask: MASK,
    opts: {
      seed: 28,
      config: {
        original_max_position_embeddings: 4,
        rope_scaling: { type: 'longrope', short_factor: [1, 1.5, 2, 4], long_factor: [1.2, 3, 5, 9] },
      },
    },
  },
];
