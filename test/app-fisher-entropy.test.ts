/**
 * The Fisher run's predictive entropy as a colour column of the layer explorer:
 * - the pipeline writes OUT/fisher/predictive-entropy.npy, equal to the entropy (float64, written here) of the
 *   model's own next-token distribution at each text's last token (the distribution whose Fisher information is
 *   the metric at the default point);
 * - the layers payload offers it for a bundle over the same texts, and not for a bundle over other texts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';
import { readNpy } from '../src/data/npy.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { runFisherPipeline } from '../src/fisher/pipeline.ts';
import { FISHER_OUTPUT } from '../src/fisher/output-files.ts';
import { writeLayerBundle } from '../src/geometry/layer-bundle.ts';
import { layersPayload } from '../src/app/layers-payload.ts';

const TEXTS = ['the cat sat', 'a dog ran', 'my bird sang', 'the fish swam', 'a cow ate', 'the fox hid', 'one two three', 'four five six', 'seven eight', 'nine ten', 'two four six', 'three five'];

function entropy64(logits: ArrayLike<number>): number {
  let m = -Infinity;
  for (let i = 0; i < logits.length; i++) m = Math.max(m, logits[i]);
  let z = 0;
  for (let i = 0; i < logits.length; i++) z += Math.exp(logits[i] - m);
  let h = 0;
  for (let i = 0; i < logits.length; i++) { const p = Math.exp(logits[i] - m) / z; if (p > 0) h -= p * Math.log(p); }
  return h;
}

test('fisher writes the predictive entropy; the explorer offers it for bundles over the same texts only', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fisher-entropy-'));
  try {
    const modelDir = join(dir, 'model');
    writeTinyCheckpoint(modelDir, { architecture: 'gpt2', nLayer: 2, dModel: 16, nHead: 2, seed: 3, std: 0.3 });
    writeFileSync(join(dir, 'data.csv'), ['text,label', ...TEXTS.map((t, i) => `${t},${i < 6 ? 'a' : 'b'}`)].join('\n') + '\n');
    const model = await loadModel(modelDir, { threads: 1 });
    const dataset = await loadDataset(join(dir, 'data.csv'));
    const root = join(dir, 'out');
    await runFisherPipeline(ParamStore.fromCheckpoint(model.checkpoint), model.tokenizer, model.key, dataset, { out: root, k: 3, png: false, perplexity: 3 });
    const ent = readNpy(join(root, 'fisher', FISHER_OUTPUT.entropy));
    assert.deepEqual(ent.shape, [TEXTS.length]);
    for (let i = 0; i < dataset.texts.length; i++) {
      const ids = model.tokenizer.encode(dataset.texts[i]);
      const out = await model.runtime.forwardHooks({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length }, [], 'last');
      const h = entropy64(out.get('logits')!.data);
      assert.ok(Math.abs(ent.data[i] - h) <= 1e-4 * Math.max(1, h), `text ${i}: stored ${ent.data[i]} vs float64 ${h}`);
    }
    // A bundle over the same texts (random representations: the column does not depend on them) and one over others.
    const xs = [0, 1].map((s) => ({ rows: TEXTS.length, cols: 4, data: Float64Array.from({ length: TEXTS.length * 4 }, (_, j) => Math.sin(j * 1.7 + s * 3.1) + (j % 5)) }));
    const same = { title: 'same', method: 'pca' as const, layers: [0, 1], xs, texts: dataset.texts, labels: dataset.labels ?? [], classNames: dataset.classNames, k: 3 };
    await writeLayerBundle(join(root, 'same'), same);
    await writeLayerBundle(join(root, 'other'), { ...same, title: 'other', texts: dataset.texts.map((t) => `${t}!`) });
    const p = layersPayload(root, 'same', ['fisher']);
    const col = p.columns['fisher predictive entropy'] as number[];
    assert.ok(col, `columns offered: ${Object.keys(p.columns).join(', ')}`);
    for (let i = 0; i < TEXTS.length; i++) assert.ok(Math.abs(col[i] - ent.data[i]) <= 1e-6 * Math.max(1, ent.data[i]));
    assert.equal(layersPayload(root, 'other', ['fisher']).columns['fisher predictive entropy'], undefined);
    assert.equal(layersPayload(root, 'same').columns['fisher predictive entropy'], undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
