/**
 * Layer-streamed Fisher metrics (src/fisher/weight-source.ts, compute.ts): with weights read from the
 * checkpoint one piece (embeddings, block, head) at a time over chunks of texts, the points, metrics and
 * predictive entropies equal those of the model held whole (≤ 1e-5 relative), at the last layer and at a
 * middle one, for gpt2 and llama, with one batch per chunk, several, and all texts in one chunk. The `fisher`
 * command under a small --max-memory streams, writes the same files with the same numbers, and refuses in one
 * line a budget below the largest piece's weights.
 * `fim` (per-sample gradients of every parameter) cannot stream and refuses a model too large for --max-memory in one line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { writeTinyFamilyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { float32WeightBytes } from '../src/model/memory.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { readNpy } from '../src/data/npy.ts';
import { computeFisherMetrics, type FisherMetricOptions, type FisherMetrics } from '../src/fisher/compute.ts';
import { streamedFisherWeights, type FisherWeights } from '../src/fisher/weight-source.ts';
import { FISHER_OUTPUT } from '../src/fisher/output-files.ts';
import { UPSTREAM_FILES } from '../src/fisher/upstream.ts';
import { isCleanInputError, runCli } from './cli-inprocess.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
before(() => { root = mkdtempSync(join(tmpdir(), 'atlas-fisher-stream-')); });
after(() => rmSync(root, { recursive: true, force: true }));

const texts = [
  'the cat sat on the mat', 'a dog', 'on Monday we went to the market and bought bread', 'short', 'Thursday night',
  'they met on Saturday', 'we rest on Sunday', 'one more text here', 'the fox hid in the wood', 'rain again',
];

/** max |a − b| / max |b|. */
function relDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let ref = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { ref = Math.max(ref, Math.abs(b[i]!)); diff = Math.max(diff, Math.abs(a[i]! - b[i]!)); }
  assert.ok(ref > 0, 'reference is all zero');
  return diff / ref;
}

/** Counts the chunks a streamed source runs (one embeddings piece per chunk) and the pieces it reads. */
function counting(w: FisherWeights): { w: FisherWeights; chunks: () => number; reads: () => number } {
  let chunks = 0, reads = 0;
  return {
    w: { ...w, piece: (p) => { reads++; if (p === 'embed') chunks++; return w.piece(p); } },
    chunks: () => chunks,
    reads: () => reads,
  };
}

const CASES: [string, FisherMetricOptions][] = [
  ['last layer', {}],
  ['middle layer', { layer: 1 }],
  ['last layer post-norm', { point: 'post-norm' }],
  ['middle layer, factor storage', { layer: 2, storage: 'factor', rank: 4 }],
  ['middle layer, Monte-Carlo', { layer: 1, method: 'monte-carlo', samples: 8 }],
];

for (const modelType of ['gpt2', 'llama']) {
  test(`${modelType}: streamed Fisher metrics equal the whole-model ones (one, several, all batches per chunk)`, async (t) => {
    const dir = join(root, modelType);
    const { config } = writeTinyFamilyCheckpoint(dir, { modelType, seed: 5, layers: 3 });
    const ckpt = openCheckpoint(dir);
    try {
      const tokenizer = await loadTokenizer(dir);
      const whole = ParamStore.fromCheckpoint(ckpt);
      const W = float32WeightBytes(config.spec);
      // 0.8 W (below the weights themselves): one batch of Jacobian rows per chunk; 1.2 W: a few batches; 1 GiB: one chunk
      const budgets = [0.8 * W, 1.2 * W, 2 ** 30];
      for (const [name, o] of CASES) {
        const opts = { ...o, batchSize: 3 };
        const ref: FisherMetrics = await computeFisherMetrics(whole, tokenizer, texts, opts);
        const chunks: number[] = [];
        // every budget for the exact metric at the last and a middle layer; the variants under one budget
        const all = name === 'last layer' || name === 'middle layer';
        for (const bytes of all ? budgets : budgets.slice(0, 1)) {
          const c = counting(streamedFisherWeights(config.spec, ckpt.weights, bytes));
          const got = await computeFisherMetrics(c.w, tokenizer, texts, opts);
          chunks.push(c.chunks());
          assert.equal(c.reads(), c.chunks() * (config.spec.nLayer + 2), 'each piece read once per chunk');
          const diffs = { points: relDiff(got.points.data, ref.points.data), metric: relDiff(got.store.data, ref.store.data), entropy: relDiff(got.entropy, ref.entropy) };
          t.diagnostic(`${modelType} ${name}, ${c.chunks()} chunk(s): max rel diff points ${diffs.points}, metric ${diffs.metric}, entropy ${diffs.entropy}`);
          for (const [what, v] of Object.entries(diffs)) assert.ok(v <= 1e-5, `${modelType} ${name} ${what}: ${v}`);
          assert.deepEqual(Array.from(got.store.captured), Array.from(ref.store.captured));
        }
        // post-norm carries no Jacobian rows, so its chunks are larger
        if (all) assert.deepEqual(chunks, [Math.ceil(texts.length / 3), 2, 1], `${name}: one batch per chunk at 0.8 W, three at 1.2 W, all at 1 GiB`);
        else assert.ok(chunks[0]! > 1, `${name}: chunks ${chunks}`);
      }
    } finally {
      ckpt.close();
    }
  });
}

/** Every file under `dir`, relative, sorted. */
function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

test('CLI: fisher under a small --max-memory streams, writes the same files and numbers, and refuses a budget below one block', async (t) => {
  const dir = join(root, 'cli');
  const { config } = writeTinyFamilyCheckpoint(dir, { modelType: 'llama', seed: 2, layers: 3 });
  const data = join(root, 'cli.csv');
  writeFileSync(data, ['text,label', ...texts.map((x, i) => `${x},${i % 2 ? 'odd' : 'even'}`)].join('\n') + '\n');
  const budget = String(Math.floor(1.2 * float32WeightBytes(config.spec)));
  const common = ['--data', data, '--k', '3', '--perplexity', '3', '--no-png', '--threads', '1', '--batch-size', '3'];
  // the last layer, a middle one, and the seed-000 metric (the streamed runtime's hooks, a chunk of batches at once)
  for (const run of [['--layer', '-1'], ['--layer', '1'], ['--metric', 'attention-covariance']]) {
    const tag = run.join(' ');
    const outWhole = join(root, `whole${tag}`), outStream = join(root, `stream${tag}`);
    const w = await runCli(['fisher', dir, ...common, ...run, '--out', outWhole]);
    assert.equal(w.code, 0, w.stderr);
    const s = await runCli(['fisher', dir, ...common, ...run, '--out', outStream, '--max-memory', budget, '--verbose']);
    assert.equal(s.code, 0, s.stderr);
    assert.match(s.stderr, /the Fisher metrics run one block at a time/);
    // attention-covariance: the 4 batches go through the streamed runtime in chunks of several (of ≥ its
    // chunkTokens, here 175 under this budget), so block 0's weights are read fewer times than there are batches
    if (run[0] === '--metric') {
      const perChunk = [...s.stderr.matchAll(/verbose: blocks 0-0 of 3 applied to (\d+) batches/g)].map((m) => Number(m[1]));
      assert.equal(perChunk.reduce((a, b) => a + b, 0), 4, s.stderr);
      assert.ok(perChunk.length < 4, `chunks ${perChunk}`);
    }
    assert.doesNotMatch(w.stderr, /one block at a time/);
    assert.deepEqual(listFiles(outStream), listFiles(outWhole), 'the same file names');
    const files = [UPSTREAM_FILES.eta, UPSTREAM_FILES.metric, join('fisher', FISHER_OUTPUT.mds)];
    if (run[0] === '--layer') files.push(join('fisher', FISHER_OUTPUT.entropy));
    for (const f of files) {
      const d = relDiff(readNpy(join(outStream, f)).data as ArrayLike<number>, readNpy(join(outWhole, f)).data as ArrayLike<number>);
      t.diagnostic(`CLI ${tag} ${f}: max rel diff ${d}`);
      assert.ok(d <= 1e-5, `${tag} ${f}: ${d}`);
    }
  }
  const tiny = await runCli(['fisher', dir, ...common, '--out', join(root, 'refused'), '--max-memory', '1K']);
  assert.ok(isCleanInputError(tiny), tiny.stderr);
  assert.match(tiny.stderr, /fisher streams the llama model one piece at a time, but its largest piece \(block 0\) needs about .* more than the memory budget 1\.00 KiB/);
});

test('CLI: fim (per-sample gradients, which cannot stream) refuses a model too large for --max-memory in one line', async () => {
  const dir = join(root, 'fim');
  writeTinyFamilyCheckpoint(dir, { modelType: 'gpt2', seed: 1 });
  const r = await runCli(['fim', dir, '--max-memory', '1K', '--num-samples', '2', '--out', join(root, 'fim-out')]);
  assert.ok(isCleanInputError(r), r.stderr);
  assert.match(r.stderr, /fim \(per-sample gradients\) holds all parameters of the gpt2 model at once \(about .*\), more than the 1\.00 KiB this machine allows/);
  const bad = await runCli(['fim', dir, '--max-memory', 'lots', '--num-samples', '2', '--out', join(root, 'fim-out')]);
  assert.ok(isCleanInputError(bad), bad.stderr);
  assert.match(bad.stderr, /'lots' is not a memory size/);
  const ok = await runCli(['fim', dir, '--max-memory', '1G', '--num-samples', '2', '--out', join(root, 'fim-out')]);
  assert.equal(ok.code, 0, ok.stderr);
});
