/**
 * Intrinsic-dimension benchmark: exact k-NN (k = 64, enough for Gride's default range; TwoNN and label
 * overlap reuse it), TwoNN, Gride scaling and TwoNN decimation scaling on N = 10,000 points in d = 768
 * (random Gaussian data, float32 like cached activations). Prints time, throughput and peak memory.
 * `LATENT_ATLAS_BENCH_N` overrides N for a quick run.
 */
import { resourceUsage } from 'node:process';
import { knn, truncateKnn } from '../src/geometry/knn.ts';
import { twoNNFromKnn, idScaling2NN } from '../src/geometry/twonn.ts';
import { idScalingGride } from '../src/geometry/gride.ts';
import { labelOverlapFromKnn } from '../src/geometry/overlap.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { mulberry32 } from '../src/util/random.ts';

function gaussianMatrix(n: number, d: number, seed: number): Matrix<Float32Array> {
  const u = mulberry32(seed);
  const data = new Float32Array(n * d);
  for (let i = 0; i < n * d; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - u()));
    const th = 2 * Math.PI * u();
    data[i] = r * Math.cos(th);
    if (i + 1 < n * d) data[i + 1] = r * Math.sin(th);
  }
  return { rows: n, cols: d, data };
}

const mb = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

async function timed<T>(label: string, f: () => Promise<T> | T, extra: (ms: number) => string = () => ''): Promise<T> {
  const t = performance.now();
  const out = await f();
  const ms = performance.now() - t;
  console.log(`  ${label.padEnd(34)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${extra(ms)}  rss ${mb(process.memoryUsage().rss)}`);
  return out;
}

export async function benchGeometryId(): Promise<void> {
  const n = Number(process.env.LATENT_ATLAS_BENCH_N) || 10000;
  const d = 768;
  console.log(`geometry-id: N = ${n}, d = ${d}, float32 Gaussian data`);
  const X = gaussianMatrix(n, d, 1);
  const gflop = (k: number) => (ms: number) => `${(2 * n * n * d / ms / 1e6).toFixed(1)} GFLOP/s-equivalent (k = ${k})`;
  const t0 = performance.now();
  const nn30 = await timed('exact k-NN, k = 30', () => knn(X, { k: 30 }), gflop(30));
  const nn = await timed('exact k-NN, k = 64 (Gride range)', () => knn(X, { k: 64 }), gflop(64));
  const two = await timed('TwoNN (from the k-NN table)', () => twoNNFromKnn(nn));
  const gr = await timed('Gride scaling, range_max 64', () => idScalingGride(nn));
  const labels = Int32Array.from({ length: n }, (_, i) => i % 10);
  const lo = await timed('label overlap k = 30', () => labelOverlapFromKnn(truncateKnn(nn, 30), labels));
  const sc = await timed('TwoNN decimation scaling', () => idScaling2NN(X, { knn: nn }));
  await timed('TwoNN decimation (own k=32 table)', () => idScaling2NN(X));
  const total = (performance.now() - t0) / 1000;
  console.log(`  TwoNN ${two.id.toFixed(2)}; Gride ${Array.from(gr.ids, (v) => v.toFixed(1)).join(' ')}; ` +
    `decimation ${Array.from(sc.ids, (v) => v.toFixed(1)).join(' ')}; label overlap ${lo.overlap.toFixed(3)}; ` +
    `k=30 table agrees with k=64 prefix: ${nn30.indices[29] === nn.indices[29]}`);
  console.log(`  total ${total.toFixed(2)} s; peak RSS ${mb(resourceUsage().maxRSS * 1024)} (input ${mb(X.data.byteLength)})`);
}
