/**
 * MRI benchmark:
 * 1. BERT-base-shaped random encoder (12 layers, d=768, 12 heads, dFF 3072, vocab 30522), all hidden states,
 *    batch 8 × 128 tokens: tokens/s and GFLOP/s (per token: 2 × 12 × 12 d² for the projections + 12 × 4 T d
 *    for attention scores and the weighted sum; bidirectional, so nothing is halved), threads 1 and 2.
 * 2. The NRAG pipeline on synthetic pooled activations, 1000 texts × 768 features × 13 layers, 2 classes:
 *    standardised PCA to 2 components per layer, grid binning, grid NRAG, graph metrics.
 * 3. Probing: 5 stratified splits, StandardScaler + logistic regression (max_iter 1000) on the full
 *    1000 × 768 features and on the reduced 1000 × 26.
 */
import { parseConfig } from '../src/model/config.ts';
import { expectedTensorShapes } from '../src/model/checkpoint.ts';
import { TransformerRuntime, type WeightSource } from '../src/model/runtime.ts';
import type { F32Tensor } from '../src/model/tensor.ts';
import { ActivationAreas } from '../src/mri/activation-areas.ts';
import { Rng } from '../src/geometry/rng.ts';
import type { Matrix } from '../src/geometry/matrix.ts';

function bertBase(): WeightSource {
  const config = parseConfig({
    model_type: 'bert', num_hidden_layers: 12, hidden_size: 768, num_attention_heads: 12, intermediate_size: 3072,
    vocab_size: 30522, max_position_embeddings: 512, type_vocab_size: 2, hidden_act: 'gelu', layer_norm_eps: 1e-12,
  });
  const tensors = new Map<string, F32Tensor>();
  let s = 12345;
  for (const [name, shape] of expectedTensorShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const gain = name.endsWith('LayerNorm.weight');
    for (let i = 0; i < data.length; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      data[i] = gain ? 1 : ((s / 4294967296) - 0.5) * 0.06;
    }
    tensors.set(name, { shape, data });
  }
  return { config, tensor: (n) => tensors.get(n)! };
}

async function best(fn: () => Promise<unknown>, reps: number): Promise<number> {
  let t = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    t = Math.min(t, (performance.now() - t0) / 1000);
  }
  return t;
}

export async function benchMri(): Promise<void> {
  console.log('mri: BERT-base-shaped encoder, all 13 hidden states, batch 8 x 128');
  const src = bertBase();
  const B = 8, T = 128, L = 12, d = 768;
  const ids = new Int32Array(B * T).map((_, i) => (i * 7919) % 30522);
  const input = { ids, attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T };
  const flopsPerToken = 2 * L * 12 * d * d + L * 4 * T * d;
  for (const threads of [1, 2]) {
    const rt = await TransformerRuntime.create(src, { threads });
    await rt.forward(input);
    const t = await best(() => rt.forward(input), 3);
    await rt.release();
    console.log(`  threads=${threads}: forward ${t.toFixed(3)} s = ${((B * T) / t).toFixed(0)} tokens/s, ${((flopsPerToken * B * T) / t / 1e9).toFixed(1)} GFLOP/s`);
  }

  console.log('mri: NRAG pipeline, 1000 texts x 768 features x 13 layers, 2 classes');
  const n = 1000, layers = 13;
  const rng = new Rng(1);
  const labels = Array.from({ length: n }, (_, i) => i % 2);
  const mats: Matrix[] = Array.from({ length: layers }, (_, l) => {
    const data = new Float32Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) data[i * d + j] = rng.normal() + (j < 8 && labels[i] ? 0.3 * l : 0);
    return { rows: n, cols: d, data };
  });
  const areas = new ActivationAreas(
    { layers: [...mats.keys()], nLayers: layers, readLayer: (l) => mats[l]!, texts: labels.map(String), labels, classNames: ['a', 'b'] },
    { method: 'pca', nComponents: 2, gridsize: 10, threads: 2 },
  );
  let t0 = performance.now();
  for (let l = 0; l < layers; l++) await areas.reduced(l);
  const tReduce = (performance.now() - t0) / 1000;
  t0 = performance.now();
  const g = await areas.graph();
  const tGraph = (performance.now() - t0) / 1000;
  t0 = performance.now();
  areas.metrics(g);
  const tMetrics = (performance.now() - t0) / 1000;
  console.log(`  standardised PCA x13: ${tReduce.toFixed(2)} s | grid + NRAG: ${(tGraph * 1000).toFixed(1)} ms (${g.nodes.length} nodes, ${g.edges.length} edges) | metrics: ${(tMetrics * 1000).toFixed(1)} ms`);
  t0 = performance.now();
  const r = await areas.evaluate({ nSplits: 5 });
  console.log(`  probing, 5 splits (full 768 + reduced 26 features): ${((performance.now() - t0) / 1000).toFixed(2)} s; accuracy full ${r.summary.accuracy!.full.toFixed(3)}, reduced ${r.summary.accuracy!.reduced.toFixed(3)}`);
}
