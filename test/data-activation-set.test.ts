import test from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openActivationSet } from '../src/data/activation-set.ts';
import { writeNpy } from '../src/data/npy.ts';
import { writeSafetensors } from '../src/model/safetensors.ts';
import { mulberry32 } from '../src/util/random.ts';

const N = 7, L = 3, D = 4;
const rand = mulberry32(9);
const layers = Array.from({ length: L }, () => Float32Array.from({ length: N * D }, () => rand() * 2 - 1));

function withTmp(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = mkdtempSync(join(tmpdir(), 'atlas-acts-'));
    try { await fn(dir); } finally { rmSync(dir, { recursive: true, force: true }); }
  };
}

function assertLayers(set: Awaited<ReturnType<typeof openActivationSet>>, wantLayers: number[]): void {
  assert.deepEqual(set.layers, wantLayers);
  assert.equal(set.rows, N);
  wantLayers.forEach((l, k) => {
    const m = set.readLayer(l);
    assert.equal(m.rows, N);
    assert.equal(m.cols, D);
    assert.deepEqual(Array.from(m.data), Array.from(layers[k]!));
  });
}

test('a folder of per-layer .npy files (layers numbered by the last integer in the name)', withTmp(async (dir) => {
  // Names out of lexical order on purpose: layer_10 must come after layer_2.
  const names = ['hidden_layer_2.npy', 'hidden_layer_10.npy', 'hidden_layer_11.npy'];
  names.forEach((n, k) => writeNpy(join(dir, n), layers[k]!, [N, D]));
  assertLayers(await openActivationSet(dir), [2, 10, 11]);
}));

test('one N×L×d .npy, and a float64 N×d .npy (one layer)', withTmp(async (dir) => {
  const all = new Float32Array(N * L * D);
  for (let i = 0; i < N; i++) for (let l = 0; l < L; l++) all.set(layers[l]!.subarray(i * D, (i + 1) * D), (i * L + l) * D);
  writeNpy(join(dir, 'all.npy'), all, [N, L, D]);
  assertLayers(await openActivationSet(join(dir, 'all.npy')), [0, 1, 2]);
  writeNpy(join(dir, 'one.npy'), Float64Array.from(layers[0]!), [N, D]);
  const one = await openActivationSet(join(dir, 'one.npy'));
  assert.deepEqual(one.layers, [0]);
  assert.deepEqual(Array.from(one.readLayer(0).data), Array.from(layers[0]!));
  assert.throws(() => one.readLayer(1), /layer 1 is not in the activations/);
}));

test('safetensors: one file with a tensor per layer, and a folder of one-tensor files', withTmp(async (dir) => {
  writeSafetensors(join(dir, 'acts.safetensors'), layers.map((data, l) => [`model.layers.${l}`, { shape: [N, D], data }] as [string, { shape: number[]; data: Float32Array }]));
  assertLayers(await openActivationSet(join(dir, 'acts.safetensors')), [0, 1, 2]);
  const sub = join(dir, 'per-layer');
  mkdirSync(sub);
  layers.forEach((data, l) => writeSafetensors(join(sub, `resid_${l + 4}.safetensors`), [[`x`, { shape: [N, D], data }]]));
  assertLayers(await openActivationSet(sub), [4, 5, 6]);
}));

test('labels from a CSV without a text column; texts from a JSONL; row-count mismatch is an error', withTmp(async (dir) => {
  layers.forEach((data, l) => writeNpy(join(dir, `layer-${l}.npy`), data, [N, D]));
  const csv = join(dir, 'labels.csv');
  writeFileSync(csv, 'label\n' + ['a', 'b', 'a', 'c', 'b', 'a', 'c'].join('\n') + '\n');
  const acts = join(dir, 'acts');
  mkdirSync(acts);
  for (let l = 0; l < L; l++) copyFileSync(join(dir, `layer-${l}.npy`), join(acts, `layer-${l}.npy`));
  const set = await openActivationSet(acts, { labels: csv });
  assert.deepEqual(set.classNames, ['a', 'b', 'c']);
  assert.deepEqual(Array.from(set.labels), [0, 1, 0, 2, 1, 0, 2]);
  assert.deepEqual(set.texts, Array(N).fill(''));
  const jsonl = join(dir, 'texts.jsonl');
  writeFileSync(jsonl, Array.from({ length: N }, (_, i) => JSON.stringify({ text: `t${i}` })).join('\n') + '\n');
  const t = await openActivationSet(acts, { labels: jsonl });
  assert.equal(t.texts[3], 't3');
  assert.ok(t.labels.every((v) => v === -1));
  const short = join(dir, 'short.csv');
  writeFileSync(short, 'label\na\nb\n');
  await assert.rejects(openActivationSet(acts, { labels: short }), /has 2 rows but the activations have 7/);
}));

test('bad input: clear errors naming the file', withTmp(async (dir) => {
  await assert.rejects(openActivationSet(join(dir, 'missing.npy')), /missing\.npy: field 'activations': not found/);
  writeFileSync(join(dir, 'x.txt'), 'hello');
  await assert.rejects(openActivationSet(join(dir, 'x.txt')), /neither \.npy nor \.safetensors/);
  const a = join(dir, 'a');
  mkdirSync(a);
  writeNpy(join(a, 'layer-0.npy'), layers[0]!, [N, D]);
  writeNpy(join(a, 'layer-1.npy'), layers[1]!.subarray(0, (N - 1) * D), [N - 1, D]);
  await assert.rejects(openActivationSet(a), /layer-1\.npy: has 6 rows but layer-0\.npy has 7/);
  const b = join(dir, 'b');
  mkdirSync(b);
  const bad = Float32Array.from(layers[0]!);
  bad[5] = Number.NaN;
  writeNpy(join(b, 'layer-0.npy'), bad, [N, D]);
  const set = await openActivationSet(b);
  assert.throws(() => set.readLayer(0), /non-finite value \(NaN\) at row 1, column 1/);
  const e = join(dir, 'e');
  mkdirSync(e);
  await assert.rejects(openActivationSet(e), /holds no \.npy or \.safetensors files/);
  writeNpy(join(dir, 'four.npy'), new Float32Array(16), [2, 2, 2, 2]);
  await assert.rejects(openActivationSet(join(dir, 'four.npy')), /expected N×d \(one layer\) or N×L×d/);
}));
