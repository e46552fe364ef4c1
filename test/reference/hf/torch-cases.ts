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
];
