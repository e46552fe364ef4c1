/**
 * Runtime benchmark: onnxruntime's float32 MatMul ceiling on this CPU versus all-hidden-state extraction
 * throughput of a GPT-2-small-shaped random model (12 layers, d=768, 12 heads, vocab 50257), batch 8 x 128.
 *
 * FLOP counting (per token): 2 x (weights in the block matmuls: 12 layers x 12 d² = 84.9 M) for the
 * projections, plus attention scores and weighted sum as computed (full T x T, masked, not halved for
 * causality): 12 layers x 2 x 2 x T x d. The embedding gather, norms, activations and the unrequested lm_head
 * are not counted.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, createSession } from '../src/model/onnx-builder.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { randomWeightSource, prng } from '../test/reference/random-weights.ts';

async function timeIt(fn: () => Promise<unknown>, reps: number, warmup = 1): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  // best of `reps`: the machine may be shared, and a ceiling is a best case; the model gets the same treatment
  return Math.min(...times);
}

/** Shape of the ceiling probe: x [M, K] times a constant weight, N outputs. */
export interface ProbeShape {
  M: number;
  K: number;
  N: number;
  /** Weight stored [N, K] and applied transposed by Gemm (transB), as the model's projections are (graph.ts linear); default MatMul on [K, N]. */
  transB?: boolean;
}

const GPT2_PROBE: ProbeShape = { M: 1024, K: 768, N: 3072 };

/**
 * Ceiling probe: one [M,K] float32 product with a constant right operand (what every projection is), run
 * through the same onnxruntime and the same JS round trip as the model.
 */
async function matmulProbe(threads: number, shape: ProbeShape = GPT2_PROBE): Promise<{ flops: number; run: () => Promise<unknown>; release: () => Promise<void> }> {
  const { M, K, N } = shape;
  const g = new GraphBuilder('ceiling');
  g.input('x', 'float32', [M, K]);
  const r = prng(7);
  const w = g.initializer('w', Float32Array.from({ length: K * N }, () => r() - 0.5), shape.transB ? [N, K] : [K, N]);
  if (shape.transB) g.node('Gemm', ['x', w], 'y', { transB: 1 });
  else g.node('MatMul', ['x', w], 'y');
  g.output('y', 'float32', [M, N]);
  const s = await createSession(g, { threads });
  const x = new ort.Tensor('float32', Float32Array.from({ length: M * K }, () => r() - 0.5), [M, K]);
  return { flops: 2 * M * K * N, run: () => s.run({ x }), release: () => s.release() };
}

/** GFLOP/s of onnxruntime's float32 MatMul (default 1024x768 @ 768x3072), best of `reps`. */
export async function matmulCeiling(threads: number, reps = 10, shape: ProbeShape = GPT2_PROBE): Promise<number> {
  const p = await matmulProbe(threads, shape);
  const t = await timeIt(p.run, reps, 3);
  await p.release();
  return p.flops / t / 1e9;
}

export async function benchRuntime(): Promise<void> {
  const B = 8, T = 128, L = 12, d = 768;
  let t0 = performance.now();
  const src = randomWeightSource({ model_type: 'gpt2', n_layer: L, n_embd: d, n_head: 12, vocab_size: 50257, n_positions: 1024 }, 1, 0.02);
  console.log(`== runtime: GPT-2-small-shaped random model, batch ${B} x ${T}, all ${L + 1} hidden states ` +
    `(weights generated in ${((performance.now() - t0) / 1000).toFixed(1)} s); ceiling = onnxruntime MatMul 1024x768 @ 768x3072 ==`);
  const r = prng(3);
  const ids = Int32Array.from({ length: B * T }, () => Math.floor(r() * 50257));
  const input = { ids, attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T };
  const flopsPerToken = 2 * L * 12 * d * d + L * 4 * T * d;
  for (const threads of [1, 2]) {
    const probe = await matmulProbe(threads);
    t0 = performance.now();
    const rt = await TransformerRuntime.create(src, { threads });
    const build = (performance.now() - t0) / 1000;
    // Interleave ceiling and model rounds so that both see the same machine load (the CPU may be shared).
    let tCeil = Infinity, tModel = Infinity;
    await timeIt(probe.run, 0, 3);
    await timeIt(() => rt.forward(input), 0, 2);
    for (let round = 0; round < 4; round++) {
      tCeil = Math.min(tCeil, await timeIt(probe.run, 5, 0));
      tModel = Math.min(tModel, await timeIt(() => rt.forward(input), 1, 0));
    }
    await rt.release();
    await probe.release();
    const ceiling = probe.flops / tCeil / 1e9;
    const gflops = (flopsPerToken * B * T) / tModel / 1e9;
    console.log(
      `  threads=${threads}: ceiling ${ceiling.toFixed(1)} GFLOP/s | session build ${build.toFixed(2)} s | forward ${tModel.toFixed(3)} s = ` +
        `${((B * T) / tModel).toFixed(0)} tokens/s, ${gflops.toFixed(1)} GFLOP/s = ${((100 * gflops) / ceiling).toFixed(0)}% of the ceiling`,
    );
  }
}
