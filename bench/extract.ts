import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint, GPT2_SMALL_SHAPE } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';
import { extractActivations } from '../src/data/extract.ts';

/**
 * End-to-end extraction throughput: tokenization, batching (by length), the ONNX forward of every layer,
 * aggregation and the cache writes, on the built-in topics dataset with a GPT-2-small-shaped random checkpoint.
 */
export async function benchExtract(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'atlas-bench-extract-'));
  process.env.LATENT_ATLAS_QUIET = '1';
  try {
    writeTinyCheckpoint(join(root, 'model'), { ...GPT2_SMALL_SHAPE, seed: 1 });
    const dataset = await loadDataset('builtin:topics');
    console.log(`\n## extraction end to end (GPT-2-small shape, builtin:topics: ${dataset.texts.length} texts, all 13 layers, final token)`);
    for (const threads of [1, 2]) {
      const model = await loadModel(join(root, 'model'), { threads });
      try {
        for (const batchSize of [8, 32]) {
          const t0 = performance.now();
          const r = await extractActivations(model, dataset, { cacheRoot: join(root, `cache-${threads}-${batchSize}`), batchSize, progress: false });
          const secs = (performance.now() - t0) / 1000;
          const tokens = r.meta.tokenCounts.reduce((a, b) => a + b, 0);
          console.log(`threads ${threads}, batch ${String(batchSize).padStart(2)}: ${secs.toFixed(2)} s  ${(dataset.texts.length / secs).toFixed(1)} texts/s  ${(tokens / secs).toFixed(0)} tokens/s`);
        }
      } finally {
        await model.release();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
