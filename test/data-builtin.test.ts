import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadDataset } from '../src/data/dataset.ts';
import { listBuiltinDatasets, builtinDataDir, DAYS, MONTHS } from '../src/data/builtin.ts';
import { AtlasError } from '../src/errors.ts';

test('builtin:days and builtin:months: every label ≥ 40 texts, spans cover exactly the label word, no other day/month named', async () => {
  for (const [name, labels] of [['days', DAYS], ['months', MONTHS]] as const) {
    const d = await loadDataset(`builtin:${name}`);
    assert.equal(d.source, `builtin:${name}`);
    assert.deepEqual(d.classNames, labels, 'natural order is the order of first appearance');
    assert.deepEqual(d.warnings, []);
    assert.ok(d.matches && d.matches.length === d.texts.length);
    const counts = new Array(labels.length).fill(0);
    d.texts.forEach((t, i) => {
      const label = d.classNames[d.labels![i]];
      counts[d.labels![i]]++;
      assert.equal(t.slice(d.matches![i].start, d.matches![i].end), label, t);
      for (const other of labels) if (other !== label) assert.ok(!new RegExp(`\\b${other}\\b`).test(t), `${t} also names ${other}`);
    });
    for (const c of counts) assert.ok(c >= 40, `${name}: ${counts}`);
    assert.equal(new Set(d.texts).size, d.texts.length, 'no duplicates');
  }
});

test('builtin:topics: ≥ 5 topics with ≥ 40 distinct sentences each', async () => {
  const d = await loadDataset('builtin:topics');
  assert.ok(d.classNames.length >= 5);
  assert.deepEqual(d.classNames, ['cooking', 'sports', 'astronomy', 'finance', 'medicine', 'music']);
  for (let k = 0; k < d.classNames.length; k++) {
    const texts = d.texts.filter((_, i) => d.labels![i] === k);
    assert.ok(texts.length >= 40);
    assert.equal(new Set(texts).size, texts.length);
    // Varied: many distinct words per topic, not one template repeated.
    const words = new Set(texts.flatMap((t) => t.toLowerCase().split(/\W+/)));
    assert.ok(words.size > 80, `${d.classNames[k]}: ${words.size} distinct words`);
  }
  const info = listBuiltinDatasets();
  assert.deepEqual(info.map((b) => b.name), ['days', 'months', 'topics', 'brown-genres']);
  for (const b of info) {
    const ds = await loadDataset(`builtin:${b.name}`);
    assert.equal(ds.classNames.length, b.classes);
    assert.equal(ds.texts.length, b.classes * b.perClass);
    assert.equal(ds.matches !== undefined, b.hasMatches);
  }
  await assert.rejects(loadDataset('builtin:planets'), (e: unknown) => e instanceof AtlasError && /builtin:days/.test(e.message));
});

test('the generator script reproduces the committed files byte for byte', () => {
  const out = mkdtempSync(join(tmpdir(), 'atlas-builtin-'));
  try {
    execFileSync(process.execPath, ['--import', 'tsx', 'scripts/generate-builtin-datasets.ts', out], { stdio: 'pipe' });
    for (const f of ['days.jsonl', 'months.jsonl', 'topics.csv']) {
      assert.ok(readFileSync(join(out, f)).equals(readFileSync(join(builtinDataDir(), f))), `${f} differs from a fresh generation`);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
