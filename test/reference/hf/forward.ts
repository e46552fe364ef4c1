/**
 * Independent float64 references of the Hugging Face forward passes, one function per family (forward-*.ts),
 * written from transformers' modelling code, sharing nothing with src/ (see README.md beside this file).
 */
import type { HfFamily } from './checkpoints.ts';
import { RefContext, type HfReferenceOutput, type HfTensors } from './common.ts';
import { bertForward } from './forward-bert.ts';
import { distilbertForward } from './forward-distilbert.ts';
import { gemmaForward } from './forward-gemma.ts';
import { gemma2Forward } from './forward-gemma2.ts';
import { gpt2Forward } from './forward-gpt2.ts';
import { gptNeoForward } from './forward-gpt-neo.ts';
import { gptNeoxForward } from './forward-gpt-neox.ts';
import { gptjForward } from './forward-gptj.ts';
import { llamaForward } from './forward-llama.ts';
import { optForward } from './forward-opt.ts';
import { phi3Forward } from './forward-phi3.ts';

export type { HfReferenceOutput, HfTensors } from './common.ts';
export { blockHookName, FINAL_HOOK } from './common.ts';

const FORWARD: Record<HfFamily, (ctx: RefContext) => HfReferenceOutput> = {
  gpt2: gpt2Forward,
  llama: llamaForward,
  mistral: llamaForward,
  qwen2: llamaForward,
  bert: bertForward,
  roberta: bertForward,
  distilbert: distilbertForward,
  gpt_neox: gptNeoxForward,
  gpt_neo: gptNeoForward,
  gptj: gptjForward,
  opt: optForward,
  gemma: gemmaForward,
  gemma2: gemma2Forward,
  phi3: phi3Forward,
};

/**
 * The forward pass of `family` on ids / mask ([B, T] each; 1 = real token), in float64, with the project's
 * padding semantics (positions cumsum(mask) − 1 clamped at 0; key j visible iff mask[j] and, for decoders,
 * j ≤ i). Values at padded query positions are not meaningful: compare only where mask = 1.
 */
export function hfReferenceForward(
  family: HfFamily, config: Record<string, unknown>, tensors: HfTensors, ids: number[][], mask: number[][],
): HfReferenceOutput {
  const f = FORWARD[family];
  if (!f) throw new Error(`reference: unknown family '${family}'`);
  return f(new RefContext(family, config, tensors, ids, mask));
}
