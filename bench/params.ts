/**
 * Parameter-space benchmarks:
 * 1. per-sample gradient throughput (samples/s) at length 128 on a GPT-2-small-shaped random checkpoint
 *    (124 M parameters): forward + per-sample backward, with (a) a sink that only receives the gradients (in
 *    reused buffers, BackwardOptions.reuse) and
 *    (b) the Fisher accumulation (squares summed into float32 accumulators), batch 4 × 128;
 * 2. similarity-analyzer throughput (GB/s of stored weights read) and peak RSS on three generated ~270 MB
 *    checkpoints (GPT-2-small widths, 4 layers; largest tensor: wte, 154 MB), run in a child process so the
 *    peak RSS is the analyzer's own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { writeTinyCheckpoint, GPT2_SMALL_SHAPE, mulberry32 } from '../src/model/tiny-checkpoint.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { backward, crossEntropy, forward, nextTokenTargets, type TokenBatch } from '../src/params/backprop.ts';
import { diagonalFisher } from '../src/params/fisher.ts';
import type { ModelSpec } from '../src/model/spec.ts';

/**
 * Multiply-add FLOPs of forward + backward of a batch of B texts × T tokens (what the per-sample gradients
 * cost): every weight product three times (forward, input gradient, weight gradient: 6·weights per token, the
 * LM head included), attention's QKᵀ and P·V (full T × T, as computed) three times. Norms, activations,
 * softmax and the embedding scatters are not counted. GPT-2 small, 4 × 128: 387 GFLOP.
 */
export function perSampleGradFlops(spec: ModelSpec, B: number, T: number): number {
  const d = spec.dModel;
  let weights = spec.vocabSize * d;
  let attn = 0;
  for (const b of spec.blocks) {
    const { nHead: H, nKvHead: KV, headDim: hd } = b.attn;
    weights += (2 * H + 2 * KV) * hd * d + (b.mlp.gated ? 3 : 2) * b.mlp.dFF * d;
    attn += 2 * 2 * T * H * hd;
  }
  return 3 * B * T * (2 * weights + attn);
}

function randomBatch(B: number, T: number, V: number, seed: number): TokenBatch {
  const r = mulberry32(seed);
  return { ids: Int32Array.from({ length: B * T }, () => Math.floor(r() * V)), attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T };
}

async function benchGradients(dir: string): Promise<void> {
  const ckpt = openCheckpoint(dir);
  const params = ParamStore.fromCheckpoint(ckpt);
  ckpt.close();
  const B = 4, T = 128;
  const V = params.spec.vocabSize;
  // warm-up (onnxruntime sessions, JIT)
  const warm = randomBatch(1, T, V, 0);
  let tape = await forward(params, warm);
  await backward(tape, crossEntropy(tape, nextTokenTargets(warm)).dLogits, () => {}, { perSample: true, reuse: true });
  const batch = randomBatch(B, T, V, 1);
  let t0 = performance.now();
  tape = await forward(params, batch);
  const tForward = (performance.now() - t0) / 1000;
  const ce = crossEntropy(tape, nextTokenTargets(batch));
  const tLoss = (performance.now() - t0) / 1000 - tForward;
  const t1 = performance.now();
  await backward(tape, ce.dLogits, () => {}, { perSample: true, reuse: true });
  const tBackward = (performance.now() - t1) / 1000;
  const total = tForward + tLoss + tBackward;
  console.log(`per-sample gradients, GPT-2-small shape (${(params.count() / 1e6).toFixed(1)} M params), batch ${B} x ${T}: ` +
    `${(B / total).toFixed(2)} samples/s, ${(perSampleGradFlops(params.spec, B, T) / total / 1e9).toFixed(0)} GFLOP/s (forward ${tForward.toFixed(2)} s, loss ${tLoss.toFixed(2)} s, per-sample backward ${tBackward.toFixed(2)} s)`);
  t0 = performance.now();
  await diagonalFisher(params, [randomBatch(B, T, V, 2)]);
  const tFisher = (performance.now() - t0) / 1000;
  console.log(`diagonal Fisher (gradients + squared accumulation), batch ${B} x ${T}: ${(B / tFisher).toFixed(2)} samples/s`);
}

function benchSimilarity(root: string): void {
  const dirs = [1, 2, 3].map((seed) => {
    const dir = join(root, `sim-${seed}`);
    writeTinyCheckpoint(dir, { ...GPT2_SMALL_SHAPE, nLayer: 4, seed });
    return dir;
  });
  const moduleUrl = new URL('../src/params/similarity.ts', import.meta.url).href;
  const code = `
    import { analyzeSimilarity } from ${JSON.stringify(moduleUrl)};
    import { readFileSync } from 'node:fs';
    // VmHWM, not resourceUsage().maxRSS: Linux carries ru_maxrss over exec from the (forked) parent
    const hwm = () => Number(/VmHWM:\\s+(\\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))[1]);
    const base = hwm();
    const t0 = performance.now();
    const res = await analyzeSimilarity(${JSON.stringify(dirs)});
    const s = (performance.now() - t0) / 1000;
    console.log(JSON.stringify({ s, bytes: res.bytesRead, baseKiB: base, peakKiB: hwm(), tensors: res.tensors.length }));`;
  const run = (): { s: number; bytes: number; baseKiB: number; peakKiB: number; tensors: number } => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], { cwd: fileURLToPath(new URL('..', import.meta.url)), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`similarity child failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').pop()!);
  };
  run(); // warm the page cache
  const r = run();
  const largest = GPT2_SMALL_SHAPE.vocabSize * GPT2_SMALL_SHAPE.dModel * 4;
  console.log(`similarity, 3 checkpoints x ${(r.bytes / 3 / 2 ** 20).toFixed(0)} MiB (3 pairs, ${r.tensors} tensors, page cache warm): ` +
    `${(r.bytes / r.s / 1e9).toFixed(2)} GB/s read; peak RSS ${(r.peakKiB / 1024).toFixed(0)} MiB ` +
    `(process before the analysis ${(r.baseKiB / 1024).toFixed(0)} MiB; largest tensor ${(largest / 2 ** 20).toFixed(0)} MiB, 2x = ${(2 * largest / 2 ** 20).toFixed(0)} MiB)`);
}

export async function benchParams(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'bench-params-'));
  try {
    console.log('== params: per-sample gradients and similarity analyzer ==');
    let t0 = performance.now();
    const dir = join(root, 'gpt2-small');
    writeTinyCheckpoint(dir, { ...GPT2_SMALL_SHAPE, seed: 1 });
    console.log(`(GPT-2-small-shaped checkpoint written in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    await benchGradients(dir);
    rmSync(dir, { recursive: true, force: true });
    t0 = performance.now();
    benchSimilarity(root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
