import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { main } from '../src/cli/main.ts';
import { readShardPlan } from '../src/scale/plan.ts';
import { runLocalWorkers } from '../src/scale/local-workers.ts';
import { knnHnsw, neighbourRecall } from '../src/geometry/knn-hnsw.ts';
import { knnBlock } from '../src/geometry/knn-sharded.ts';
import { mulberry32 } from '../src/util/random.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

/** N points near an 8-dimensional linear manifold in 64 dimensions (structured like activations, not uniform noise). */
function manifoldPoints(n: number, d = 64, latent = 8, seed = 1): Matrix<Float32Array> {
  const rand = mulberry32(seed);
  const normal = () => Math.sqrt(-2 * Math.log(rand() + 1e-300)) * Math.cos(2 * Math.PI * rand());
  const A = Float64Array.from({ length: latent * d }, normal);
  const data = new Float32Array(n * d);
  const z = new Float64Array(latent);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < latent; a++) z[a] = normal();
    for (let j = 0; j < d; j++) {
      let s = 0.05 * normal();
      for (let a = 0; a < latent; a++) s += z[a] * A[a * d + j];
      data[i * d + j] = s;
    }
  }
  return { rows: n, cols: d, data };
}

/**
 * Scale: (1) HNSW (usearch) on 100k points — build + search time and recall@10 against exact k-NN on a sample,
 * next to the exact search's cost for one query block; (2) sharded extraction throughput with 1 vs 2 local
 * worker processes (8 shards, one runtime thread per worker).
 */
export async function benchScale(): Promise<void> {
  process.env.LATENT_ATLAS_QUIET = '1';
  const n = 100_000;
  const k = 10;
  const X = manifoldPoints(n);
  console.log(`\n## HNSW neighbours (usearch) on ${n} points, d=${X.cols} (8-d manifold + noise), k=${k}`);
  let t0 = performance.now();
  const approx = await knnHnsw(X, { k });
  const hnswSecs = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const r = neighbourRecall(X, approx, { sample: 200, seed: 7 });
  const recallSecs = (performance.now() - t0) / 1000;
  console.log(`hnsw build+search all ${n} rows: ${hnswSecs.toFixed(1)} s; recall@${k} ${r.recall.toFixed(4)} on ${r.sample} sampled rows (exact check ${recallSecs.toFixed(1)} s)`);
  t0 = performance.now();
  await knnBlock(X, 0, 1000, { k });
  const blockSecs = (performance.now() - t0) / 1000;
  console.log(`exact k-NN, one query block of 1000 rows against all ${n}: ${blockSecs.toFixed(1)} s (→ ~${((blockSecs * n) / 1000 / 60).toFixed(0)} min for all rows in one process; split over workers by query block)`);

  const root = mkdtempSync(join(tmpdir(), 'atlas-bench-scale-'));
  try {
    const model = join(root, 'model');
    writeTinyCheckpoint(model, { architecture: 'gpt2', seed: 1, nLayer: 4, dModel: 256, nHead: 4, maxPositions: 256 });
    console.log('\n## sharded extraction, local worker processes (gpt2 4 layers d=256, builtin:topics 360 texts, 8 shards, 1 thread per worker)');
    let one = 0;
    for (const workers of [1, 2]) {
      const P = join(root, `plan-${workers}`);
      const log = console.log;
      console.log = () => {};
      try {
        await main(['plan', '--model', model, '--data', 'builtin:topics', '--batch-size', '8', '--threads', '1', '--cache', join(root, `cache-${workers}`), '--shards', '8', '--out', P]);
      } finally {
        console.log = log;
      }
      const plan = readShardPlan(P);
      t0 = performance.now();
      const res = await runLocalWorkers(P, plan.shards.map((s) => s.index), workers);
      const secs = (performance.now() - t0) / 1000;
      if (res.failed.length) throw new Error(res.failed.map((f) => f.message).join('; '));
      if (workers === 1) one = secs;
      console.log(`${workers} worker${workers > 1 ? 's' : ' '}: ${secs.toFixed(1)} s  ${(360 / secs).toFixed(1)} texts/s${workers > 1 ? `  (×${(one / secs).toFixed(2)} vs 1)` : ''}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
