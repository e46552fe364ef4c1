/**
 * Side-by-side with the reference tools: the same workloads on the same inputs, ours vs PyTorch /
 * scikit-learn / scipy / numpy (Debian's /usr/bin/python3, see scripts/reference/python.ts).
 *
 * Protocol (fair on a shared, noisy machine):
 *  - each side runs in its own process, one per round, interleaved A B A B for ATLAS_COMPARE_ROUNDS rounds
 *    (default 3); in every process an untimed warm-up (JIT, sessions, imports: at least one run and at least
 *    0.3 s, the same rule on both sides), then the timed runs;
 *  - the same thread count on both sides: THREADS is passed to our calls and LATENT_ATLAS_THREADS, and to the
 *    reference as OMP_NUM_THREADS, torch.set_num_threads and threadpoolctl limits; OMP_WAIT_POLICY=PASSIVE on
 *    both (no OpenMP spin-waiting that would steal the other thread's core); the reference child runs without
 *    OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some machines here for old OpenBLAS builds), and its BLAS and
 *    kernel are printed;
 *  - the same precision where the reference has a choice: float32 input for PCA / k-NN / t-SNE (both sides
 *    read the same float32 .npy), float64 distances for MDS;
 *  - min and median of every side's timed runs, ratio = ours / reference (< 1: ours faster), and the 1-minute
 *    load average before and after each row.
 * Workloads: GPT-2-small-shaped forward 8×128 (1 and 2 threads), PCA 10,000×768 → 50 (randomized / full),
 * exact k-NN k = 30 on 10,000×768 (with the GFLOP/s of one distance block against onnxruntime's MatMul ceiling
 * measured in the same run), TwoNN + Gride scaling from a k = 64 table of 10,000 points (numpy transcription of
 * DADApy), classical MDS of 2,000 points (numpy eigh), UMAP 5,000×50 (umap-learn, seeded, 1 thread; skipped when
 * umap-learn is missing), t-SNE 2,000×50 (Barnes–Hut), all-pairs Dijkstra on a
 * 5,000-node k-NN graph, trustworthiness on 2,000 points, per-sample gradients of GPT-2-small 4×128 (torch loop and
 * functorch vmap(grad), with the GFLOP/s against the MatMul ceiling). Skipped, with a note, when the reference Python is
 * missing. First it re-checks that real torch.load reads our pytorch_model.bin files.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, cpus, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpy, readNpyF32, writeNpy } from '../src/data/npy.ts';
import { writeTinyCheckpoint, GPT2_SMALL_SHAPE } from '../src/model/tiny-checkpoint.ts';
import { knn } from '../src/geometry/knn.ts';
import { REFERENCE_DIR, REFERENCE_PYTHON, referenceEnv, referenceUnavailable, runReference } from '../scripts/reference/python.ts';
import { checkTorchLoad } from '../scripts/reference/check-torch-load.ts';
import { matmulCeiling } from './runtime.ts';
import { similaritySpecs } from './compare-similarity.ts';
import { PSG_CHECK } from './compare-ours.ts';

type Result = Record<string, unknown> & { times: number[] };

interface RowSpec {
  workload: string;
  label: string;
  threads: number;
  repeats: number;
  reference: string;
  note?: (ours: Result, ref: Result, dir: string) => string;
  /** A row's own child runners (default: compare-ours.ts / bench_reference.py with `workload`). */
  ours?: () => Result;
  ref?: () => Result;
}

interface Row {
  spec: RowSpec;
  ours: number[];
  ref: number[];
  load: [number, number];
  note: string;
}

const HERE = dirname(fileURLToPath(import.meta.url));
const ROUNDS = Number(process.env.ATLAS_COMPARE_ROUNDS) || 3;

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

function threadEnv(threads: number): Record<string, string> {
  const t = String(threads);
  return { OMP_NUM_THREADS: t, OMP_WAIT_POLICY: 'PASSIVE', MKL_NUM_THREADS: t, OPENBLAS_NUM_THREADS: t, NUMBA_NUM_THREADS: t, LATENT_ATLAS_THREADS: t };
}

function lastJson(stdout: string): Result {
  return JSON.parse(stdout.trim().split('\n').pop()!) as Result;
}

function runOursChild(dir: string, s: RowSpec): Result {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(HERE, 'compare-ours.ts'), dir, s.workload, String(s.threads), String(s.repeats)], {
    env: { ...process.env, ...threadEnv(s.threads), LATENT_ATLAS_QUIET: '1' }, encoding: 'utf8', maxBuffer: 64 * 2 ** 20,
  });
  if (r.status !== 0) throw new Error(`compare-ours ${s.workload} failed (exit ${r.status}):\n${r.stderr}`);
  return lastJson(r.stdout);
}

function runRefChild(dir: string, s: RowSpec): Result {
  return lastJson(runReference('bench_reference.py', ['run', dir, s.workload, String(s.threads), String(s.repeats)], { env: threadEnv(s.threads) }));
}

function measure(dir: string, s: RowSpec): Row {
  const load0 = loadavg()[0]!;
  const ours: number[] = [];
  const ref: number[] = [];
  let lastOurs: Result | null = null;
  let lastRef: Result | null = null;
  for (let round = 0; round < ROUNDS; round++) {
    lastOurs = s.ours ? s.ours() : runOursChild(dir, s);
    ours.push(...lastOurs.times);
    lastRef = s.ref ? s.ref() : runRefChild(dir, s);
    ref.push(...lastRef.times);
  }
  const row: Row = { spec: s, ours, ref, load: [load0, loadavg()[0]!], note: s.note ? s.note(lastOurs!, lastRef!, dir) : '' };
  console.log(`  ${s.label}: ours ${ours.map((t) => t.toFixed(3)).join(' ')} | ref ${ref.map((t) => t.toFixed(3)).join(' ')} | load ${row.load.map((l) => l.toFixed(1)).join('→')}`);
  return row;
}

function printTable(rows: Row[]): void {
  const head = ['workload', 'thr', 'ours min / med (s)', 'ref min / med (s)', 'ratio min', 'ratio med', 'reference', 'load', 'note'];
  const body = rows.map(({ spec, ours, ref, load, note }) => [
    spec.label, String(spec.threads),
    `${Math.min(...ours).toFixed(3)} / ${median(ours).toFixed(3)}`, `${Math.min(...ref).toFixed(3)} / ${median(ref).toFixed(3)}`,
    (Math.min(...ours) / Math.min(...ref)).toFixed(2), (median(ours) / median(ref)).toFixed(2),
    spec.reference, `${load[0].toFixed(1)}→${load[1].toFixed(1)}`, note,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ') + ' |';
  console.log(line(head));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const b of body) console.log(line(b));
}

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < b.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(a[i]! - b[i]!));
    maxRef = Math.max(maxRef, Math.abs(b[i]!));
  }
  return maxDiff / maxRef;
}

/** One whole process under /usr/bin/time: wall seconds and peak RSS (MB). */
function timedProcess(cmd: string, args: string[], env: NodeJS.ProcessEnv, stats: string): { wall: number; rssMb: number; stdout: string } {
  const r = spawnSync('/usr/bin/time', ['-o', stats, '-f', '%e %M', cmd, ...args], { env, encoding: 'utf8', maxBuffer: 64 * 2 ** 20 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  const [wall, kb] = readFileSync(stats, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
  return { wall: wall!, rssMb: kb! / 1024, stdout: r.stdout };
}

/**
 * `extract` end to end: the whole `latent-atlas extract` process (GPT-2-small-shaped checkpoint, builtin:topics =
 * 360 texts, all 13 hidden states, final token, fresh cache and token cache every run) against the whole torch
 * script scripts/reference/extract_reference.py doing the same (load safetensors, BPE with the checkpoint's
 * vocab.json + merges.txt, batches of 8, forward with all hidden states, final token, one .npy). Interleaved A B
 * for ROUNDS rounds, wall time and peak RSS of each process; the agreement of the stored vectors is checked.
 */
function extractRow(dir: string, threads: number): Row {
  const model = join(dir, 'gpt2-small');
  const topics = join(HERE, '..', 'data', 'builtin', 'topics.csv');
  const env = { ...threadEnv(threads), LATENT_ATLAS_QUIET: '1' };
  const ours: number[] = [], ref: number[] = [], oursRss: number[] = [], refRss: number[] = [];
  const load0 = loadavg()[0]!;
  const cacheDir = join(dir, `extract-cache-${threads}`);
  const refOut = join(dir, `torch-extract-${threads}.npy`);
  for (let round = 0; round < ROUNDS; round++) {
    rmSync(cacheDir, { recursive: true, force: true });
    const o = timedProcess(process.execPath, [join(HERE, '..', 'bin', 'latent-atlas.js'), 'extract', model, '--data', 'builtin:topics', '--layers', 'all', '--aggregate', 'final',
      '--threads', String(threads), '--cache', cacheDir, '--force'], { ...process.env, ...env }, join(dir, 'time-ours.txt'));
    ours.push(o.wall); oursRss.push(o.rssMb);
    const r = timedProcess(REFERENCE_PYTHON, [join(REFERENCE_DIR, 'extract_reference.py'), model, topics, refOut, String(threads)], referenceEnv(env), join(dir, 'time-ref.txt'));
    ref.push(r.wall); refRss.push(r.rssMb);
  }
  // Agreement: our layer files against the torch script's [13, 360, 768] stack.
  const torch = readNpyF32(refOut);
  const entry = (function find(d: string): string | null {
    if (existsSync(join(d, 'meta.json')) && readdirSync(d).some((n) => n.endsWith('.npy'))) return d;
    for (const n of readdirSync(d, { withFileTypes: true })) if (n.isDirectory()) { const f = find(join(d, n.name)); if (f) return f; }
    return null;
  })(cacheDir);
  let agree = 'no cache entry found';
  if (entry) {
    const files = readdirSync(entry).filter((n) => /^layer-\d+\.npy$/.test(n)).sort((a, b) => Number(a.match(/\d+/)![0]) - Number(b.match(/\d+/)![0]));
    const per = torch.shape[1]! * torch.shape[2]!;
    let worst = 0;
    files.forEach((f, l) => { worst = Math.max(worst, maxRelDiff(readNpyF32(join(entry, f)).data, torch.data.subarray(l * per, (l + 1) * per))); });
    agree = `${files.length} layers, max rel diff ${worst.toExponential(1)}`;
  }
  const rss = (v: number[]) => `${Math.min(...v).toFixed(0)} / ${median(v).toFixed(0)}`;
  const note = `peak RSS MB ours ${rss(oursRss)}, torch ${rss(refRss)} (ratio min ${(Math.min(...oursRss) / Math.min(...refRss)).toFixed(2)}, med ${(median(oursRss) / median(refRss)).toFixed(2)}); ${agree}`;
  const row: Row = {
    spec: { workload: 'extract', label: 'extract, 360 texts, GPT-2-small, all layers, final token (whole process)', threads, repeats: 1, reference: 'torch script (extract_reference.py)' },
    ours, ref, load: [load0, loadavg()[0]!], note,
  };
  console.log(`  ${row.spec.label}: ours ${ours.map((t) => t.toFixed(2)).join(' ')} s, ${oursRss.map((m) => m.toFixed(0)).join(' ')} MB | ref ${ref.map((t) => t.toFixed(2)).join(' ')} s, ${refRss.map((m) => m.toFixed(0)).join(' ')} MB | load ${row.load.map((l) => l.toFixed(1)).join('→')}`);
  return row;
}

/**
 * Per-sample gradients of all 124 M parameters, GPT-2-small shape, 4 texts × 128 tokens (forward, next-token
 * cross-entropy, per-sample backward), against torch's faster variant in each process: a per-sample loop
 * (autograd.grad per text) or functorch vmap(grad). The runners keep every round's times of both torch
 * variants, so the note gives the ratio against each; agreement: per-sample gradient norms over all tensors
 * and some sample-0 tensors (PSG_CHECK) against each variant.
 */
function perSampleGradSpec(dir: string, threads: number): RowSpec {
  const all: Record<'ours' | 'loop' | 'vmap', number[]> = { ours: [], loop: [], vmap: [] };
  const spec: RowSpec = {
    workload: 'per-sample-grad', label: 'per-sample gradients, GPT-2-small shape, 4×128', threads, repeats: 2,
    reference: 'torch per-sample loop / functorch vmap(grad), faster of the two',
    ours: () => { const r = runOursChild(dir, spec); all.ours.push(...r.times); return r; },
    ref: () => {
      const r = runRefChild(dir, spec);
      for (const v of ['loop', 'vmap'] as const) all[v].push(...((r[`${v}_times`] as number[] | undefined) ?? []));
      return r;
    },
    note: (o, r) => {
      const parts = (['loop', 'vmap'] as const).map((v) => {
        if (!all[v].length) return `${v}: ${String(r[`${v}_error`] ?? 'not run')}`;
        const norms = r[`${v}_norms`] as number[];
        const dn = Math.max(...(o.norms as number[]).map((x, i) => Math.abs(x - norms[i]!) / norms[i]!));
        const dt = Math.max(...PSG_CHECK.map((n) => maxRelDiff(readNpyF32(join(dir, `ours-psg-${n}.npy`)).data, readNpyF32(join(dir, `torch-psg-${v}-${n}.npy`)).data)));
        return `vs ${v} ratio min ${(Math.min(...all.ours) / Math.min(...all[v])).toFixed(2)} / med ${(median(all.ours) / median(all[v])).toFixed(2)}, ` +
          `norms max rel diff ${dn.toExponential(1)}, ${PSG_CHECK.length} tensors ${dt.toExponential(1)}`;
      });
      return `ours streams each gradient to a sink in reused buffers, torch keeps them all; ${parts.join('; ')}; ${(Number(o.flops) / 1e9).toFixed(0)} GFLOP per batch`;
    },
  };
  return spec;
}

export async function benchCompare(): Promise<void> {
  console.log('== compare: ours vs PyTorch / scikit-learn / scipy / numpy on the same inputs, interleaved processes ==');
  const missing = referenceUnavailable();
  if (missing) {
    console.log(`compare: SKIPPED — ${missing}. Install Debian's python3-numpy python3-scipy python3-sklearn python3-torch to run it.`);
    return;
  }
  const cores = availableParallelism();
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown CPU'}, ${cores} cores; ${new Date().toISOString()}; ${ROUNDS} rounds per row (ATLAS_COMPARE_ROUNDS)`);
  const torchLoad = checkTorchLoad();
  const bad = torchLoad.filter((r) => r.problems.length);
  console.log(`torch.load(weights_only=True) of our pytorch_model.bin (gpt2/llama × F32/F16/BF16): ${bad.length ? `FAILED ${bad.map((r) => `${r.bin}: ${r.problems.join('; ')}`).join(' | ')}` : `${torchLoad.length} files, every tensor bit-identical`}`);
  for (const t of new Set([1, cores])) console.log(`reference BLAS at ${t} thread(s): ${runReference('bench_reference.py', ['blas', String(t)], { env: threadEnv(t) }).trim()}`);
  const dir = mkdtempSync(join(tmpdir(), 'atlas-compare-'));
  const rows: Row[] = [];
  try {
    runReference('bench_reference.py', ['inputs', dir]);
    writeTinyCheckpoint(join(dir, 'gpt2-small'), { ...GPT2_SMALL_SHAPE, seed: 1 });
    // The k = 64 table both ID sides start from (float64 distances, self excluded).
    const filter = process.env.ATLAS_COMPARE_ONLY;
    if (!filter || filter.split(',').includes('id')) {
      const x10k = readNpyF32(join(dir, 'x10k.npy'));
      const table = await knn({ rows: x10k.shape[0]!, cols: x10k.shape[1]!, data: x10k.data }, { k: 64 });
      writeNpy(join(dir, 'knn64-indices.npy'), table.indices, [table.n, table.k]);
      writeNpy(join(dir, 'knn64-distances.npy'), table.distances, [table.n, table.k]);
    }

    const specs: RowSpec[] = [
      ...[1, cores].map((threads): RowSpec => ({
        workload: 'gpt2-forward', label: `GPT-2-small forward 8×128 (all hidden states)`, threads, repeats: 2, reference: 'torch float32 (hf_forward.py)',
        note: (_o, _r, d) => `last hidden max rel diff ${maxRelDiff(readNpyF32(join(d, `ours-last-hidden-${threads}.npy`)).data, readNpyF32(join(d, `torch-last-hidden-${threads}.npy`)).data).toExponential(1)}`,
      })),
      ...[1, cores].map((threads): RowSpec => ({ workload: 'extract', label: 'extract end to end', threads, repeats: 1, reference: 'torch script' })),
      { workload: 'pca-randomized', label: 'PCA 10,000×768 → 50, randomized (float32)', threads: cores, repeats: 4, reference: 'sklearn PCA randomized', note: (o, r) => `σ₁…σ₅₀ max rel diff vs sklearn ${Math.max(...(o.sv as number[]).map((v, i) => Math.abs(v - (r.sv as number[])[i]!) / (r.sv as number[])[i]!)).toExponential(1)}` },
      { workload: 'pca-full', label: 'PCA 10,000×768 → 50, full (float32)', threads: cores, repeats: 4, reference: 'sklearn PCA full', note: (o, r) => `σ₁…σ₅₀ max rel diff vs sklearn ${Math.max(...(o.sv as number[]).map((v, i) => Math.abs(v - (r.sv as number[])[i]!) / (r.sv as number[])[i]!)).toExponential(1)}` },
      {
        workload: 'knn', label: 'exact k-NN k = 30, 10,000×768', threads: cores, repeats: 2, reference: 'sklearn NearestNeighbors brute',
        note: (o, _r, d) => {
          const sk = readNpy(join(d, 'sk-knn-indices.npy')).data as Int32Array;
          const ours = readNpy(join(d, 'ours-knn-indices.npy')).data as Int32Array;
          let same = 0;
          for (let i = 0; i < sk.length; i++) if (sk[i] === ours[i]) same++;
          return `${((100 * same) / sk.length).toFixed(2)}% same slots (sklearn float32 distances); block GEMM ${Number(o.blockGflops).toFixed(0)} GFLOP/s, in the search ${Number(o.searchGflops).toFixed(0)} GFLOP/s, whole search ${Number(o.wholeGflops).toFixed(0)} GFLOP/s`;
        },
      },
      {
        workload: 'id', label: 'TwoNN + Gride scaling, k = 64 table, 10,000 points', threads: 1, repeats: 10, reference: 'DADApy, numpy transcription',
        note: (o, r) => `TwoNN ${Number(o.twonn).toFixed(4)} vs ${Number(r.twonn).toFixed(4)}; Gride max |Δ| ${Math.max(...(o.gride as number[]).map((v, i) => Math.abs(v - (r.gride as number[])[i]!))).toExponential(1)}`,
      },
      {
        workload: 'mds', label: 'classical MDS, 2,000 points → 2', threads: cores, repeats: 2, reference: 'numpy eigh (full)',
        note: (o, r) => `eigenvalues max rel diff ${Math.max(...(o.eigenvalues as number[]).map((v, i) => Math.abs(v - (r.eigenvalues as number[])[i]!) / Math.abs((r.eigenvalues as number[])[i]!))).toExponential(1)}`,
      },
      {
        workload: 'umap', label: 'UMAP 5,000×50 → 2, 500 epochs, seeded', threads: 1, repeats: 1, reference: 'umap-learn 0.5.3 (Debian), random_state=0',
        note: (o, r) => `trustworthiness (k = 15) ours ${Number(o.trust).toFixed(3)}, umap-learn ${Number(r.trust).toFixed(3)}; umap-learn: NN-descent k-NN, ours exact; both seeded single-thread SGD`,
      },
      { workload: 'tsne', label: 't-SNE 2,000×50, Barnes–Hut, 1000 iter', threads: cores, repeats: 1, reference: 'sklearn TSNE', note: (o, r) => `KL ours ${Number(o.kl).toFixed(3)}, sklearn ${Number(r.kl).toFixed(3)}` },
      {
        workload: 'shortest-path', label: 'all-pairs Dijkstra, 5,000-node k-NN graph (k = 15)', threads: cores, repeats: 1, reference: 'scipy shortest_path D',
        note: (o, r) => `checksum rel diff ${(Math.abs(Number(o.checksum) - Number(r.checksum)) / Number(r.checksum)).toExponential(1)}`,
      },
      {
        workload: 'fisher-point', label: 'latent Fisher metric, one point at the last layer (GPT-2-small shape)', threads: cores, repeats: 3, reference: 'torch (fisher_point)',
        note: (o, _r, d) => {
          const a = readNpy(join(d, 'ours-fisher-G.npy')).data as Float64Array;
          const b = readNpy(join(d, 'torch-fisher-G.npy')).data as Float64Array;
          let num = 0, den = 0;
          for (let i = 0; i < b.length; i++) { num += (a[i] - b[i]) ** 2; den += b[i] ** 2; }
          return `G rel Frobenius diff ${Math.sqrt(num / den).toExponential(1)}; ${(Number(o.flops) / 1e9).toFixed(1)} GFLOP per point`;
        },
      },
      { workload: 'trustworthiness', label: 'trustworthiness, 2,000 points (k = 5)', threads: cores, repeats: 2, reference: 'sklearn trustworthiness', note: (o, r) => `ours ${Number(o.value).toFixed(6)}, sklearn ${Number(r.value).toFixed(6)}` },
      perSampleGradSpec(dir, cores),
      ...similaritySpecs(cores),
    ];
    for (const s of specs) {
      if (filter && !filter.split(',').includes(s.workload)) continue;
      if (s.workload === 'umap' && spawnSync(REFERENCE_PYTHON, ['-c', 'import umap'], { env: referenceEnv() }).status !== 0) {
        console.log('  UMAP row skipped: umap-learn is missing (Debian: apt-get install umap-learn)');
        continue;
      }
      if (s.workload === 'extract') { rows.push(extractRow(dir, s.threads)); continue; }
      if (s.workload === 'fisher-point') {
        const ceiling = await matmulCeiling(cores);
        const row = measure(dir, s);
        const gflop = Number(row.note.match(/([\d.]+) GFLOP per point/)?.[1]);
        const rate = gflop / Math.min(...row.ours);
        row.note += ` = ${rate.toFixed(0)} GFLOP/s (best run), ${((100 * rate) / ceiling).toFixed(0)}% of the MatMul ceiling ${ceiling.toFixed(0)} GFLOP/s`;
        rows.push(row);
      } else if (s.workload === 'per-sample-grad') {
        const ceiling = await matmulCeiling(cores);
        const row = measure(dir, s);
        const rate = Number(row.note.match(/(\d+) GFLOP per batch/)?.[1]) / Math.min(...row.ours);
        row.note += ` = ${rate.toFixed(0)} GFLOP/s (best run), ${((100 * rate) / ceiling).toFixed(0)}% of the MatMul ceiling ${ceiling.toFixed(0)} GFLOP/s`;
        rows.push(row);
      } else if (s.workload === 'knn') {
        const ceiling = await matmulCeiling(cores);
        const row = measure(dir, s);
        const block = Number(row.note.match(/block GEMM (\d+)/)?.[1]);
        const search = Number(row.note.match(/in the search (\d+)/)?.[1]);
        const whole = Number(row.note.match(/whole search (\d+)/)?.[1]);
        row.note += ` = ${((100 * block) / ceiling).toFixed(0)}% / ${((100 * search) / ceiling).toFixed(0)}% / ${((100 * whole) / ceiling).toFixed(0)}% of the MatMul ceiling ${ceiling.toFixed(0)} GFLOP/s`;
        rows.push(row);
      } else rows.push(measure(dir, s));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('');
  printTable(rows);
}

if (process.argv[1]?.endsWith('compare.ts')) await benchCompare();
