import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, realpathSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNpy } from '../src/data/npy.ts';
import { mapPayload } from '../src/app/payloads.ts';

test('issue 15.6: NaN/Inf map coordinates are sent as missing (null) with a count, not drawn at 0', () => {
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'atlas-missing-')));
  const coords = Float32Array.from([0.5, 1, NaN, 2, 3, Infinity, -1, -2, NaN, NaN]);
  writeNpy(join(root, 'map-layer1-pca.npy'), coords, [5, 2]);
  writeFileSync(join(root, 'map-layer1-pca.json'), JSON.stringify({ method: 'pca', layer: 1, labels: [0, 0, 1, 1, 0], classNames: ['a', 'b'], texts: ['1', '2', '3', '4', '5'] }));
  const m = mapPayload(root, 'map-layer1-pca.npy');
  assert.deepEqual(m.coords, [0.5, 1, null, 2, 3, null, -1, -2, null, null]);
  assert.equal(m.missing, 3);
  assert.deepEqual(m.notes, ['map-layer1-pca.npy: 3 of 5 points have NaN/Inf coordinates and are not drawn']);
  // JSON round trip (what the client receives): no 0 stands in for a NaN.
  assert.deepEqual(JSON.parse(JSON.stringify(m)).coords.filter((v: number | null) => v === 0), []);
});

test('issue 15.23: a map whose sidecar is broken is listed as left out, with the reason, not dropped without a word', async () => {
  const { scanOutputFolder } = await import('../src/app/scan.ts');
  const root = realpathSync(mkdtempSync(join(tmpdir(), 'atlas-skipped-')));
  writeNpy(join(root, 'map-layer2-pca.npy'), Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
  writeFileSync(join(root, 'map-layer2-pca.json'), '{"method": "pca", "labels": [0, 1');
  const index = scanOutputFolder(root);
  assert.equal(index.maps.length, 0);
  assert.deepEqual(index.skipped, ['map-layer2-pca.npy: its sidecar map-layer2-pca.json is not valid JSON']);
});
