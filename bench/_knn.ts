import { readNpyF32, readNpy } from '../src/data/npy.ts';
import { knn } from '../src/geometry/knn.ts';
const a = readNpyF32('/tmp/perfid-in/x10k.npy');
const x = { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data };
const reps = Number(process.argv[2] ?? 3);
const ref = readNpy('/tmp/perfid-in/knn64-indices.npy').data as Int32Array; // from the old code, k = 64
for (let i = 0; i < reps; i++) {
  const stats = { gemmFlops: 0, gemmSeconds: 0 };
  const t = performance.now(); const r = await knn(x, { k: 30, threads: 2, stats }); const el = (performance.now() - t) / 1000;
  let diff = 0; for (let p = 0; p < r.n; p++) for (let c = 0; c < 30; c++) if (r.indices[p * 30 + c] !== ref[p * 64 + c]) diff++;
  console.log('knn', el.toFixed(3), 'gemm', stats.gemmSeconds.toFixed(3), (stats.gemmFlops / stats.gemmSeconds / 1e9).toFixed(0), 'GF/s', 'diff vs old', diff);
}
