/**
 * Our side of bench/compare.ts, one process per round:
 *
 *   node --import tsx bench/compare-ours.ts DIR WORKLOAD THREADS REPEATS
 *
 * runs WORKLOAD once untimed (warm-up: JIT, onnxruntime sessions), then REPEATS timed runs, and prints one JSON
 * line {"times": [...], ...}. The inputs in DIR are the ones the reference side reads (bench_reference.py
 * inputs, plus the k = 64 neighbour table compare.ts writes). THREADS is passed to every call that takes it.
 */
import { join } from 'node:path';
import { gramPanels } from '../src/geometry/symmetric-gram.ts';
import { readNpy, readNpyF32, writeNpy } from '../src/data/npy.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { pca, type PcaSolver } from '../src/geometry/pca.ts';
import { knn, DISTANCE_EPS, symmetricBlockRows, type KnnResult } from '../src/geometry/knn.ts';
import { tsne } from '../src/geometry/tsne.ts';
import { umap } from '../src/geometry/umap.ts';
import { knnGraph } from '../src/geometry/graph.ts';
import { geodesicDistances } from '../src/geometry/geodesic.ts';
import { trustworthiness } from '../src/geometry/quality.ts';
import { twoNNFromKnn } from '../src/geometry/twonn.ts';
import { idScalingGride } from '../src/geometry/gride.ts';
import { classicalMds } from '../src/geometry/mds.ts';
import { gemm } from '../src/geometry/gemm.ts';
import type { Matrix } from '../src/geometry/matrix.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { backward, crossEntropy, forward, nextTokenTargets, type GradientSink } from '../src/params/backprop.ts';
import { tokenTail } from '../src/fisher/tail.ts';
import { exactFisher, lmHead } from '../src/fisher/metric.ts';
import { perSampleGradFlops } from './params.ts';

type Result = Record<string, unknown>;

/** The stored tensors whose sample-0 gradients the per-sample-grad row writes (ours-psg-NAME.npy) for the agreement check; bench_reference.py writes the same names (torch-psg-NAME.npy). */
export const PSG_CHECK = ['h.0.attn.c_attn.weight', 'h.11.mlp.c_proj.weight', 'wpe.weight', 'ln_f.bias'] as const;

function matrixOf(path: string): Matrix<Float32Array> {
  const a = readNpyF32(path);
  return { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data };
}

/**
 * Untimed warm-up, then `repeats` timed runs. The warm-up is at least one run and at least WARMUP_SECONDS
 * (bench_reference.py applies the same rule): a row of 15 ms runs is still tiering up in V8 after one run (and
 * numpy's first calls are slow too), which swung that row's median by 2× between runs.
 */
const WARMUP_SECONDS = 0.3;

async function timed(fn: () => Promise<unknown>, repeats: number): Promise<number[]> {
  const w0 = performance.now();
  do await fn(); while (performance.now() - w0 < WARMUP_SECONDS * 1000);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  return times;
}

/** The float32 product of one k-NN distance block (query rows × all points, into a reused buffer) and its GFLOP/s. */
async function gemmBlock(x: Matrix<Float32Array>, rows: number, threads: number): Promise<number> {
  const q: Matrix<Float32Array> = { rows, cols: x.cols, data: x.data.slice(0, rows * x.cols) };
  const out = new Float32Array(rows * x.rows);
  const run = () => gemm(q, x, { transposeB: true, threads, out });
  await run();
  let best = Infinity;
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await run();
    best = Math.min(best, (performance.now() - t0) / 1000);
  }
  return (2 * rows * x.rows * x.cols) / best / 1e9;
}

export async function runOurs(dir: string, workload: string, threads: number, repeats: number): Promise<Result> {
  const res: Result = {};
  let times: number[];
  switch (workload) {
    case 'gpt2-forward': {
      const idsNpy = readNpy(join(dir, 'ids.npy'));
      const [B, T] = idsNpy.shape as [number, number];
      const input = { ids: Int32Array.from(idsNpy.data as Int32Array), attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T };
      const ckpt = openCheckpoint(join(dir, 'gpt2-small'));
      const rt = await TransformerRuntime.create(ckpt, { threads });
      let last: Float32Array | null = null;
      times = await timed(async () => {
        const out = await rt.forward(input);
        last = out.hiddenStates[out.hiddenStates.length - 1]!.data as Float32Array;
      }, repeats);
      writeNpy(join(dir, `ours-last-hidden-${threads}.npy`), last!, [B, T, last!.length / (B * T)]);
      await rt.release();
      ckpt.close();
      break;
    }
    case 'pca-auto':
    case 'pca-randomized':
    case 'pca-full': {
      const x = matrixOf(join(dir, 'x10k.npy'));
      const solver = workload.slice(4) as PcaSolver;
      let used = '';
      let sv: number[] = [];
      times = await timed(async () => {
        const m = (await pca(x, { nComponents: 50, svdSolver: solver, threads })).model;
        used = m.solver;
        sv = Array.from(m.singularValues);
      }, repeats);
      res.solver = used;
      res.sv = sv;
      break;
    }
    case 'knn': {
      const x = matrixOf(join(dir, 'x10k.npy'));
      let out: KnnResult | null = null;
      let best = 0;
      let whole = 0;
      times = await timed(async () => {
        const stats = { gemmFlops: 0, gemmSeconds: 0 };
        const t0 = performance.now();
        out = await knn(x, { k: 30, threads, stats });
        best = Math.max(best, stats.gemmFlops / stats.gemmSeconds / 1e9);
        whole = Math.max(whole, stats.gemmFlops / ((performance.now() - t0) / 1000) / 1e9);
      }, repeats);
      writeNpy(join(dir, 'ours-knn-indices.npy'), out!.indices, [out!.n, out!.k]);
      // The distance products of the k-NN search are float32 GEMMs of row blocks against the points from the
      // block on: its widest block (the first: symmetricBlockRows rows × all points) alone, all products of the
      // search as they ran, and the search's product flops over its whole wall time (best timed runs).
      res.blockGflops = await gemmBlock(x, symmetricBlockRows(x.rows), threads);
      res.searchGflops = best;
      res.wholeGflops = whole;
      break;
    }
    case 'id': {
      const idx = readNpy(join(dir, 'knn64-indices.npy'));
      const table: KnnResult = {
        n: idx.shape[0]!, k: idx.shape[1]!, metric: 'euclidean', indices: idx.data as Int32Array,
        distances: readNpy(join(dir, 'knn64-distances.npy')).data as Float64Array, dtypeEps: DISTANCE_EPS,
      };
      let two = 0;
      let ids: number[] = [];
      times = await timed(async () => {
        two = twoNNFromKnn(table).id;
        ids = Array.from((await idScalingGride(table)).ids);
      }, repeats);
      res.twonn = two;
      res.gride = ids;
      break;
    }
    case 'mds': {
      const a = readNpy(join(dir, 'd2k.npy'));
      const d: Matrix<Float64Array> = { rows: a.shape[0]!, cols: a.shape[1]!, data: a.data as Float64Array };
      let ev: number[] = [];
      times = await timed(async () => { ev = Array.from((await classicalMds(d, { nComponents: 2, threads })).eigenvalues); }, repeats);
      res.eigenvalues = ev;
      break;
    }
    case 'tsne': {
      const x = matrixOf(join(dir, 'x2k.npy'));
      let kl = 0;
      times = await timed(async () => { kl = (await tsne(x, { seed: 0, threads })).klDivergence; }, repeats);
      res.kl = kl;
      break;
    }
    case 'umap': {
      const x = matrixOf(join(dir, 'x5k50.npy'));
      let emb: Float64Array | null = null;
      times = await timed(async () => { emb = (await umap(x, { nNeighbors: 15, minDist: 0.1, seed: 0, threads })).embedding.data; }, repeats);
      writeNpy(join(dir, 'ours-umap.npy'), Float32Array.from(emb!), [x.rows, 2]);
      // Quality, untimed (the reference reports scikit-learn's on its embedding).
      res.trust = await trustworthiness(x, { rows: x.rows, cols: 2, data: emb! }, { nNeighbors: 15 });
      break;
    }
    case 'shortest-path': {
      const x = matrixOf(join(dir, 'x5k.npy'));
      const graph = knnGraph(await knn(x, { k: 15, threads }));
      let sum = 0;
      times = await timed(async () => {
        const g = await geodesicDistances(graph, { disconnected: 'per-component', threads });
        sum = 0;
        for (const v of g.distances) if (Number.isFinite(v)) sum += v;
      }, repeats);
      res.checksum = sum;
      break;
    }
    case 'trustworthiness': {
      const x = matrixOf(join(dir, 'x2k.npy'));
      const y: Matrix<Float32Array> = { rows: x.rows, cols: 2, data: new Float32Array(x.rows * 2) };
      for (let i = 0; i < x.rows; i++) for (let c = 0; c < 2; c++) y.data[i * 2 + c] = x.data[i * x.cols + c]!;
      let v = 0;
      // Its k-NN reads LATENT_ATLAS_THREADS (set by compare.ts).
      times = await timed(async () => { v = await trustworthiness(x, y, { nNeighbors: 5 }); }, repeats);
      res.value = v;
      break;
    }
    case 'fisher-point': {
      // The exact latent Fisher metric of one point at the last layer (pre-norm state of the last token):
      // the final norm's Jacobian K (tokenTail, identity seeds) and G = Kᵀ Wᵀ(diag p − ppᵀ) W K (exactFisher).
      // The text's forward tape is computed once, untimed (the reference starts from the point too).
      const ckpt = openCheckpoint(join(dir, 'gpt2-small'));
      const params = ParamStore.fromCheckpoint(ckpt);
      const ids = readNpy(join(dir, 'ids.npy')).data as Int32Array;
      const T = 32;
      const tape = await forward(params, { ids: Int32Array.from(ids.subarray(0, T)), attentionMask: new Uint8Array(T).fill(1), batch: 1, seqLen: T });
      const head = lmHead(params);
      const L = params.spec.nLayer;
      let G: Float64Array | null = null;
      let point: Float64Array | null = null;
      times = await timed(async () => {
        const r = await tokenTail(params, tape, 0, { layer: L, seeds: 'identity' });
        G = (await exactFisher(head, r.postNorm, r.tangents!, r.m)).G;
        point = r.point;
      }, repeats);
      const d = head.d;
      writeNpy(join(dir, 'ours-fisher-point.npy'), point!, [d]);
      writeNpy(join(dir, 'ours-fisher-G.npy'), G!, [d, d]);
      // C = WcᵀWc as executed: the block rows on and above the diagonal of symmetric-gram.ts's panels
      // (Σ 2·V·b_i·(d − s_i), ~2/3 of 2·V·d²), G = T C Tᵀ (2 · 2·d³), logits and w̄ (2 · 2·V·d).
      const edges = gramPanels(d);
      let gram = 0;
      for (let i = 0; i + 1 < edges.length; i++) gram += 2 * head.V * (edges[i + 1]! - edges[i]!) * (d - edges[i]!);
      res.flops = gram + 4 * d ** 3 + 4 * head.V * d;
      ckpt.close();
      break;
    }
    case 'per-sample-grad': {
      // Forward, next-token cross-entropy and per-sample backward of the first 4 texts × 128 tokens: every
      // stored tensor's gradient for every text, as bench_reference.py's per_sample_grad computes them.
      const ckpt = openCheckpoint(join(dir, 'gpt2-small'));
      const params = ParamStore.fromCheckpoint(ckpt);
      ckpt.close();
      const ids = readNpy(join(dir, 'ids.npy'));
      const T = ids.shape[1]!;
      const B = 4;
      const batch = { ids: Int32Array.from((ids.data as Int32Array).subarray(0, B * T)), attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T };
      const run = async (sink: GradientSink) => {
        const tape = await forward(params, batch);
        await backward(tape, crossEntropy(tape, nextTokenTargets(batch)).dLogits, sink, { perSample: true, reuse: true, release: true });
      };
      times = await timed(() => run(() => {}), repeats);
      // Agreement (untimed): per-sample gradient norms over all tensors, and some sample-0 tensors.
      const sq = new Float64Array(B);
      await run((name, s, g) => {
        let acc = 0;
        for (let i = 0; i < g.length; i++) acc += g[i] * g[i];
        sq[s] += acc;
        if (s === 0 && (PSG_CHECK as readonly string[]).includes(name)) writeNpy(join(dir, `ours-psg-${name}.npy`), Float32Array.from(g), [g.length]);
      });
      res.norms = Array.from(sq, Math.sqrt);
      res.flops = perSampleGradFlops(params.spec, B, T);
      break;
    }
    default:
      throw new Error(`unknown workload ${workload}`);
  }
  res.times = times;
  return res;
}

if (process.argv[1]?.endsWith('compare-ours.ts')) {
  const [dir, workload, threads, repeats] = process.argv.slice(2);
  const out = await runOurs(dir!, workload!, Number(threads), Number(repeats));
  console.log(JSON.stringify(out));
}
