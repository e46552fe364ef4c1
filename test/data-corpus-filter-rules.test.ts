import { CLI_ARGS } from './cli-entry.ts';
import test from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { filterCorpus } from '../src/data/corpus-filter.ts';
import { loadDataset } from '../src/data/dataset.ts';

const DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const dir = mkdtempSync(join(tmpdir(), 'atlas-filter-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** 10,000 generated lines: every 10th mentions a day, in varying case, some inside longer words. */
function corpusLines(): string[] {
  const lines: string[] = [];
  for (let i = 0; i < 10_000; i++) {
    const day = DAYS[i % 7]!;
    if (i % 10 === 0) lines.push(`Line ${i}: we met on ${day} and talked for hours.`);
    else if (i % 10 === 3) lines.push(`Line ${i}: ${day.toLowerCase()} mornings are slow, said ${i}.`);
    else if (i % 10 === 7) lines.push(`Line ${i}: the ${day}s club and the pre${day.toLowerCase()} meeting.`);
    else lines.push(`Line ${i}: nothing happens here (${i}).`);
  }
  return lines;
}
const corpus = join(dir, 'corpus.txt');
const lines = corpusLines();
writeFileSync(corpus, lines.join('\n') + '\n');

test('span rule (ours): case-sensitive builtin patterns, whole text kept, match span recorded; counts per label', async () => {
  const r = await filterCorpus(corpus, { patterns: 'builtin:days', maxPerLabel: 50 });
  for (const d of DAYS) assert.equal(r.stats.keptPerLabel[d], 50, d);
  r.dataset.texts.forEach((t, i) => {
    const label = r.dataset.classNames[r.dataset.labels![i]!]!;
    const m = r.dataset.matches![i]!;
    assert.equal(t.slice(m.start, m.end), label, 'the span covers the keyword');
    assert.ok(t.endsWith('hours.'), 'only the capitalised, bounded mentions match; the text is kept whole');
    assert.equal(lines[r.origins[i]!.line - 1], t, 'origin line numbers point at the text');
  });
});

test('cut rule (the original notebook): case-insensitive, bounded by non-word characters, text cut after the keyword', async () => {
  const r = await filterCorpus(corpus, { patterns: 'builtin:days', maxPerLabel: 100, rule: 'cut' });
  for (const d of DAYS) assert.equal(r.stats.keptPerLabel[d], 100, d);
  let lower = 0;
  r.dataset.texts.forEach((t, i) => {
    const label = r.dataset.classNames[r.dataset.labels![i]!]!;
    const m = r.dataset.matches![i]!;
    assert.equal(m.end, t.length, 'the text ends at the keyword');
    assert.equal(t.slice(m.start).toLowerCase(), label.toLowerCase());
    assert.doesNotMatch(t, /club|pre\w+day/i, "'Mondays' and 'premonday' are not bounded keywords");
    if (t.slice(m.start) !== label) lower++;
  });
  assert.ok(lower > 0, 'lower-case mentions match under the cut rule');
  // Independent check of the first kept 'Wednesday' text against the rule written out.
  const i = r.dataset.labels!.indexOf(r.dataset.classNames.indexOf('Wednesday'));
  const src = lines[r.origins[i]!.line - 1]!;
  const at = src.toLowerCase().search(/(?<![a-z0-9_])wednesday(?![a-z0-9_])/);
  assert.equal(r.dataset.texts[i], src.slice(0, at + 'wednesday'.length));
});

test('the filter streams: memory does not grow with the corpus size, and it stops once every label is full', async () => {
  const big = join(dir, 'big.txt');
  const w = createWriteStream(big);
  const filler = 'x'.repeat(120);
  for (let i = 0; i < 300_000; i++) w.write(`${i} ${filler}\n`);
  w.write('at last on Monday\n');
  await new Promise<void>((res) => w.end(res));
  const before = process.memoryUsage().heapUsed;
  const r = await filterCorpus(big, { patterns: { Monday: '\\bMonday\\b' }, maxPerLabel: 1 });
  const grown = process.memoryUsage().heapUsed - before;
  assert.equal(r.stats.linesRead, 300_001);
  assert.ok(grown < 24 * 2 ** 20, `heap grew by ${(grown / 2 ** 20).toFixed(1)} MiB for a 37 MB corpus`);
  const early = await filterCorpus(corpus, { patterns: { Monday: '\\bMonday\\b' }, maxPerLabel: 2 });
  assert.ok(early.stats.stoppedEarly && early.stats.linesRead < 200, `stopped after ${early.stats.linesRead} lines`);
});

test('filter command: CSV with spans that loadDataset reads back; bad input is one line, exit 2', async () => {
  const run = promisify(execFile);
  
  const env = { ...process.env, LATENT_ATLAS_QUIET: '1' };
  const out = join(dir, 'filtered.csv');
  const { stdout } = await run(process.execPath, [...CLI_ARGS, 'filter', '--corpus', corpus, '--patterns', 'builtin:days', '--per-label', '5', '--rule', 'cut', '--out', out], { env });
  assert.match(stdout, /kept 35 texts/);
  const ds = await loadDataset(out);
  assert.equal(ds.texts.length, 35);
  assert.ok(ds.matches!.every((m, i) => m.end === ds.texts[i]!.length));
  for (const [args, msg] of [
    [['--patterns', 'builtin:days'], /--corpus is required/],
    [['--corpus', join(dir, 'none.txt'), '--patterns', 'builtin:days'], /corpus not found/],
    [['--corpus', corpus, '--patterns', 'builtin:weekdays'], /unknown built-in pattern set/],
    [['--corpus', corpus, '--patterns', 'builtin:days', '--rule', 'fuzzy'], /--rule must be span or cut/],
  ] as const) {
    const e = await run(process.execPath, [...CLI_ARGS, 'filter', ...args], { env }).then(() => null, (err: { code: number; stderr: string }) => err);
    assert.ok(e, `${args.join(' ')} must fail`);
    assert.equal(e.code, 2);
    assert.match(e.stderr, msg);
    assert.doesNotMatch(e.stderr, /\n\s+at /);
  }
});
