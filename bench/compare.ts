/**
 * Side-by-side with the reference tools: the same workloads on the same inputs, timed in our code and in
 * PyTorch / scikit-learn / scipy (Debian's /usr/bin/python3, see scripts/reference/python.ts), in one run:
 *
 *  - GPT-2-small-shaped all-hidden-state forward, batch 8 × 128, random weights (one safetensors file read by
 *    both): ours (onnxruntime) with 1 and 2 threads vs a torch float32 transcription of transformers' GPT2Model
 *    (scripts/reference/hf_forward.py) with 1 and 2 threads; the two last hidden states are compared too;
 *  - PCA 10,000×768 → 50 (ours auto/full/randomized vs sklearn auto/full), exact kNN k = 15 on 10,000×768
 *    (sklearn NearestNeighbors brute), t-SNE 2,000×50 (sklearn TSNE, Barnes–Hut), all-pairs Dijkstra on a
 *    5,000-node kNN graph (scipy shortest_path), trustworthiness on 2,000 points (sklearn).
 *
 * Protocol on both sides: one untimed warm-up, best of 2 (t-SNE and shortest paths: a single run, no
 * warm-up). The Python child runs without OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (they slow a current numpy)
 * and with OMP_NUM_THREADS = the core count; its BLAS is reported. Skipped, with a note, when the reference
 * Python is missing. First it re-checks that real torch.load reads our pytorch_model.bin files.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, readNpyF32 } from '../src/data/npy.ts';
import { writeTinyCheckpoint, GPT2_SMALL_SHAPE } from '../src/model/tiny-checkpoint.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { pca, type PcaSolver } from '../src/geometry/pca.ts';
import { knn } from '../src/geometry/knn.ts';
import { tsne } from '../src/geometry/tsne.ts';
import { knnGraph } from '../src/geometry/graph.ts';
import { geodesicDistances } from '../src/geometry/geodesic.ts';
import { trustworthiness } from '../src/geometry/quality.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { referenceUnavailable, runReference } from '../scripts/reference/python.ts';
import { checkTorchLoad } from '../scripts/reference/check-torch-load.ts';

interface Row {
  workload: string;
  ours: number;
  reference: number;
  referenceName: string;
  note?: string;
}

async function bestOf<T>(fn: () => Promise<T>, opts: { repeats?: number; warmup?: boolean } = {}): Promise<{ seconds: number; out: T }> {
  if (opts.warmup ?? true) await fn();
  let seconds = Infinity;
  let out!: T;
  for (let i = 0; i < (opts.repeats ?? 2); i++) {
    const t0 = performance.now();
    out = await fn();
    seconds = Math.min(seconds, (performance.now() - t0) / 1000);
  }
  return { seconds, out };
}

function reference(dir: string, workload: string, threads = availableParallelism()): Record<string, unknown> & { seconds: number } {
  const out = runReference('bench_reference.py', ['run', dir, workload, String(threads)], { env: { OMP_NUM_THREADS: String(availableParallelism()) } });
  return JSON.parse(out.trim().split('\n').pop()!) as Record<string, unknown> & { seconds: number };
}

function matrixOf(path: string): Matrix<Float32Array> {
  const a = readNpyF32(path);
  return { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data };
}

function printTable(rows: Row[]): void {
  const head = ['workload', 'ours (s)', 'reference (s)', 'ours/ref', 'reference', 'note'];
  const body = rows.map((r) => [r.workload, r.ours.toFixed(3), r.reference.toFixed(3), (r.ours / r.reference).toFixed(2), r.referenceName, r.note ?? '']);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const b of body) console.log(line(b));
}

export async function benchCompare(): Promise<void> {
  console.log('== compare: ours vs PyTorch / scikit-learn / scipy on the same inputs, same run ==');
  const missing = referenceUnavailable();
  if (missing) {
    console.log(`compare: SKIPPED — ${missing}. Install Debian's python3-numpy python3-scipy python3-sklearn python3-torch to run it.`);
    return;
  }
  const torchLoad = checkTorchLoad();
  const bad = torchLoad.filter((r) => r.problems.length);
  console.log(`torch.load(weights_only=True) of our pytorch_model.bin (gpt2/llama × F32/F16/BF16): ${bad.length ? `FAILED ${bad.map((r) => `${r.bin}: ${r.problems.join('; ')}`).join(' | ')}` : `${torchLoad.length} files, every tensor bit-identical`}`);
  console.log(`reference BLAS: ${runReference('bench_reference.py', ['blas']).trim()}`);
  const dir = mkdtempSync(join(tmpdir(), 'atlas-compare-'));
  const rows: Row[] = [];
  const sk = (w: string) => `sklearn ${w}`;
  try {
    runReference('bench_reference.py', ['inputs', dir]);

    // --- GPT-2-small forward -------------------------------------------------------------------------------
    const modelDir = join(dir, 'gpt2-small');
    writeTinyCheckpoint(modelDir, { ...GPT2_SMALL_SHAPE, seed: 1 });
    const idsNpy = readNpy(join(dir, 'ids.npy'));
    const [B, T] = idsNpy.shape as [number, number];
    const input = { ids: Int32Array.from(idsNpy.data as Int32Array), attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T };
    for (const threads of [1, 2]) {
      const ckpt = openCheckpoint(modelDir);
      const rt = await TransformerRuntime.create(ckpt, { threads });
      const ours = await bestOf(() => rt.forward(input));
      const ref = reference(dir, 'gpt2-forward', threads);
      const last = ours.out.hiddenStates[ours.out.hiddenStates.length - 1]!.data;
      const tl = readNpyF32(join(dir, `torch-last-hidden-${threads}.npy`)).data;
      let maxDiff = 0, maxRef = 0;
      for (let i = 0; i < tl.length; i++) {
        maxDiff = Math.max(maxDiff, Math.abs(last[i]! - tl[i]!));
        maxRef = Math.max(maxRef, Math.abs(tl[i]!));
      }
      rows.push({ workload: `GPT-2-small forward 8×128, ${threads} thread${threads > 1 ? 's' : ''}`, ours: ours.seconds, reference: ref.seconds, referenceName: `torch ${String(ref.torch)} (${String(ref.torch_threads)} thr)`, note: `last hidden max rel diff ${(maxDiff / maxRef).toExponential(1)}` });
      await rt.release();
      ckpt.close();
    }

    // --- PCA -----------------------------------------------------------------------------------------------
    const x10k = matrixOf(join(dir, 'x10k.npy'));
    const skAuto = reference(dir, 'pca-auto');
    const skFull = reference(dir, 'pca-full');
    for (const [solver, ref, refName] of [['auto', skAuto, 'auto (randomized in 1.2)'], ['randomized', skAuto, 'auto (randomized in 1.2)'], ['full', skFull, 'full']] as const) {
      const ours = await bestOf(() => pca(x10k, { nComponents: 50, svdSolver: solver as PcaSolver }));
      rows.push({ workload: `PCA 10,000×768 → 50, ours ${solver}${solver === 'auto' ? ` (${ours.out.model.solver})` : ''}`, ours: ours.seconds, reference: ref.seconds, referenceName: sk(`PCA ${refName}`) });
    }

    // --- kNN -----------------------------------------------------------------------------------------------
    const oursKnn = await bestOf(() => knn(x10k, { k: 15 }));
    const refKnn = reference(dir, 'knn');
    const skInd = readNpy(join(dir, 'sk-knn-indices.npy')).data as Int32Array;
    let same = 0;
    for (let i = 0; i < skInd.length; i++) if (skInd[i] === oursKnn.out.indices[i]) same++;
    rows.push({ workload: 'exact kNN k=15, 10,000×768', ours: oursKnn.seconds, reference: refKnn.seconds, referenceName: sk('NearestNeighbors brute'), note: `${((100 * same) / skInd.length).toFixed(2)}% same neighbour slots (sklearn float32 distances)` });

    // --- t-SNE ---------------------------------------------------------------------------------------------
    const x2k = matrixOf(join(dir, 'x2k.npy'));
    const oursTsne = await bestOf(() => tsne(x2k, { seed: 0 }), { repeats: 1, warmup: false });
    const refTsne = reference(dir, 'tsne');
    rows.push({ workload: 't-SNE 2,000×50 (Barnes–Hut, 1000 iter)', ours: oursTsne.seconds, reference: refTsne.seconds, referenceName: sk('TSNE'), note: `KL ours ${oursTsne.out.klDivergence.toFixed(3)}, sklearn ${Number(refTsne.kl).toFixed(3)}` });

    // --- shortest paths ------------------------------------------------------------------------------------
    const x5k = matrixOf(join(dir, 'x5k.npy'));
    const graph = knnGraph(await knn(x5k, { k: 15 }));
    const oursSp = await bestOf(() => geodesicDistances(graph, { disconnected: 'per-component' }), { repeats: 1, warmup: false });
    const refSp = reference(dir, 'shortest-path');
    let sum = 0;
    for (const v of oursSp.out.distances) if (Number.isFinite(v)) sum += v;
    rows.push({ workload: 'all-pairs Dijkstra, 5,000-node kNN graph (k=15)', ours: oursSp.seconds, reference: refSp.seconds, referenceName: 'scipy shortest_path D', note: `sum of distances rel diff ${(Math.abs(sum - Number(refSp.checksum)) / Number(refSp.checksum)).toExponential(1)}` });

    // --- trustworthiness -----------------------------------------------------------------------------------
    const y2k: Matrix<Float32Array> = { rows: x2k.rows, cols: 2, data: new Float32Array(x2k.rows * 2) };
    for (let i = 0; i < x2k.rows; i++) for (let c = 0; c < 2; c++) y2k.data[i * 2 + c] = x2k.data[i * x2k.cols + c]!;
    const oursTw = await bestOf(() => trustworthiness(x2k, y2k, { nNeighbors: 5 }));
    const refTw = reference(dir, 'trustworthiness');
    rows.push({ workload: 'trustworthiness 2,000 points (k=5)', ours: oursTw.seconds, reference: refTw.seconds, referenceName: sk('trustworthiness'), note: `ours ${oursTw.out.toFixed(6)}, sklearn ${Number(refTw.value).toFixed(6)}` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  printTable(rows);
}

if (process.argv[1]?.endsWith('compare.ts')) await benchCompare();
