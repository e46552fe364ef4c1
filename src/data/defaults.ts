/**
 * Defaults of loading a dataset and of extracting activations: the one place they are written. The
 * operations (loadDataset, extractActivations) fill missing options from these tables and the CLI derives
 * its flags and help from them (src/util/option-table.ts).
 */
import { AGGREGATIONS, type Aggregation } from './aggregate.ts';
import type { DatasetFormat } from './dataset.ts';
import { defineOptions, opt } from '../util/option-table.ts';

/** Texts per forward pass: shared by every operation that runs the model. */
export const BATCH_SIZE = opt<number>({ kind: 'int', default: 8, min: 1, metavar: 'N', help: 'texts per forward pass' });
/** Token limit: shared by every operation that runs the model, except parameter Fisher (its cost grows with length). */
export const MAX_LENGTH = opt<number | undefined>({ kind: 'int', default: undefined, min: 1, metavar: 'N', defaultText: "the model's maximum", help: 'truncate texts to N tokens (special tokens included)' });
/** Seed: shared by every seeded step (sampling, reductions). */
export const SEED = opt<number>({ kind: 'int', default: 0, min: 0, metavar: 'S', help: 'seed' });

export const DATASET_OPTIONS = defineOptions({
  textColumn: opt<string>({ kind: 'string', default: 'text', metavar: 'NAME', help: 'column holding the text' }),
  labelColumn: opt<string | undefined>({ kind: 'string', default: undefined, defaultText: 'label, when present', metavar: 'NAME', help: 'column holding the label' }),
  numSamples: opt<number | undefined>({ kind: 'int', default: undefined, min: 1, metavar: 'N', defaultText: 'all', help: 'at most N texts per label (N texts when unlabelled), chosen by a seeded shuffle (--seed)' }),
  seed: { ...SEED, help: 'seed of the --num-samples shuffle and of seeded steps' },
  format: opt<DatasetFormat | undefined>({ kind: 'choice', default: undefined, choices: ['csv', 'tsv', 'jsonl', 'json', 'text', 'hf', 'arrow'], defaultText: 'from the extension; a folder = hf', help: 'file format of --data' }),
  matchRegex: opt<string | undefined>({ kind: 'string', default: undefined, metavar: 'RE', help: "regex whose first match in each text is the 'match' token" }),
});

/** Per-token hook points extraction can read (spec.ts HookPoint kinds; docs/hook-points.md). */
export const TOKEN_HOOK_KINDS = ['resid_pre', 'ln1', 'attn_out', 'resid_mid', 'mlp_post', 'mlp_out', 'resid_post', 'attn_v', 'final'] as const;
export type TokenHookKind = (typeof TOKEN_HOOK_KINDS)[number];

export const EXTRACT_OPTIONS = defineOptions({
  layers: opt<number[] | 'all' | string>({
    kind: 'string', default: 'all', metavar: 'SPEC', aliases: ['layer'],
    help: 'all | 0,4,8 | 2-6 | -1 (hidden states 0..n_layer, 0 = embeddings; negative counts from the end)',
  }),
  source: opt<'hidden' | 'mlp' | TokenHookKind>({ kind: 'choice', default: 'hidden', choices: ['hidden', 'mlp', ...TOKEN_HOOK_KINDS], help: 'hidden (HF hidden_states), mlp (MLP neurons) or a hook point (docs/hook-points.md)' }),
  aggregate: opt<Aggregation>({ kind: 'choice', default: 'final', choices: AGGREGATIONS, aliases: ['pooling'], help: "how a text's token states become one vector" }),
  l2Normalize: opt<boolean>({ kind: 'boolean', default: false, flag: 'l2', help: 'L2-normalise each vector' }),
  batchSize: BATCH_SIZE,
  maxLength: MAX_LENGTH,
  prependBos: opt<boolean>({ kind: 'boolean', default: false, help: "put the tokenizer's BOS before every text (GPT-2: <|endoftext|>, as the seed-001 notebook does; a no-op when the tokenizer adds one)" }),
  truncate: opt<'left' | 'right' | undefined>({ kind: 'choice', default: undefined, choices: ['left', 'right'], defaultText: "tokenizer_config.json's truncation_side, else right", help: 'which end --max-length cuts: left keeps the last N tokens' }),
  lens: opt<boolean>({ kind: 'boolean', default: false, help: "logit lens per text and layer (causal LMs): the state at the aggregation's token (final unless first/match) through the final norm + unembedding; entropy, top-K, rank of the final prediction" }),
  lensK: opt<number>({ kind: 'int', default: 10, min: 1, max: 1000, metavar: 'K', help: 'top tokens kept per layer by --lens' }),
  dtype: opt<'float32' | 'float16'>({ kind: 'choice', default: 'float32', choices: ['float32', 'float16'], help: 'stored precision' }),
  cacheRoot: opt<string | undefined>({ kind: 'string', default: undefined, flag: 'cache', metavar: 'DIR', defaultText: '$LATENT_ATLAS_CACHE or ~/.cache/latent-atlas/activations', help: 'activation cache root' }),
  force: opt<boolean>({ kind: 'boolean', default: false, help: 'recompute even when cached' }),
});
