/**
 * Fisher pipeline benchmark (issue 6): the whole pipeline (metrics → graphs → geodesics → MDS → t-SNE →
 * report) on N texts with a GPT-2-small-shaped random checkpoint (d = 768, V = 50,257), at the last layer
 * (exact metric, rank-64 factor storage) and at a middle layer (layer 6). Prints time per step and peak RSS.
 * N = 1,000 × `LATENT_ATLAS_BENCH_SCALE` (default 1); `LATENT_ATLAS_BENCH_FISHER_METHOD=monte-carlo` uses the
 * Monte-Carlo metric (64 draws) instead of the exact one.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resourceUsage } from 'node:process';
import { GPT2_SMALL_SHAPE, writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { runFisherPipeline } from '../src/fisher/pipeline.ts';

export async function benchFisher(): Promise<void> {
  const scale = Number(process.env.LATENT_ATLAS_BENCH_SCALE ?? '1');
  const n = Math.max(20, Math.round(1000 * scale));
  const method = process.env.LATENT_ATLAS_BENCH_FISHER_METHOD === 'monte-carlo' ? 'monte-carlo' : 'exact';
  const dir = mkdtempSync(join(tmpdir(), 'bench-fisher-'));
  try {
    writeTinyCheckpoint(join(dir, 'model'), { ...(GPT2_SMALL_SHAPE as typeof GPT2_SMALL_SHAPE & { architecture: 'gpt2' }), seed: 1 });
    const topics = ['sports', 'cooking', 'music', 'travel', 'science'];
    const rows = ['text,label'];
    for (let i = 0; i < n; i++) rows.push(`sentence number ${i} is about ${topics[i % 5]} and item ${(i * 7919) % 1000},${topics[i % 5]}`);
    writeFileSync(join(dir, 'data.csv'), rows.join('\n') + '\n');
    const model = await loadModel(join(dir, 'model'));
    const dataset = await loadDataset(join(dir, 'data.csv'));
    const params = ParamStore.fromCheckpoint(model.checkpoint);
    for (const layer of [12, 6]) {
      const t0 = performance.now();
      const r = await runFisherPipeline(params, model.tokenizer, model.key, dataset, {
        out: join(dir, `out-${layer}`), layer, method, storage: 'factor', rank: 64, k: 10, png: true,
      });
      const total = (performance.now() - t0) / 1000;
      const steps = r.timings.map((t) => `${t.step} ${t.seconds.toFixed(1)}s`).join(', ');
      console.log(`fisher gpt2-small-shape n=${n} layer=${layer} ${method}: total ${total.toFixed(1)} s (${(total / n * 1000).toFixed(0)} ms/text) — ${steps}; spearman ${r.comparison.spearman.toFixed(3)}; peak RSS ${(resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
    }
    await model.release();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchFisher();
