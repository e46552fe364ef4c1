import { CLI_ARGS } from './cli-entry.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, mkdirSync, readFileSync, copyFileSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy } from '../src/data/npy.ts';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';

const run = promisify(execFile);

const home = mkdtempSync(join(tmpdir(), 'atlas-acts-cli-'));
const env = { ...process.env, LATENT_ATLAS_CACHE: join(home, 'cache'), LATENT_ATLAS_QUIET: '1', HF_HUB_OFFLINE: '1' };

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI_ARGS, ...args], { env, cwd: home });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

const model = join(home, 'model');
writeTinyCheckpoint(model, { architecture: 'gpt2', seed: 4, nLayer: 2 });
const labels = ['sport', 'food', 'music'];
const texts = Array.from({ length: 24 }, (_, i) => `${['the match', 'a recipe', 'the song'][i % 3]} number ${i} was ${['great', 'long', 'new', 'odd'][i % 4]}`);
const data = join(home, 'data.csv');
writeFileSync(data, 'text,label\n' + texts.map((t, i) => `${t},${labels[i % 3]}`).join('\n') + '\n');
const common = ['--layers', 'all', '--aggregate', 'mean', '--k', '5', '--range-max', '8', '--probe-splits', '3'];

test('profile and map: the same activations through extract and through --activations give identical outputs', async () => {
  const viaModel = await cli(['profile', '--model', model, '--data', data, ...common, '--out', join(home, 'p-model')]);
  assert.equal(viaModel.code, 0, viaModel.stderr);
  const pm = JSON.parse(readFileSync(join(home, 'p-model', 'profile.json'), 'utf8'));
  assert.equal(pm.layers.length, 3);
  assert.ok(pm.layers[0].probe && pm.layers[0].diagnostics, 'probe and diagnostics are part of the profile');
  // 1. the cache entry itself; 2. its arrays copied as "someone else's" per-layer .npy files + a labels CSV.
  const entry = pm.activations as string;
  const ext = join(home, 'external');
  mkdirSync(ext);
  for (const f of readdirSync(entry).filter((f) => /^layer-\d+\.npy$/.test(f))) copyFileSync(join(entry, f), join(ext, f.replace('layer-', 'resid_post_')));
  const labelsCsv = join(home, 'labels.csv');
  writeFileSync(labelsCsv, 'label,text\n' + texts.map((t, i) => `${labels[i % 3]},"${t}"`).join('\n') + '\n');
  for (const [name, args] of [['p-entry', ['--activations', entry]], ['p-ext', ['--activations', ext, '--labels', labelsCsv]]] as const) {
    const r = await cli(['profile', ...args, ...common.filter((a, i) => a !== '--layers' && common[i - 1] !== '--layers' && a !== '--aggregate' && common[i - 1] !== '--aggregate'), '--out', join(home, name)]);
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(readFileSync(join(home, name, 'profile.json'), 'utf8'));
    assert.deepEqual(p.layers, pm.layers, `${name}: same numbers as the extraction`);
  }
  const m1 = await cli(['map', '--model', model, '--data', data, '--layers', '2', '--aggregate', 'mean', '--out', join(home, 'm-model')]);
  assert.equal(m1.code, 0, m1.stderr);
  const m2 = await cli(['map', '--activations', ext, '--labels', labelsCsv, '--layers=-1', '--out', join(home, 'm-ext')]);
  assert.equal(m2.code, 0, m2.stderr);
  const a = readNpy(join(home, 'm-model', 'map-layer2-pca.npy'));
  const b = readNpy(join(home, 'm-ext', 'map-layer2-pca.npy'));
  assert.deepEqual(Array.from(b.data), Array.from(a.data));
  const sidecar = JSON.parse(readFileSync(join(home, 'm-ext', 'map-layer2-pca.json'), 'utf8'));
  assert.ok(JSON.stringify(sidecar).includes('number 5 was'), 'hover texts come from the labels file');

  const c = await cli(['compare', entry, ext, '--measures', 'cka,overlap', '--k', '5', '--out', join(home, 'cmp')]);
  assert.equal(c.code, 0, c.stderr);
  const cka = readNpy(join(home, 'cmp', 'compare-cka.npy'));
  assert.deepEqual(cka.shape, [3, 3]);
  for (let i = 0; i < 3; i++) assert.ok(Math.abs((cka.data[i * 4] as number) - 1) < 1e-9, 'a run compared with its own copy: unit diagonal');
  const cj = JSON.parse(readFileSync(join(home, 'cmp', 'compare.json'), 'utf8'));
  assert.deepEqual(cj.measures, ['cka', 'overlap']);
});

test('bad input to --activations and compare: one line, exit 2', async () => {
  const r1 = await cli(['profile', '--activations', join(home, 'nope')]);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /nope: field 'activations': not found/);
  assert.doesNotMatch(r1.stderr, /\n\s+at /);
  const r2 = await cli(['profile', '--activations', join(home, 'nope'), '--model', model]);
  assert.equal(r2.code, 2);
  assert.match(r2.stderr, /--activations replaces the model and --data/);
  const r3 = await cli(['compare']);
  assert.equal(r3.code, 2);
  assert.match(r3.stderr, /expected one or two runs/);
  const r4 = await cli(['compare', join(home, 'external'), '--measures', 'cka,bogus']);
  assert.equal(r4.code, 2);
  assert.match(r4.stderr, /unknown measure 'bogus'/);
});
