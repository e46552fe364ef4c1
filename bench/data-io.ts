/**
 * Data-side throughput: CSV parsing, corpus filtering (streamed regex matching), .npy write/read and
 * activation-cache finalisation. These must stay far above what extraction consumes (thousands of texts/s),
 * so the model, not the I/O, sets the pace.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../src/data/dataset.ts';
import { filterCorpus } from '../src/data/corpus-filter.ts';
import { readNpy, writeNpy } from '../src/data/npy.ts';
import { openActivationCache } from '../src/data/activation-cache.ts';
import { seededRandom } from '../src/data/dataset.ts';

function time<T>(fn: () => T): [T, number] {
  const t0 = performance.now();
  const r = fn();
  return [r, (performance.now() - t0) / 1000];
}

async function timeAsync<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const r = await fn();
  return [r, (performance.now() - t0) / 1000];
}

export async function benchDataIo(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-bench-data-'));
  try {
    const rand = seededRandom(1);
    const words = ['the', 'market', 'rose', 'on', 'Monday', 'while', 'a', 'cat', 'slept', '"quoted"', 'comma,', 'and', 'sang', 'Friday', 'music', 'night'];
    const sentence = (n: number) => Array.from({ length: n }, () => words[Math.floor(rand() * words.length)]).join(' ');

    // CSV: 200k rows, a third of them quoted (commas / doubled quotes inside).
    const rows = ['text,label'];
    for (let i = 0; i < 200_000; i++) {
      const s = sentence(8 + (i % 12));
      rows.push(`${/[",]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s},c${i % 7}`);
    }
    const csv = join(dir, 'big.csv');
    writeFileSync(csv, rows.join('\n'));
    const csvMB = Buffer.byteLength(rows.join('\n')) / 1e6;
    const [ds, tCsv] = await timeAsync(() => loadDataset(csv));
    console.log(`data: CSV load ${ds.texts.length} rows, ${csvMB.toFixed(1)} MB in ${tCsv.toFixed(2)} s = ${(csvMB / tCsv).toFixed(0)} MB/s (parse + validate + hash)`);

    // Corpus filtering: 500k lines against the 7 day patterns, no early stop.
    const lines: string[] = [];
    for (let i = 0; i < 500_000; i++) lines.push(sentence(10 + (i % 15)));
    const corpus = join(dir, 'corpus.txt');
    writeFileSync(corpus, lines.join('\n'));
    const corpusMB = Buffer.byteLength(lines.join('\n')) / 1e6;
    const [r, tCorpus] = await timeAsync(() => filterCorpus(corpus, { patterns: 'builtin:days', maxPerLabel: 1e9, ambiguous: 'first' }));
    console.log(
      `data: corpus filter ${r.stats.linesRead} lines, ${corpusMB.toFixed(1)} MB in ${tCorpus.toFixed(2)} s = ${(corpusMB / tCorpus).toFixed(0)} MB/s, ${(r.stats.linesRead / tCorpus / 1e3).toFixed(0)} k lines/s (${r.dataset.texts.length} kept)`,
    );

    // .npy: 10000 x 768 float32 (30.7 MB), write (atomic, fsync) and read.
    const a = Float32Array.from({ length: 10000 * 768 }, () => rand());
    const npy = join(dir, 'a.npy');
    const [, tw] = time(() => writeNpy(npy, a, [10000, 768]));
    const [, tr] = time(() => readNpy(npy));
    const [, tw16] = time(() => writeNpy(join(dir, 'h.npy'), a, [10000, 768], { dtype: '<f2' }));
    console.log(`data: npy 30.7 MB write ${(30.72 / tw).toFixed(0)} MB/s, read ${(30.72 / tr).toFixed(0)} MB/s, float16 write ${(30.72 / tw16).toFixed(0)} MB/s (of float32 input)`);

    // Cache: 2000 texts x 13 layers x 768 in batches of 8, then finalize.
    const layers = Array.from({ length: 13 }, (_, i) => i);
    const cache = openActivationCache({ root: join(dir, 'cache'), modelKey: 'bench', datasetHash: 'x'.repeat(64), options: {}, layers, numTexts: 2000 });
    const block = layers.map(() => Float32Array.from({ length: 8 * 768 }, () => rand()));
    const [, tBatches] = time(() => {
      for (let b = 0; b < 250; b++) {
        const ids = Array.from({ length: 8 }, (_, i) => b * 8 + i);
        cache.writeBatch(b, block, { textIds: ids, tokenCounts: ids.map(() => 16) });
      }
    });
    const [, tFinal] = time(() => cache.finalize());
    const totalMB = (2000 * 13 * 768 * 4) / 1e6;
    console.log(`data: cache ${totalMB.toFixed(0)} MB: 250 batch writes ${(tBatches * 1000 / 250).toFixed(1)} ms each, finalize ${tFinal.toFixed(2)} s (${(totalMB / tFinal).toFixed(0)} MB/s)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await benchDataIo();
