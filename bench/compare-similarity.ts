/**
 * The `similarity` rows of bench/compare.ts, self-contained: column-wise cosine similarity of 3 checkpoints
 * (GPT-2-small widths, 4 blocks: ~271 MB each in F32, 3 pairs), ours (analyzeSimilarity) against torch
 * (scripts/reference/bench_similarity.py): 'blocked' = the streaming torch computation (4 MiB row blocks,
 * float32 column sums into float64, F.cosine_similarity's formula), 'whole' = the toolkit's own call
 * F.cosine_similarity(a, b, dim=0) on whole tensors. Both under compare.ts's protocol (own process per side
 * and round, interleaved, warm-up excluded, same threads, OMP_WAIT_POLICY=PASSIVE, load printed).
 *
 * The checkpoints are generated once into .cache/bench-similarity/ (page cache warm after the warm-up run).
 * Our child: node --import tsx bench/compare-similarity.ts ours THREADS REPEATS DIR...
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTinyCheckpoint, GPT2_SMALL_SHAPE } from '../src/model/tiny-checkpoint.ts';
import { runReference } from '../scripts/reference/python.ts';
import type { SimilarityResult } from '../src/params/similarity.ts';

type Result = Record<string, unknown> & { times: number[] };

const HERE = dirname(fileURLToPath(import.meta.url));
export const SIMILARITY_CACHE = join(HERE, '..', '.cache', 'bench-similarity');

/** The three checkpoints (seeds 1-3), written once. */
export function similarityCheckpoints(): string[] {
  return [1, 2, 3].map((seed) => {
    const dir = join(SIMILARITY_CACHE, `sim-${seed}`);
    if (!existsSync(join(dir, 'model.safetensors'))) writeTinyCheckpoint(dir, { ...GPT2_SMALL_SHAPE, nLayer: 4, seed });
    return dir;
  });
}

function threadEnv(threads: number): Record<string, string> {
  const t = String(threads);
  return { OMP_NUM_THREADS: t, OMP_WAIT_POLICY: 'PASSIVE', MKL_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, LATENT_ATLAS_THREADS: t };
}

const lastJson = (stdout: string): Result => JSON.parse(stdout.trim().split('\n').pop()!) as Result;

function oursChild(dirs: string[], threads: number, repeats: number): Result {
  const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'ours', String(threads), String(repeats), ...dirs], {
    env: { ...process.env, ...threadEnv(threads), LATENT_ATLAS_QUIET: '1' }, encoding: 'utf8', maxBuffer: 64 * 2 ** 20,
  });
  if (r.status !== 0) throw new Error(`compare-similarity ours failed (exit ${r.status}):\n${r.stderr}`);
  return lastJson(r.stdout);
}

/** Per-tensor, per-pair mean cosine of our result, for tensors kept whole (split tensors have no torch counterpart). */
function ourMeans(res: SimilarityResult): Record<string, number> {
  const count = new Map<string, number>();
  for (const t of res.tensors) count.set(t.name, (count.get(t.name) ?? 0) + 1);
  const out: Record<string, number> = {};
  for (const t of res.tensors) {
    if (count.get(t.name) !== 1) continue;
    res.pairs.forEach((p, k) => {
      const [i, j] = [[0, 1], [0, 2], [1, 2]][k]!;
      if (t.pairs[p]) out[`${t.name}|${i}|${j}`] = t.pairs[p]!.mean;
    });
  }
  return out;
}

function agreement(ours: Result, ref: Result): string {
  const a = ours.means as Record<string, number>;
  const b = ref.means as Record<string, number>;
  let n = 0, worst = 0;
  for (const [k, v] of Object.entries(b)) {
    const o = a[k.replace(/^(transformer|model)\./, '')];
    if (o === undefined) continue;
    n++;
    worst = Math.max(worst, Math.abs(o - v));
  }
  const st = ours.chunks as { main: number; worker: number; taken: number };
  return `max |Δ mean cosine| ${worst.toExponential(1)} over ${n} tensor-pairs; ${(Number(ours.bytes) / 2 ** 20).toFixed(0)} MiB read per run; chunks main/worker/taken back ${st.main}/${st.worker}/${st.taken}`;
}

/** Row specs for compare.ts (its RowSpec, with our own child runners). */
export function similaritySpecs(cores: number) {
  let dirs: string[] | null = null;
  const get = (): string[] => (dirs ??= similarityCheckpoints());
  return (['blocked', 'whole'] as const).map((mode) => ({
    workload: mode === 'blocked' ? 'similarity' : 'similarity-whole',
    label: `column-wise cosine similarity, 3 checkpoints × 271 MB (3 pairs)${mode === 'whole' ? ', vs whole tensors' : ''}`,
    threads: cores,
    repeats: 2,
    reference: mode === 'blocked' ? 'torch, 4 MiB row blocks (cosine_similarity formula)' : 'torch F.cosine_similarity(dim=0), whole tensors (the toolkit)',
    ours: (): Result => oursChild(get(), cores, mode === 'blocked' ? 2 : 1),
    ref: (): Result => lastJson(runReference('bench_similarity.py', [mode, String(cores), mode === 'blocked' ? '2' : '1', ...get()], { env: threadEnv(cores) })),
    note: (o: Result, r: Result) => agreement(o, r),
  }));
}

if (process.argv[1]?.endsWith('compare-similarity.ts') && process.argv[2] === 'ours') {
  const [threads, repeats, ...dirs] = process.argv.slice(3);
  const { analyzeSimilarity } = await import('../src/params/similarity.ts');
  const { SimilarityPool } = await import('../src/params/similarity-pool.ts');
  const run = () => analyzeSimilarity(dirs, { threads: Number(threads) });
  await run(); // warm-up: JIT, worker start, page cache
  const times: number[] = [];
  let res: SimilarityResult | null = null;
  SimilarityPool.stats = { main: 0, worker: 0, taken: 0 };
  for (let i = 0; i < Number(repeats); i++) {
    const t0 = performance.now();
    res = await run();
    times.push((performance.now() - t0) / 1000);
  }
  console.log(JSON.stringify({ times, means: ourMeans(res!), bytes: res!.bytesRead, chunks: SimilarityPool.stats }));
}
