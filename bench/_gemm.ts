import { readNpyF32 } from '../src/data/npy.ts';
import { gemm } from '../src/geometry/gemm.ts';
import { matmulCeiling } from './runtime.ts';
const a = readNpyF32('/tmp/perfid-in/x10k.npy');
const x = { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data };
const threads = 2;
async function blk(rows: number, cols: number) {
  const q = { rows, cols: x.cols, data: x.data.slice(0, rows * x.cols) };
  const b = { rows: cols, cols: x.cols, data: x.data.slice(0, cols * x.cols) };
  await gemm(q, b, { transposeB: true, threads });
  let best = Infinity;
  for (let i = 0; i < 4; i++) { const t0 = performance.now(); await gemm(q, b, { transposeB: true, threads }); best = Math.min(best, (performance.now() - t0) / 1000); }
  return (2 * rows * cols * x.cols) / best / 1e9;
}
for (let r = 0; r < 2; r++) {
  console.log('ceiling', (await matmulCeiling(threads)).toFixed(0), 'blk2048x10000', (await blk(2048, 10000)).toFixed(0), 'blk1250x10000', (await blk(1250, 10000)).toFixed(0), 'blk1024x3072', (await blk(1024, 3072)).toFixed(0), 'blk512x2000', (await blk(512, 2000)).toFixed(0));
}
