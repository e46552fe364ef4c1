/**
 * A shard plan: the manifest that lets many processes (local workers, Slurm array tasks, BullMQ workers on other
 * machines) compute one extraction together and merge it into the ordinary activation cache.
 *
 * The plan is the single-process extraction's own batch plan (planExtraction: texts sorted by length, cut into
 * batches) split into contiguous ranges of batches. Every shard therefore runs exactly the batches a
 * single-process `extract` would run, with the same texts and padding, so the merged files equal that run's byte
 * for byte. The manifest stores the cache key (model key, dataset hash, options hash — the activation cache's
 * own), so a worker that sees another model or dataset version refuses to run, and a merge refuses shards
 * written under another key.
 *
 * Layout of PLAN/:
 *   plan.json          the manifest (PLAN_FILE)
 *   extra-meta.json    what the merged meta.json stores beside the arrays (labels, texts, model config)
 *   tokens/            the extraction's token cache, copied to the merged entry's tokensDir by the merge
 *   sbatch.sh          a Slurm array script running one shard per task, merge.sbatch.sh the merge after it
 *   shards/shard-<i>/  one finished shard: shard.json + an activation cache entry holding its batches (with
 *                      --lens also their lens parts and parts/lens-tokens.json, the decoded text of their ids)
 *   shards/.staging-*  shards being computed (renamed to shard-<i> when complete)
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { AtlasError } from '../errors.ts';
import { writeJsonAtomic } from '../data/atomic.ts';
import { activationCacheDir, type ActivationCacheOptions } from '../data/activation-cache.ts';
import { hashJson } from '../data/hash.ts';
import type { ExtractionPlan } from '../data/extract.ts';
import type { LensPlan } from '../data/lens.ts';
import type { FlagValues } from '../cli/command.ts';

export const PLAN_FILE = 'plan.json';
export const EXTRA_META_FILE = 'extra-meta.json';
export const SHARDS_DIR = 'shards';
export const SHARD_FILE = 'shard.json';
/** The token cache of the extraction (src/data/token-cache.ts layout), placed beside the merged entry by `merge`. */
export const PLAN_TOKENS_DIR = 'tokens';
export const PLAN_KIND = 'latent-atlas-shard-plan';
export const PLAN_VERSION = 1;

export interface ShardRange {
  index: number;
  /** Batch numbers [start, end) of the extraction's batch plan. */
  batches: [number, number];
  /** Positions [start, end) in the length-sorted text order (the plan's row ranges). */
  rows: [number, number];
  /** Texts in this shard. */
  texts: number;
}

export interface ShardPlan {
  kind: typeof PLAN_KIND;
  version: number;
  /** Hash of everything below except `created`: names the plan in queue job ids and shard files. */
  id: string;
  created: string;
  model: { arg: string; key: string };
  dataset: { source: string; name: string; hash: string; texts: number };
  /** The activation cache key shared by every shard and the merged entry. */
  cache: Omit<ActivationCacheOptions, 'root' | 'force'>;
  /** Basename of the cache entry directory: a hash of options, layers and dtype. */
  optionsHash: string;
  /** Hash of the batch lists (which texts, in which order, in every batch). */
  batchesHash: string;
  numBatches: number;
  /** Where `merge` writes the ordinary cache entry. */
  cacheRoot: string;
  /** The command-line flags that rebuild the model, dataset and extraction options (paths made absolute). */
  flags: FlagValues;
  shards: ShardRange[];
  /** The logit lens every shard computes and the merge assembles (extract --lens); absent without --lens. */
  lens?: LensPlan;
}

/** Flags that do not belong in a plan: where to write and whether to recompute are per invocation. */
const NOT_PLANNED = new Set(['cache', 'force', 'config', 'shards', 'out', 'workers']);

/** Splits B batches into N contiguous, near-equal ranges. */
export function shardRanges(batches: number[][], shards: number): ShardRange[] {
  const b = batches.length;
  if (!Number.isInteger(shards) || shards < 1) throw new AtlasError(`--shards must be a positive integer, got ${shards}`, { field: 'shards' });
  if (shards > b) throw new AtlasError(`--shards ${shards} is more than the ${b} batches of this extraction`, { field: 'shards', hint: 'lower --shards or --batch-size' });
  const starts: number[] = [0];
  for (const batch of batches) starts.push(starts[starts.length - 1] + batch.length);
  return Array.from({ length: shards }, (_, i) => {
    const lo = Math.floor((i * b) / shards);
    const hi = Math.floor(((i + 1) * b) / shards);
    return { index: i, batches: [lo, hi], rows: [starts[lo], starts[hi]], texts: starts[hi] - starts[lo] };
  });
}

/** Builds the manifest of an extraction plan (pure: nothing is written). */
export function makeShardPlan(x: ExtractionPlan, o: { modelArg: string; datasetSource: string; datasetName: string; cacheRoot: string; flags: FlagValues; shards: number }): ShardPlan {
  const flags: FlagValues = {};
  for (const [k, v] of Object.entries(o.flags)) if (!NOT_PLANNED.has(k) && v !== undefined) flags[k] = v;
  // Workers may start in another directory: local paths become absolute.
  if (typeof flags.model === 'string' && existsSync(flags.model)) flags.model = resolve(flags.model);
  if (typeof flags.data === 'string' && !flags.data.startsWith('builtin:') && existsSync(flags.data)) flags.data = resolve(flags.data);
  const body = {
    kind: PLAN_KIND,
    version: PLAN_VERSION,
    model: { arg: typeof flags.model === 'string' ? flags.model : o.modelArg, key: x.cache.modelKey },
    dataset: { source: o.datasetSource, name: o.datasetName, hash: x.cache.datasetHash, texts: x.cache.numTexts },
    cache: x.cache,
    optionsHash: optionsHashOf(x.cache),
    batchesHash: hashJson(x.batches),
    numBatches: x.batches.length,
    cacheRoot: resolve(o.cacheRoot),
    flags,
    shards: shardRanges(x.batches, o.shards),
    ...(x.lens ? { lens: x.lens } : {}),
  } as const;
  return { ...body, id: hashJson(body), created: new Date().toISOString() };
}

/** The options hash of a cache key: the last component of its entry directory (one definition, the cache's). */
export function optionsHashOf(key: Pick<ActivationCacheOptions, 'options' | 'layers' | 'dtype' | 'modelKey' | 'datasetHash'>): string {
  return basename(activationCacheDir({ ...key, root: '.' }));
}

/** Writes plan.json and extra-meta.json. An existing plan with the same id is kept (its finished shards stay valid). */
export function writeShardPlan(dir: string, plan: ShardPlan, extraMeta: Record<string, unknown>, force = false): { reused: boolean } {
  const file = join(dir, PLAN_FILE);
  if (existsSync(file) && !force) {
    const old = readShardPlan(dir);
    if (old.id === plan.id) return { reused: true };
    throw new AtlasError(`holds another plan (id ${old.id}, this one would be ${plan.id})`, { file, hint: 'choose another --out, or pass --force to replace it and drop its shards' });
  }
  if (force) rmSync(join(dir, SHARDS_DIR), { recursive: true, force: true });
  writeJsonAtomic(join(dir, EXTRA_META_FILE), extraMeta);
  writeJsonAtomic(file, plan); // last: a plan folder with plan.json is complete
  return { reused: false };
}

export function readShardPlan(dir: string): ShardPlan {
  const file = join(resolve(dir), PLAN_FILE);
  if (!existsSync(file)) throw new AtlasError('no shard plan here', { file, hint: "make one with 'latent-atlas plan --model M --data D --shards N --out PLAN'" });
  let plan: ShardPlan;
  try {
    plan = JSON.parse(readFileSync(file, 'utf8')) as ShardPlan;
  } catch (e) {
    throw new AtlasError(`is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (plan.kind !== PLAN_KIND) throw new AtlasError(`is not a latent-atlas shard plan`, { file, field: 'kind' });
  if (plan.version !== PLAN_VERSION) throw new AtlasError(`has plan version ${plan.version}; this latent-atlas reads version ${PLAN_VERSION}`, { file, field: 'version', hint: 'make the plan again' });
  const { id, created: _c, ...body } = plan;
  if (hashJson(body) !== id) throw new AtlasError('was edited after it was made (its id does not match its content)', { file, field: 'id', hint: 'make the plan again' });
  return plan;
}

export function readExtraMeta(dir: string): Record<string, unknown> {
  const file = join(resolve(dir), EXTRA_META_FILE);
  if (!existsSync(file)) throw new AtlasError('is missing from the plan folder', { file, hint: 'make the plan again' });
  return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
}

/**
 * Refuses to compute a shard when the model or dataset a worker loaded is not the version the plan was made
 * for (a retrained checkpoint, an edited data file): their results could not be merged with the other shards.
 */
export function checkPlanMatches(plan: ShardPlan, planDir: string, x: ExtractionPlan): void {
  const file = join(planDir, PLAN_FILE);
  if (x.cache.modelKey !== plan.cache.modelKey) {
    throw new AtlasError(`the model ${plan.model.arg} is not the version this plan was made for (plan: ${plan.cache.modelKey}, now: ${x.cache.modelKey})`, { file, field: 'model.key', hint: 'restore that model or make a new plan' });
  }
  if (x.cache.datasetHash !== plan.cache.datasetHash) {
    throw new AtlasError(`the dataset ${plan.dataset.source} changed since the plan was made (plan: ${plan.cache.datasetHash.slice(0, 16)}, now: ${x.cache.datasetHash.slice(0, 16)})`, { file, field: 'dataset.hash', hint: 'restore that dataset or make a new plan' });
  }
  if (optionsHashOf(x.cache) !== plan.optionsHash) {
    throw new AtlasError(`the extraction options give options hash ${optionsHashOf(x.cache)}, the plan has ${plan.optionsHash}`, { file, field: 'optionsHash', hint: 'make a new plan' });
  }
  if (hashJson(x.batches) !== plan.batchesHash) {
    throw new AtlasError('the batch plan differs from the one recorded (another tokenizer or batch size)', { file, field: 'batchesHash', hint: 'make a new plan' });
  }
}

export function shardDir(planDir: string, index: number): string {
  return join(resolve(planDir), SHARDS_DIR, `shard-${index}`);
}

/** Parses and range-checks a shard number. */
export function shardIndex(plan: ShardPlan, planDir: string, value: unknown): number {
  const n = Number(value);
  if (value === undefined || value === '' || !Number.isInteger(n) || n < 0 || n >= plan.shards.length) {
    throw new AtlasError(`--shard must be an integer 0..${plan.shards.length - 1}, got '${String(value)}'`, { file: join(planDir, PLAN_FILE), field: 'shards' });
  }
  return n;
}
