import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, truncateSync, writeSync, closeSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations } from '../src/data/extract.ts';
import { isAtlasError } from '../src/errors.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
let model: LoadedModel;
const texts = ['the cat sat on the mat', 'on Monday we went to the market', 'short', 'we rest on Sunday', 'Thursday again', 'a dog'];
const dataset = assembleDataset({ name: 't', source: 'memory', texts, labelNames: ['a', 'b', 'a', 'b', 'a', 'b'], warnings: [] });
const quiet = { progress: false, onWarning: () => {} };

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'atlas-extract-checks-'));
  writeTinyCheckpoint(join(root, 'model'), { architecture: 'gpt2', seed: 3, nLayer: 2 });
  model = await loadModel(join(root, 'model'), { threads: 1 });
});
after(async () => { await model.release(); rmSync(root, { recursive: true, force: true }); });

/** Overwrites the first float32 of one tensor of a safetensors file in place. */
function poke(file: string, tensor: string, value: number): void {
  const buf = readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
  const [start] = header[tensor].data_offsets as [number, number];
  const fd = openSync(file, 'r+');
  const b = Buffer.alloc(4);
  b.writeFloatLE(value, 0);
  writeSync(fd, b, 0, 4, 8 + n + start);
  closeSync(fd);
}

test('issue 15.5: a NaN weight fails the extraction naming the layer, the hook and the model file; nothing is cached', async () => {
  const dir = join(root, 'nan-model');
  writeTinyCheckpoint(dir, { architecture: 'gpt2', seed: 3, nLayer: 2 });
  poke(join(dir, 'model.safetensors'), 'transformer.h.1.mlp.c_proj.bias', NaN);
  const bad = await loadModel(dir, { threads: 1 });
  const cacheRoot = join(root, 'cache-nan');
  try {
    await assert.rejects(extractActivations(bad, dataset, { ...quiet, cacheRoot }), (e) => {
      assert.ok(isAtlasError(e), String(e));
      assert.match(e.message, /model\.safetensors/);
      assert.match(e.message, /NaN in the output of block 1 \(hidden state 2\) \(layer 2, hidden\)/);
      return true;
    });
    const found: string[] = [];
    const walk = (d: string) => { for (const f of readdirSync(d, { withFileTypes: true })) f.isDirectory() ? walk(join(d, f.name)) : found.push(f.name); };
    walk(cacheRoot);
    assert.ok(!found.includes('meta.json') && !found.some((f) => /^layer-|^batch-/.test(f)), `nothing cached: ${found.join(', ')}`);
  } finally {
    await bad.release();
  }
  const inf = join(root, 'inf-model');
  writeTinyCheckpoint(inf, { architecture: 'gpt2', seed: 3, nLayer: 2 });
  poke(join(inf, 'model.safetensors'), 'transformer.wpe.weight', Infinity);
  const m2 = await loadModel(inf, { threads: 1 });
  try {
    await assert.rejects(extractActivations(m2, dataset, { ...quiet, cacheRoot: join(root, 'cache-inf'), source: 'hidden' }),
      (e) => isAtlasError(e) && /(NaN|Inf) in the embeddings \(hidden state 0\)/.test(e.message));
  } finally {
    await m2.release();
  }
});

test('issue 15.9: a truncated cached layer is detected against meta.json and recomputed; a modified one is refused with --force', async () => {
  const cacheRoot = join(root, 'cache-trunc');
  const a = await extractActivations(model, dataset, { ...quiet, cacheRoot });
  const meta = JSON.parse(readFileSync(join(a.dir, 'meta.json'), 'utf8'));
  assert.ok(meta.checksums['layer-1.npy'].sha256.length === 64);
  assert.equal(meta.checksums['layer-1.npy'].bytes, statSync(join(a.dir, 'layer-1.npy')).size);
  const good = readFileSync(join(a.dir, 'layer-1.npy'));
  truncateSync(join(a.dir, 'layer-1.npy'), good.length - 100);
  const warnings: string[] = [];
  const b = await extractActivations(model, dataset, { progress: false, cacheRoot, onWarning: (w) => warnings.push(w) });
  assert.equal(b.cached, false, 'before: "cached"');
  assert.match(warnings.join('\n'), /damaged \(layer-1\.npy has \d+ bytes, meta\.json records \d+ \(truncated/);
  assert.deepEqual(readFileSync(join(a.dir, 'layer-1.npy')), good, 'recomputed byte for byte');
  // Same size, other bytes: caught by the checksum when the layer is read.
  const flipped = Buffer.from(good);
  flipped[flipped.length - 1] ^= 0xff;
  writeFileSync(join(a.dir, 'layer-1.npy'), flipped);
  const c = await extractActivations(model, dataset, { ...quiet, cacheRoot });
  assert.equal(c.cached, true);
  assert.throws(() => c.readLayer(1), (e) => { assert.match(String(e), /layer-1\.npy: the cached file does not match the checksum.*--force/); return isAtlasError(e); });
  assert.ok(existsSync(join(a.dir, 'meta.json')));
});

test('issue 15.10: a --max-length above the model is rejected, and truncated texts are counted', async () => {
  await assert.rejects(extractActivations(model, dataset, { ...quiet, cacheRoot: join(root, 'c1'), maxLength: 1000 }),
    (e) => isAtlasError(e) && /--max-length 1000 is more than the model's 128 positions/.test(e.message));
  const warnings: string[] = [];
  const r = await extractActivations(model, dataset, { progress: false, cacheRoot: join(root, 'c2'), maxLength: 5, onWarning: (w) => warnings.push(w) });
  const long = texts.filter((t) => model.tokenizer.encode(t).length > 5).length;
  assert.ok(long > 0 && long < texts.length);
  assert.deepEqual(r.warnings, warnings);
  assert.match(warnings[0], new RegExp(`^${long} of ${texts.length} texts are longer than 5 tokens and were truncated \\(longest: \\d+ tokens\\)`));
});
