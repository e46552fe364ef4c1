/**
 * Computing one shard of a plan, safely under reruns, crashes and concurrent runs of the same shard.
 *
 * A shard is computed into a private staging folder (`shards/.staging-<i>-<host>-<pid>-<random>`, an ordinary
 * activation cache entry whose batches are written atomically) and, once every batch and shard.json are on
 * disk, the folder is renamed to `shards/shard-<i>` in one step. So `shard-<i>` is either absent or complete:
 * a worker killed mid-shard leaves only its staging folder, which the next run of that shard on the same host
 * removes (its pid is dead). Two runs of one shard at once both compute; the first rename wins and the second
 * discards its identical copy. No lock is needed because nothing is ever written in place.
 */
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AtlasError } from '../errors.ts';
import { writeJsonAtomic } from '../data/atomic.ts';
import { activationCacheDir, openActivationCache } from '../data/activation-cache.ts';
import { computeBatch, planExtraction, type ExtractionPlan } from '../data/extract.ts';
import { hasLensPart, lensPartIds, lensTokensPartPath, lensTokenTexts } from '../data/lens.ts';
import type { Dataset } from '../data/dataset.ts';
import type { LoadedModel } from '../model/load.ts';
import { datasetFromFlags, extractOptionsFromFlags, modelFromFlags } from '../cli/shared-flags.ts';
import { checkPlanMatches, shardDir, SHARD_FILE, SHARDS_DIR, type ShardPlan } from './plan.ts';

export interface ShardRecord {
  kind: 'latent-atlas-shard';
  plan: string;
  index: number;
  modelKey: string;
  datasetHash: string;
  optionsHash: string;
  batches: [number, number];
  host: string;
  pid: number;
  seconds: number;
  created: string;
}

export type ShardState =
  | { state: 'done'; record: ShardRecord }
  | { state: 'missing' }
  | { state: 'invalid'; reason: string; file: string };

/** Where a shard folder keeps its batches: the activation cache entry under the shard folder as root. */
export function shardCacheDir(plan: ShardPlan, dir: string): string {
  return activationCacheDir({ ...plan.cache, root: dir });
}

/** Whether shard `index` of the plan is finished, and if its folder is there but unusable, why. */
export function shardState(plan: ShardPlan, planDir: string, index: number): ShardState {
  const dir = shardDir(planDir, index);
  if (!existsSync(dir)) return { state: 'missing' };
  const file = join(dir, SHARD_FILE);
  if (!statSync(dir).isDirectory()) return { state: 'invalid', file: dir, reason: 'is not a folder' };
  if (!existsSync(file)) return { state: 'invalid', file, reason: 'is missing' };
  let r: ShardRecord;
  try {
    r = JSON.parse(readFileSync(file, 'utf8')) as ShardRecord;
  } catch (e) {
    return { state: 'invalid', file, reason: `is not valid JSON: ${(e as Error).message}` };
  }
  const bad = (field: string, got: unknown, want: unknown) => ({ state: 'invalid' as const, file, reason: `field '${field}' is ${JSON.stringify(got)}, the plan has ${JSON.stringify(want)}` });
  if (r.modelKey !== plan.cache.modelKey) return bad('modelKey', r.modelKey, plan.cache.modelKey);
  if (r.datasetHash !== plan.cache.datasetHash) return bad('datasetHash', r.datasetHash, plan.cache.datasetHash);
  if (r.optionsHash !== plan.optionsHash) return { ...bad('optionsHash', r.optionsHash, plan.optionsHash), reason: `was written with options hash ${r.optionsHash}, the plan has ${plan.optionsHash} (other extraction options)` };
  if (r.plan !== plan.id) return bad('plan', r.plan, plan.id);
  if (r.index !== index) return bad('index', r.index, index);
  const [lo, hi] = plan.shards[index].batches;
  if (!Array.isArray(r.batches) || r.batches[0] !== lo || r.batches[1] !== hi) return bad('batches', r.batches, [lo, hi]);
  const parts = join(shardCacheDir(plan, dir), 'parts');
  for (let b = lo; b < hi; b++) {
    if (!existsSync(join(parts, `batch-${b}.bin`))) return { state: 'invalid', file: parts, reason: `batch-${b}.bin is missing` };
    if (plan.lens && !hasLensPart(shardCacheDir(plan, dir), b)) return { state: 'invalid', file: parts, reason: `lens-${b}.json is missing (the plan has --lens)` };
  }
  if (plan.lens && !existsSync(lensTokensPartPath(shardCacheDir(plan, dir)))) return { state: 'invalid', file: parts, reason: 'lens-tokens.json is missing (the plan has --lens)' };
  return { state: 'done', record: r };
}

/** The model, dataset and batch plan a worker needs, loaded from the plan's flags and checked against it. */
export interface PlanInputs {
  model: LoadedModel;
  dataset: Dataset;
  extraction: ExtractionPlan;
}

export async function loadPlanInputs(plan: ShardPlan, planDir: string): Promise<PlanInputs> {
  const dataset = await datasetFromFlags(plan.flags);
  const model = await modelFromFlags(plan.flags);
  try {
    const extraction = planExtraction(model, dataset, extractOptionsFromFlags(plan.flags));
    checkPlanMatches(plan, planDir, extraction);
    return { model, dataset, extraction };
  } catch (e) {
    await model.release();
    throw e;
  }
}

const STAGING = /^\.staging-(\d+)-(.+)-(\d+)-[0-9a-f]{8}$/;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes staging folders of shard `index` left by dead processes of this host (other hosts' are left alone). */
export function removeDeadStaging(planDir: string, index?: number): number {
  const root = join(planDir, SHARDS_DIR);
  if (!existsSync(root)) return 0;
  let removed = 0;
  for (const name of readdirSync(root)) {
    const m = STAGING.exec(name);
    if (!m || (index !== undefined && Number(m[1]) !== index) || m[2] !== hostname() || alive(Number(m[3]))) continue;
    rmSync(join(root, name), { recursive: true, force: true });
    removed++;
  }
  return removed;
}

/** Staging folders present (any host), e.g. to check that a run left nothing behind. */
export function stagingFolders(planDir: string): string[] {
  const root = join(planDir, SHARDS_DIR);
  return existsSync(root) ? readdirSync(root).filter((n) => STAGING.test(n)) : [];
}

export interface ComputeShardOptions {
  /** Called after each batch is on disk (progress). */
  onBatch?: (batch: number, done: number, total: number) => void;
}

/**
 * Computes shard `index` unless it is already finished. Returns whether this call computed it. A folder in the
 * shard's place that is not a finished shard of this plan is an error (it is never overwritten silently).
 */
export async function computeShard(plan: ShardPlan, planDir: string, index: number, inputs: PlanInputs, opts: ComputeShardOptions = {}): Promise<{ computed: boolean; dir: string }> {
  const dir = shardDir(planDir, index);
  const refuse = (s: Extract<ShardState, { state: 'invalid' }>) =>
    new AtlasError(`shard ${index} ${s.reason}`, { file: s.file, hint: `remove ${dir} and run the shard again` });
  const before = shardState(plan, planDir, index);
  if (before.state === 'done') return { computed: false, dir };
  if (before.state === 'invalid') throw refuse(before);
  removeDeadStaging(planDir, index);

  const started = performance.now();
  const staging = join(planDir, SHARDS_DIR, `.staging-${index}-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const cache = openActivationCache({ ...plan.cache, root: staging });
    const [lo, hi] = plan.shards[index].batches;
    for (let b = lo; b < hi; b++) {
      await computeBatch(inputs.model, inputs.dataset, inputs.extraction, b, cache);
      opts.onBatch?.(b, b - lo + 1, hi - lo);
    }
    // The merge has no tokenizer: the shard stores the text of every token id its lens parts name.
    if (plan.lens) writeJsonAtomic(lensTokensPartPath(cache.dir), lensTokenTexts(lensPartIds(cache.dir, lo, hi), inputs.model.tokenizer));
    const record: ShardRecord = {
      kind: 'latent-atlas-shard', plan: plan.id, index,
      modelKey: plan.cache.modelKey, datasetHash: plan.cache.datasetHash, optionsHash: plan.optionsHash,
      batches: [lo, hi], host: hostname(), pid: process.pid,
      seconds: (performance.now() - started) / 1000, created: new Date().toISOString(),
    };
    writeJsonAtomic(join(staging, SHARD_FILE), record);
    try {
      renameSync(staging, dir);
      return { computed: true, dir };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'ENOTDIR') throw e;
      // Another run finished this shard first: its files are the same bytes; keep them.
      const after = shardState(plan, planDir, index);
      if (after.state === 'done') return { computed: false, dir };
      throw refuse(after.state === 'invalid' ? after : { state: 'invalid', file: dir, reason: 'could not be put in place' });
    }
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}
