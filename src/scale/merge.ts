/**
 * Merging a plan's finished shards into the ordinary activation cache entry, the one a single-process
 * `extract` with the same options writes (same directory, same files, same bytes; only meta.json's `created`
 * time differs). Every analysis command then finds it as usual.
 *
 * The merge refuses unless every shard is finished and was written under the plan's key (model key, dataset
 * hash, options hash); nothing is written to the cache before all shards pass that check.
 */
import { join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { copyFinishedBatches, openActivationCache } from '../data/activation-cache.ts';
import { readExtraMeta, readShardPlan, shardDir, PLAN_FILE, type ShardPlan } from './plan.ts';
import { shardState } from './shard.ts';

export interface PlanProgress {
  done: number[];
  missing: number[];
  invalid: { index: number; file: string; reason: string }[];
}

export function planProgress(plan: ShardPlan, planDir: string): PlanProgress {
  const p: PlanProgress = { done: [], missing: [], invalid: [] };
  for (const s of plan.shards) {
    const st = shardState(plan, planDir, s.index);
    if (st.state === 'done') p.done.push(s.index);
    else if (st.state === 'missing') p.missing.push(s.index);
    else p.invalid.push({ index: s.index, file: st.file, reason: st.reason });
  }
  return p;
}

export interface MergeResult {
  dir: string;
  /** True when the cache entry was already complete. */
  cached: boolean;
  rows: number;
  cols: number;
}

/** Merges into the plan's cache root (or `cacheRoot`). */
export function mergePlan(planDir: string, opts: { cacheRoot?: string } = {}): MergeResult {
  const plan = readShardPlan(planDir);
  const p = planProgress(plan, planDir);
  if (p.invalid.length > 0) {
    const first = p.invalid[0];
    throw new AtlasError(`shard ${first.index} ${first.reason}; nothing was merged`, { file: first.file, hint: `remove ${shardDir(planDir, first.index)} and run that shard again${p.invalid.length > 1 ? ` (also bad: shards ${p.invalid.slice(1).map((s) => s.index).join(', ')})` : ''}` });
  }
  if (p.missing.length > 0) {
    throw new AtlasError(`${p.missing.length} of ${plan.shards.length} shards are not finished (${listShort(p.missing)}); nothing was merged`, { file: join(planDir, PLAN_FILE), hint: `run 'latent-atlas work ${planDir} --shard ${p.missing[0]}' (or --workers N for all)` });
  }
  const target = openActivationCache({ ...plan.cache, root: opts.cacheRoot ?? plan.cacheRoot });
  const cached = target.isComplete();
  if (!cached) {
    for (const s of plan.shards) {
      const dir = shardDir(planDir, s.index);
      const source = openActivationCache({ ...plan.cache, root: dir });
      const got = copyFinishedBatches(source, target);
      const [lo, hi] = s.batches;
      if (got.length !== hi - lo || got[0] !== lo || got[got.length - 1] !== hi - 1) {
        throw new AtlasError(`shard ${s.index} holds batches ${listShort(got)}, the plan gives it ${lo}..${hi - 1}`, { file: source.dir, hint: `remove ${dir} and run that shard again` });
      }
    }
    target.finalize(readExtraMeta(planDir));
  }
  const meta = target.meta()!;
  return { dir: target.dir, cached, rows: meta.rows, cols: meta.cols };
}

function listShort(xs: number[]): string {
  return xs.length <= 8 ? xs.join(', ') : `${xs.slice(0, 8).join(', ')}, …`;
}
