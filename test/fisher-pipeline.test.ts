import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { runFisherPipeline } from '../src/fisher/pipeline.ts';
import { main } from '../src/cli/main.ts';

const WORDS = { a: ['the cat sat', 'a dog ran', 'my bird sang', 'the fish swam', 'a cow ate', 'the fox hid', 'our pig slept', 'a hen laid'], b: ['one two three', 'four five six', 'seven eight', 'nine ten', 'eleven twelve', 'two four six', 'three five', 'eight nine ten'] };

function fixture(): { dir: string; model: string; data: string } {
  const dir = mkdtempSync(join(tmpdir(), 'fisher-pipe-'));
  const model = join(dir, 'model');
  writeTinyCheckpoint(model, { architecture: 'gpt2', nLayer: 2, dModel: 16, nHead: 2, seed: 7, std: 0.2 });
  const rows = ['text,label', ...Object.entries(WORDS).flatMap(([l, ts]) => ts.map((t) => `${t},${l}`))];
  const data = join(dir, 'data.csv');
  writeFileSync(data, rows.join('\n') + '\n');
  return { dir, model, data };
}

test('pipeline: end to end on a tiny model, cached steps, k change reruns only graphs onward', async () => {
  const fx = fixture();
  try {
    const model = await loadModel(fx.model, { threads: 1 });
    const dataset = await loadDataset(fx.data);
    const params = ParamStore.fromCheckpoint(model.checkpoint);
    const out = join(fx.dir, 'out');
    const r1 = await runFisherPipeline(params, model.tokenizer, model.key, dataset, { out, k: 4, png: false, perplexity: 4 });
    assert.equal(r1.points.rows, 16);
    assert.ok(r1.timings.every((t) => !t.cached));
    assert.ok(Number.isFinite(r1.comparison.spearman) && r1.comparison.spearman > 0 && r1.comparison.spearman <= 1);
    assert.equal(r1.comparison.embeddings.length, 3);
    for (const e of r1.comparison.embeddings) assert.ok(e.trustworthiness > 0 && e.trustworthiness <= 1 && e.labelOverlap !== null);
    assert.equal(r1.ellipses.length, 16);
    assert.ok(existsSync(join(out, 'fisher', 'report.html')));
    const html = readFileSync(join(out, 'fisher', 'report.html'), 'utf8');
    assert.match(html, /metric ellipses/);
    // the stored points are the pre-norm last-layer states: symmetric geodesics, zero diagonal
    const n = 16;
    for (let i = 0; i < n; i++) {
      assert.equal(r1.fisherGeodesic.data[i * n + i], 0);
      for (let j = 0; j < n; j++) assert.ok(Math.abs(r1.fisherGeodesic.data[i * n + j] - r1.fisherGeodesic.data[j * n + i]) < 1e-9);
    }
    // rerun: everything cached and identical
    const r2 = await runFisherPipeline(params, model.tokenizer, model.key, dataset, { out, k: 4, png: false, perplexity: 4 });
    assert.deepEqual(r2.timings.filter((t) => t.step !== 'report').map((t) => t.cached), [true, true, true, true, true]);
    assert.deepEqual(Array.from(r2.fisherMds.data), Array.from(r1.fisherMds.data));
    // k change: metrics and t-SNE cached, graphs/geodesics/MDS recomputed
    const r3 = await runFisherPipeline(params, model.tokenizer, model.key, dataset, { out, k: 5, png: false, perplexity: 4 });
    const cached = Object.fromEntries(r3.timings.map((t) => [t.step, t.cached]));
    assert.deepEqual(cached, { metrics: true, graphs: false, geodesics: false, mds: false, tsne: true, report: false });
    // λ = 0 is refused: the last-layer metric is singular along the LayerNorm's invariant directions
    await assert.rejects(() => runFisherPipeline(params, model.tokenizer, model.key, dataset, { out, k: 4, png: false, lambda: 0, perplexity: 0 }), /singular/);
    await model.release();
  } finally {
    rmSync(fx.dir, { recursive: true, force: true });
  }
});

test('pipeline: earlier layer with Monte-Carlo metrics and post-norm point via the CLI', async () => {
  const fx = fixture();
  try {
    const out = join(fx.dir, 'cli-out');
    const prevQuiet = process.env.LATENT_ATLAS_QUIET;
    process.env.LATENT_ATLAS_QUIET = '1';
    const logs: string[] = [];
    const origLog = console.log, origErr = console.error;
    console.log = (...a: unknown[]) => { logs.push(a.join(' ')); };
    console.error = (...a: unknown[]) => { logs.push(a.join(' ')); };
    try {
      await main(['fisher', '--model', fx.model, '--data', fx.data, '--layer', '1', '--method', 'monte-carlo', '--samples', '32', '--k', '4', '--out', out, '--no-png', '--threads', '1', '--perplexity', '0']);
      await main(['fisher', '--model', fx.model, '--data', fx.data, '--point', 'post-norm', '--k', '4', '--out', out, '--no-png', '--threads', '1', '--perplexity', '0']);
      await main(['fisher', '--model', fx.model, '--data', fx.data, '--point', 'post-norm', '--layer', '1', '--out', out, '--no-png']);
    } finally {
      console.log = origLog;
      console.error = origErr;
      if (prevQuiet === undefined) delete process.env.LATENT_ATLAS_QUIET; else process.env.LATENT_ATLAS_QUIET = prevQuiet;
    }
    assert.ok(existsSync(join(out, 'fisher', 'comparison.json')), logs.join('\n'));
    const summary = JSON.parse(readFileSync(join(out, 'fisher', 'comparison.json'), 'utf8'));
    assert.equal(summary.point, 'post-norm');
    assert.ok(logs.some((l) => /point 'post-norm' exists only at the last layer/.test(l)), logs.join('\n'));
    assert.equal(process.exitCode, 2);
    process.exitCode = 0;
  } finally {
    rmSync(fx.dir, { recursive: true, force: true });
  }
});
