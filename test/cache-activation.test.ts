import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  activationCacheDir,
  modelKeyFromFolder,
  modelKeyFromId,
  openActivationCache,
  type ActivationCacheOptions,
} from '../src/data/activation-cache.ts';
import { readNpy } from '../src/data/npy.ts';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'atlas-cache-'));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

const LAYERS = [0, 2, 5];
const COLS = 4;
const N_TEXTS = 10;
const BATCH = 3;

/** The "model": a deterministic, non-trivial value for (layer, text, token, column). */
function value(layer: number, text: number, token: number, col: number): number {
  return Math.sin(1 + layer * 7.1 + text * 1.3 + token * 0.37 + col * 0.11) * (1 + text);
}

function baseOptions(root: string, extra: Partial<ActivationCacheOptions> = {}): ActivationCacheOptions {
  return { root, modelKey: modelKeyFromId('org/tiny-gpt2', 'abc123'), datasetHash: 'f'.repeat(64), options: { aggregation: 'mean', normalize: false }, layers: LAYERS, numTexts: N_TEXTS, plan: { batchSize: BATCH }, ...extra };
}

/** One row per text (aggregations final/mean/max/first/match). */
function batchRows(b: number): { textIds: number[]; perLayer: Float32Array[] } {
  const textIds: number[] = [];
  for (let t = b * BATCH; t < Math.min(N_TEXTS, (b + 1) * BATCH); t++) textIds.push(t);
  const perLayer = LAYERS.map((L) => Float32Array.from({ length: textIds.length * COLS }, (_, i) => value(L, textIds[Math.floor(i / COLS)], 0, i % COLS)));
  return { textIds, perLayer };
}
const N_BATCHES = Math.ceil(N_TEXTS / BATCH);

function runBatches(cache: ReturnType<typeof openActivationCache>, which: number[]): void {
  for (const b of which) {
    const { textIds, perLayer } = batchRows(b);
    cache.writeBatch(b, perLayer, { textIds, tokenCounts: textIds.map((t) => 5 + t) });
  }
}

function layerBytes(dir: string): Record<number, Buffer> {
  return Object.fromEntries(LAYERS.map((L) => [L, readFileSync(join(dir, `layer-${L}.npy`))]));
}

test('clean run: final per-layer .npy files hold every text in order, meta.json sidecar, parts removed', () => {
  const root = tmp();
  const cache = openActivationCache(baseOptions(root));
  assert.equal(cache.isComplete(), false);
  assert.deepEqual(cache.finishedBatches(), new Set());
  runBatches(cache, [0, 1, 2, 3]);
  const files = cache.finalize({ labels: [0, 1], classNames: ['a', 'b'] });
  assert.equal(files.length, LAYERS.length + 1);
  assert.ok(cache.isComplete());
  assert.ok(!existsSync(join(cache.dir, 'parts')));
  for (const L of LAYERS) {
    const { data, rows, cols } = cache.readLayer(L);
    assert.equal(rows, N_TEXTS);
    assert.equal(cols, COLS);
    for (let t = 0; t < N_TEXTS; t++) for (let c = 0; c < COLS; c++) assert.equal(data[t * COLS + c], Math.fround(value(L, t, 0, c)));
    const raw = readNpy(join(cache.dir, `layer-${L}.npy`));
    assert.equal(raw.dtype, '<f4');
    assert.deepEqual(raw.shape, [N_TEXTS, COLS]);
  }
  const meta = cache.meta()!;
  assert.deepEqual(meta.tokenCounts, Array.from({ length: N_TEXTS }, (_, t) => 5 + t));
  assert.deepEqual(meta.classNames, ['a', 'b']);
  assert.deepEqual(meta.layers, LAYERS);
  assert.equal(meta.rows, N_TEXTS);
  assert.deepEqual(meta.options, { aggregation: 'mean', normalize: false });
  // Reopening a complete entry finds it complete, without touching it.
  const again = openActivationCache(baseOptions(root));
  assert.ok(again.isComplete());
  assert.throws(() => again.readLayer(7), /layer 7 is not in this cache entry/);
});

test('simulated crash: finished batches survive, resuming gives files byte-identical to a clean run', () => {
  const cleanRoot = tmp();
  const clean = openActivationCache(baseOptions(cleanRoot));
  runBatches(clean, [0, 1, 2, 3]);
  clean.finalize();

  const root = tmp();
  let cache = openActivationCache(baseOptions(root));
  runBatches(cache, [0, 2]);
  // A write killed before its rename leaves a temp file; a damaged batch file must not count as finished.
  writeFileSync(join(cache.dir, 'parts', '.batch-3.bin.tmp-999-deadbeef'), 'partial');
  writeFileSync(join(cache.dir, 'parts', 'batch-1.bin'), 'LATBATCH garbage');
  cache = openActivationCache(baseOptions(root)); // "restart"
  assert.equal(cache.isComplete(), false);
  assert.deepEqual(cache.finishedBatches(), new Set([0, 2]));
  assert.ok(!readdirSync(join(cache.dir, 'parts')).some((f) => f.includes('.tmp-')));
  const todo = Array.from({ length: N_BATCHES }, (_, b) => b).filter((b) => !cache.finishedBatches().has(b));
  assert.deepEqual(todo, [1, 3]);
  assert.throws(() => cache.finalize(), /text 3 is in no finished batch/);
  runBatches(cache, todo);
  cache.finalize();
  const a = layerBytes(clean.dir);
  const b = layerBytes(cache.dir);
  for (const L of LAYERS) assert.ok(a[L].equals(b[L]), `layer ${L} differs`);
  const { created: _a, ...ma } = clean.meta()!;
  const { created: _b, ...mb } = cache.meta()!;
  assert.deepEqual(ma, mb);
});

test('a process killed mid-run (SIGKILL) resumes where it stopped', () => {
  const root = tmp();
  const script = `
    import { openActivationCache } from './src/data/activation-cache.ts';
    const o = JSON.parse(process.argv[2]);
    const c = openActivationCache(o);
    for (let b = 0; b < 4; b++) {
      if (b === 2) process.kill(process.pid, 'SIGKILL');
      const ids = [3 * b, 3 * b + 1, 3 * b + 2].filter((t) => t < 10);
      c.writeBatch(b, o.layers.map(() => new Float32Array(ids.length * 4).fill(b)), { textIds: ids, tokenCounts: ids.map(() => 1) });
    }`;
  const file = join(root, 'child.ts');
  writeFileSync(file, script.replace("'./src/data/activation-cache.ts'", JSON.stringify(join(process.cwd(), 'src/data/activation-cache.ts'))));
  assert.throws(() => execFileSync(process.execPath, ['--import', 'tsx', file, JSON.stringify(baseOptions(root))], { stdio: 'pipe' }));
  const cache = openActivationCache(baseOptions(root));
  assert.deepEqual(cache.finishedBatches(), new Set([0, 1]));
});

test("rows of 'all' aggregation: batches in any order and grouping are reassembled by text, with row-text/row-token files", () => {
  const tokens = [3, 1, 4, 1, 5, 2, 6, 2, 3, 1];
  const opts = (root: string, plan: unknown) => baseOptions(root, { options: { aggregation: 'all' }, plan });
  // Plan A: sequential batches. Plan B: texts sorted by length (longest first), batches written in reverse order.
  const plans: number[][][] = [
    [[0, 1, 2], [3, 4, 5], [6, 7, 8], [9]],
    [[6, 4, 2], [0, 8, 5], [7, 1, 3], [9]],
  ];
  const dirs: string[] = [];
  for (const [p, batches] of plans.entries()) {
    const cache = openActivationCache(opts(tmp(), { plan: p }));
    for (let b = batches.length - 1; b >= 0; b--) {
      const ids = batches[b];
      const rowText = ids.flatMap((t) => Array(tokens[t]).fill(t));
      const rowToken = ids.flatMap((t) => Array.from({ length: tokens[t] }, (_, k) => k));
      const perLayer = LAYERS.map((L) => Float32Array.from({ length: rowText.length * COLS }, (_, i) => value(L, rowText[Math.floor(i / COLS)], rowToken[Math.floor(i / COLS)], i % COLS)));
      cache.writeBatch(b, perLayer, { textIds: ids, tokenCounts: ids.map((t) => tokens[t]), rowText, rowToken });
    }
    cache.finalize();
    dirs.push(cache.dir);
    const meta = cache.meta()!;
    assert.equal(meta.rows, 28);
    assert.deepEqual(meta.tokenCounts, tokens);
    const rowText = Array.from(readNpy(join(cache.dir, meta.rowTextFile!)).data);
    const rowToken = Array.from(readNpy(join(cache.dir, meta.rowTokenFile!)).data);
    const expectText = tokens.flatMap((n, t) => Array(n).fill(t));
    const expectToken = tokens.flatMap((n) => Array.from({ length: n }, (_, k) => k));
    assert.deepEqual(rowText, expectText);
    assert.deepEqual(rowToken, expectToken);
    const { data } = cache.readLayer(5);
    for (let r = 0; r < 28; r++) for (let c = 0; c < COLS; c++) assert.equal(data[r * COLS + c], Math.fround(value(5, expectText[r], expectToken[r], c)));
  }
  for (const name of readdirSync(dirs[0]).filter((f) => f.endsWith('.npy'))) {
    assert.ok(readFileSync(join(dirs[0], name)).equals(readFileSync(join(dirs[1], name))), name);
  }
});

test('keys: changed dataset/options/layers/dtype give another entry; option key order does not; a changed plan discards parts; force clears', () => {
  const root = tmp();
  const dir = activationCacheDir(baseOptions(root));
  assert.equal(activationCacheDir(baseOptions(root, { options: { normalize: false, aggregation: 'mean' } })), dir);
  for (const extra of [{ datasetHash: 'e'.repeat(64) }, { options: { aggregation: 'final', normalize: false } }, { layers: [0, 2] }, { dtype: 'float16' as const }, { modelKey: modelKeyFromId('org/tiny-gpt2', 'def456') }]) {
    assert.notEqual(activationCacheDir(baseOptions(root, extra)), dir, JSON.stringify(extra));
  }
  let cache = openActivationCache(baseOptions(root));
  runBatches(cache, [0, 1]);
  cache = openActivationCache(baseOptions(root, { plan: { batchSize: 4 } }));
  assert.deepEqual(cache.finishedBatches(), new Set(), 'parts from another batch plan are dropped');
  cache = openActivationCache(baseOptions(root));
  runBatches(cache, [0, 1, 2, 3]);
  cache.finalize();
  assert.ok(openActivationCache(baseOptions(root)).isComplete());
  const forced = openActivationCache(baseOptions(root, { force: true }));
  assert.equal(forced.isComplete(), false);
  assert.ok(!existsSync(join(forced.dir, 'layer-0.npy')));
});

test('float16 on request: stored as <f2, read back within half precision', () => {
  const cache = openActivationCache(baseOptions(tmp(), { dtype: 'float16' }));
  runBatches(cache, [0, 1, 2, 3]);
  cache.finalize();
  assert.equal(readNpy(join(cache.dir, 'layer-2.npy')).dtype, '<f2');
  const { data } = cache.readLayer(2);
  for (let t = 0; t < N_TEXTS; t++) {
    for (let c = 0; c < COLS; c++) {
      const exact = value(2, t, 0, c);
      // Half precision: 11 significant bits → relative error ≤ 2^-11 for normal values.
      assert.ok(Math.abs(data[t * COLS + c] - exact) <= Math.abs(exact) * 2 ** -11 + 2 ** -24, `${data[t * COLS + c]} vs ${exact}`);
    }
  }
});

test('writeBatch rejects inconsistent input; model folder keys follow config and weight files', () => {
  const cache = openActivationCache(baseOptions(tmp()));
  assert.throws(() => cache.writeBatch(0, [new Float32Array(8)], { textIds: [0, 1], tokenCounts: [1, 1] }), /1 layer arrays for 3 layers/);
  assert.throws(() => cache.writeBatch(0, LAYERS.map(() => new Float32Array(7)), { textIds: [0, 1], tokenCounts: [1, 1] }), /whole rows/);
  assert.throws(() => cache.writeBatch(0, LAYERS.map(() => new Float32Array(8)), { textIds: [0, 99], tokenCounts: [1, 1] }), /outside/);

  const model = join(tmp(), 'my-model');
  mkdirSync(model);
  writeFileSync(join(model, 'config.json'), '{"n_layer": 2}');
  writeFileSync(join(model, 'model.safetensors'), Buffer.alloc(100));
  const k1 = modelKeyFromFolder(model);
  assert.match(k1, /^my-model-[0-9a-f]{16}$/);
  writeFileSync(join(model, 'README.md'), 'unrelated');
  assert.equal(modelKeyFromFolder(model), k1);
  writeFileSync(join(model, 'model.safetensors'), Buffer.alloc(101));
  const k2 = modelKeyFromFolder(model);
  assert.notEqual(k2, k1);
  writeFileSync(join(model, 'config.json'), '{"n_layer": 3}');
  assert.notEqual(modelKeyFromFolder(model), k2);
  assert.equal(modelKeyFromId('openai-community/gpt2'), 'openai-community--gpt2@main');
});
