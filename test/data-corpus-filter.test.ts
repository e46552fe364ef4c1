import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filterCorpus, forEachLine, loadPatterns, splitSentences } from '../src/data/corpus-filter.ts';
import { AtlasError } from '../src/errors.ts';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'atlas-corpus-'));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

async function rejectsWith(p: Promise<unknown>, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AtlasError, `expected AtlasError, got ${e}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

test('folder corpus with built-in days patterns: caps per label, spans, ambiguous and duplicate lines skipped', async () => {
  const dir = tmp();
  mkdirSync(join(dir, 'sub'));
  writeFileSync(
    join(dir, 'a.txt'),
    ['We met on Monday at noon.', 'Nothing here.', 'Mondays are long.', 'On Friday and Monday we rest.', '  Tuesday came early.  ', 'We met on Monday at noon.', 'monday in lower case'].join('\n'),
  );
  writeFileSync(join(dir, 'sub', 'b.txt'), ['Back on Monday again.', 'A third Monday story.', 'Friday night.', 'Tuesday too.'].join('\r\n') + '\r\n');
  writeFileSync(join(dir, 'ignored.md'), 'Sunday is not read: not a .txt file');
  const { dataset: d, stats, origins } = await filterCorpus(dir, { patterns: 'builtin:days', maxPerLabel: 2 });
  assert.deepEqual(d.texts, ['We met on Monday at noon.', 'Tuesday came early.', 'Back on Monday again.', 'Friday night.', 'Tuesday too.']);
  assert.deepEqual(d.classNames, ['Monday', 'Tuesday', 'Friday']);
  d.texts.forEach((t, i) => assert.equal(t.slice(d.matches![i].start, d.matches![i].end), d.classNames[d.labels![i]]));
  assert.deepEqual(origins.map((o) => o.line), [1, 5, 1, 3, 4]);
  assert.ok(origins[2].file.endsWith(join('sub', 'b.txt')));
  assert.equal(stats.filesRead, 2);
  assert.equal(stats.linesRead, 11);
  assert.equal(stats.skippedAmbiguous, 1);
  assert.equal(stats.skippedDuplicates, 1);
  assert.deepEqual(stats.keptPerLabel, { Monday: 2, Tuesday: 2, Wednesday: 0, Thursday: 0, Friday: 1, Saturday: 0, Sunday: 0 });
  for (const day of ['Wednesday', 'Thursday', 'Saturday', 'Sunday']) assert.ok(d.warnings.some((w) => w.includes(`'${day}'`) && w.includes('never matched')), day);
  assert.ok(!d.warnings.some((w) => w.includes("'Monday'") && w.includes('never')));
  assert.ok(d.warnings.some((w) => w.includes("label 'Friday' has only one sample")));
  // 'first' keeps ambiguous texts under the first label in pattern order.
  const first = await filterCorpus(dir, { patterns: 'builtin:days', maxPerLabel: 5, ambiguous: 'first' });
  assert.ok(first.dataset.texts.includes('On Friday and Monday we rest.'));
  const i = first.dataset.texts.indexOf('On Friday and Monday we rest.');
  assert.equal(first.dataset.classNames[first.dataset.labels![i]], 'Monday');
  assert.deepEqual(first.dataset.matches![i], { start: 14, end: 20 });
});

test('patterns from JSON and TSV files; invalid regex names the file and label; sentence windows', async () => {
  const dir = tmp();
  const corpus = join(dir, 'c.txt');
  writeFileSync(corpus, 'The cat sat. Then a DOG barked! Birds sang.\nA dog and a cat.\nnothing\n');
  const json = join(dir, 'p.json');
  writeFileSync(json, JSON.stringify({ feline: '\\bcat\\b', canine: '/\\bdog\\b/i', fish: 'salmon' }));
  const tsv = join(dir, 'p.tsv');
  writeFileSync(tsv, '# label<TAB>regex\nfeline\t\\bcat\\b\ncanine\t/\\bdog\\b/i\nfish\tsalmon\n');
  const a = await filterCorpus(corpus, { patterns: json, unit: 'sentence' });
  const b = await filterCorpus(corpus, { patterns: tsv, unit: 'sentence' });
  assert.deepEqual(a.dataset.texts, ['The cat sat.', 'Then a DOG barked!']);
  assert.deepEqual(a.dataset.matches, [{ start: 4, end: 7 }, { start: 7, end: 10 }]);
  assert.equal(a.dataset.hash, b.dataset.hash);
  assert.ok(a.dataset.warnings.some((w) => w.includes(json) && w.includes("'fish'") && w.includes('never matched')));
  // Whole lines: both name a cat and a dog, so they are ambiguous (skipped by default, first label on request).
  await rejectsWith(filterCorpus(corpus, { patterns: tsv }), 'no text in the corpus matches');
  const lines = await filterCorpus(corpus, { patterns: tsv, ambiguous: 'first' });
  assert.deepEqual(lines.dataset.texts, ['The cat sat. Then a DOG barked! Birds sang.', 'A dog and a cat.']);
  assert.deepEqual(lines.dataset.classNames, ['feline']);
  assert.deepEqual(lines.dataset.matches![1], { start: 12, end: 15 });
  const bad = join(dir, 'bad.json');
  writeFileSync(bad, JSON.stringify({ ok: 'a', broken: '(unclosed' }));
  assert.throws(() => loadPatterns(bad), (e: unknown) => e instanceof AtlasError && e.message.includes(bad) && e.message.includes("'broken'"));
  await rejectsWith(filterCorpus(corpus, { patterns: { everything: 'x*' } }), "'everything'", 'empty string');
  const noTab = join(dir, 'notab.tsv');
  writeFileSync(noTab, 'feline cat\n');
  await rejectsWith(filterCorpus(corpus, { patterns: noTab }), 'notab.tsv', 'line 1', 'TAB');
  await rejectsWith(filterCorpus(corpus, { patterns: { fish: 'salmon' } }), 'c.txt', 'no text in the corpus matches');
  assert.deepEqual(splitSentences('Hi. "Yes!" she said.  Done'), [
    { text: 'Hi.', offset: 0 },
    { text: '"Yes!"', offset: 4 },
    { text: 'she said.', offset: 11 },
    { text: 'Done', offset: 22 },
  ]);
});

test('invalid UTF-8 in the corpus: error naming the line, or skipped on request', async () => {
  const dir = tmp();
  const corpus = join(dir, 'c.txt');
  writeFileSync(corpus, Buffer.concat([Buffer.from('Monday one\nMonday two\nMonday caf'), Buffer.from([0xe9]), Buffer.from('\nMonday four\n')]));
  await rejectsWith(filterCorpus(corpus, { patterns: 'builtin:days' }), 'c.txt', 'line 3', 'UTF-8');
  const r = await filterCorpus(corpus, { patterns: 'builtin:days', invalidUtf8: 'skip' });
  assert.deepEqual(r.dataset.texts, ['Monday one', 'Monday two', 'Monday four']);
  assert.equal(r.stats.skippedInvalidUtf8, 1);
  assert.ok(r.dataset.warnings.some((w) => w.includes('not valid UTF-8')));
});

test('streaming: lines crossing 1 MiB chunk boundaries are read intact; reading stops once every label is full', async () => {
  const dir = tmp();
  const corpus = join(dir, 'big.txt');
  const lines: string[] = [];
  for (let i = 0; i < 40000; i++) lines.push(`${i} ${'é'.repeat(i % 97)} ${i % 1000 === 999 ? 'Sunday' : 'filler'} ✓`);
  writeFileSync(corpus, lines.join('\n')); // ~3 MiB, no final newline
  const seen: string[] = [];
  await forEachLine(corpus, (l) => void seen.push(l));
  assert.equal(seen.length, lines.length);
  assert.ok(seen.every((l, i) => l === lines[i]));
  const r = await filterCorpus(corpus, { patterns: { Sunday: '\\bSunday\\b' }, maxPerLabel: 3 });
  assert.deepEqual(r.dataset.texts.map((t) => Number(t.split(' ')[0])), [999, 1999, 2999]);
  assert.ok(r.stats.stoppedEarly);
  assert.ok(r.stats.linesRead < lines.length);
});
