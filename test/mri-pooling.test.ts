import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { ActivationAreas, defaultPooling } from '../src/mri/activation-areas.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
let model: LoadedModel;
// Every text starts with "the": on a causal decoder their first-token states are identical in every layer.
const texts = Array.from({ length: 12 }, (_, i) => `the ${['cat', 'dog', 'bird', 'fish'][i % 4]} number ${i} sat ${i % 3 ? 'here' : 'there'}`);
const dataset = assembleDataset({ name: 'same-start', source: 'memory', texts, labelNames: texts.map((_, i) => (i % 2 ? 'a' : 'b')), warnings: [] });

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'atlas-mri-pool-'));
  writeTinyCheckpoint(join(root, 'gpt2'), { architecture: 'gpt2', seed: 2, nLayer: 2 });
  model = await loadModel(join(root, 'gpt2'), { threads: 1 });
});
after(async () => { await model.release(); rmSync(root, { recursive: true, force: true }); });

test('issue 15.1: mri pools the mean on a decoder by default (first token for encoders) and warns when points coincide', async () => {
  assert.equal(defaultPooling('gpt2'), 'mean');
  assert.equal(defaultPooling('llama'), 'mean');
  assert.equal(defaultPooling('bert'), 'first');
  const extract = { cacheRoot: join(root, 'cache'), progress: false };
  const byDefault = await ActivationAreas.fromModel(model, dataset, { extract });
  assert.deepEqual(byDefault.warnings, []);
  const x = byDefault.input.readLayer(2);
  const rows = new Set(Array.from({ length: x.rows }, (_, i) => x.data.subarray(i * x.cols, (i + 1) * x.cols).join(',')));
  assert.equal(rows.size, texts.length, 'mean pooling keeps the texts apart');
  // The old default: 12 texts → 1 point per layer, now said out loud.
  const first = await ActivationAreas.fromModel(model, dataset, { extract, pooling: 'first' });
  assert.equal(first.warnings.length, 3);
  assert.match(first.warnings[0], /layer 0: the 12 texts give only 1 distinct point with pooling 'first' \(pooling 'first' on a causal decoder/);
});
