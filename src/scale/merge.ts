/**
 * Merging a plan's finished shards into the ordinary activation cache entry, the one a single-process
 * `extract` with the same options writes (same directory, same files, same bytes; only meta.json's `created`
 * time differs). Every analysis command then finds it as usual.
 *
 * The merge refuses unless every shard is finished and was written under the plan's key (model key, dataset
 * hash, options hash); nothing is written to the cache before all shards pass that check.
 */
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AtlasError } from '../errors.ts';
import { writeFileAtomic } from '../data/atomic.ts';
import { copyFinishedBatches, openActivationCache } from '../data/activation-cache.ts';
import { finalizeLens, lensPartPath, lensTokensPartPath } from '../data/lens.ts';
import { LENS_FILES } from '../data/lens-files.ts';
import { TOKEN_FILES } from '../data/token-cache.ts';
import { readExtraMeta, readShardPlan, shardDir, PLAN_FILE, PLAN_TOKENS_DIR, type ShardPlan } from './plan.ts';
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
    const tokenTexts: Record<string, string> = {};
    for (const s of plan.shards) {
      const dir = shardDir(planDir, s.index);
      const source = openActivationCache({ ...plan.cache, root: dir });
      const got = copyFinishedBatches(source, target);
      const [lo, hi] = s.batches;
      if (got.length !== hi - lo || got[0] !== lo || got[got.length - 1] !== hi - 1) {
        throw new AtlasError(`shard ${s.index} holds batches ${listShort(got)}, the plan gives it ${lo}..${hi - 1}`, { file: source.dir, hint: `remove ${dir} and run that shard again` });
      }
      if (plan.lens) {
        // The same per-batch lens parts a single-process extract writes (shardState checked they are there).
        for (let b = lo; b < hi; b++) writeFileAtomic(lensPartPath(target.dir, b), readFileSync(lensPartPath(source.dir, b)));
        Object.assign(tokenTexts, JSON.parse(readFileSync(lensTokensPartPath(source.dir), 'utf8')) as Record<string, string>);
      }
    }
    const extra = readExtraMeta(planDir);
    if (plan.lens) {
      finalizeLens(target.dir, plan.lens, plan.dataset.texts, plan.numBatches, tokenTexts);
      extra.lensFile = LENS_FILES.meta;
    }
    placeTokens(planDir, target.dir, extra);
    target.finalize(extra);
  }
  const meta = target.meta()!;
  return { dir: target.dir, cached, rows: meta.rows, cols: meta.cols };
}

/**
 * meta.json names its token cache only when it exists beside the merged entry: `plan` stores the tokens in the
 * plan folder and the merge copies them to the place the link names; without them (an older plan, a failed
 * write) the field is dropped (the tokens are only a cache).
 */
function placeTokens(planDir: string, entryDir: string, extra: Record<string, unknown>): void {
  const link = extra.tokensDir;
  if (typeof link !== 'string') return;
  const want = resolve(entryDir, link);
  if (existsSync(join(want, TOKEN_FILES.meta))) return;
  const planned = join(resolve(planDir), PLAN_TOKENS_DIR);
  try {
    if (existsSync(join(planned, TOKEN_FILES.meta))) {
      cpSync(planned, want, { recursive: true });
      return;
    }
  } catch { /* fall through: no token cache at the merged entry */ }
  delete extra.tokensDir;
}

function listShort(xs: number[]): string {
  return xs.length <= 8 ? xs.join(', ') : `${xs.slice(0, 8).join(', ')}, …`;
}
