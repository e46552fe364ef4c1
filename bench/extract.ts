import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint, GPT2_SMALL_SHAPE } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';
import { extractActivations } from '../src/data/extract.ts';

/** The real llama2.c model in the shared folder (read in place). */
const STORIES260K = '../shared/models/stories260K';

/** Times extraction of builtin:topics with `model` at 1 and 2 threads, batch 8 and 32; prints texts/s and tokens/s. */
async function timeExtraction(model: string, root: string): Promise<void> {
  const dataset = await loadDataset('builtin:topics');
  for (const threads of [1, 2]) {
    const m = await loadModel(model, { threads });
    try {
      for (const batchSize of [8, 32]) {
        const t0 = performance.now();
        const r = await extractActivations(m, dataset, { cacheRoot: join(root, `cache-${threads}-${batchSize}`), batchSize, progress: false });
        const secs = (performance.now() - t0) / 1000;
        const tokens = r.meta.tokenCounts.reduce((a, b) => a + b, 0);
        console.log(`threads ${threads}, batch ${String(batchSize).padStart(2)}: ${secs.toFixed(2)} s  ${(dataset.texts.length / secs).toFixed(1)} texts/s  ${(tokens / secs).toFixed(0)} tokens/s`);
      }
    } finally {
      await m.release();
    }
  }
}

/**
 * End-to-end extraction throughput: tokenization, batching (by length), the ONNX forward of every layer,
 * aggregation and the cache writes, on the built-in topics dataset with a GPT-2-small-shaped random checkpoint.
 */
export async function benchExtract(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'atlas-bench-extract-'));
  process.env.LATENT_ATLAS_QUIET = '1';
  try {
    writeTinyCheckpoint(join(root, 'model'), { ...GPT2_SMALL_SHAPE, seed: 1 });
    console.log('\n## extraction end to end (GPT-2-small shape, builtin:topics, all 13 layers, final token)');
    await timeExtraction(join(root, 'model'), root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

/**
 * The same on the real pretrained stories260K (llama2.c .bin + SentencePiece tok512.model, 5 layers, d=64):
 * a tiny model, so this measures the per-batch overheads (tokenizer, session run, cache writes) more than matmuls.
 */
export async function benchExtractStories260K(): Promise<void> {
  if (!existsSync(STORIES260K)) {
    console.log(`\n## extraction end to end, stories260K: skipped (${STORIES260K} not found)`);
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'atlas-bench-stories-'));
  process.env.LATENT_ATLAS_QUIET = '1';
  try {
    console.log('\n## extraction end to end (stories260K, llama2.c checkpoint, builtin:topics, all 6 hidden states, final token)');
    await timeExtraction(STORIES260K, root);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}
