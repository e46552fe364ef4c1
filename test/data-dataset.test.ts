import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Int64, Table, Utf8, tableToIPC, vectorFromArray } from 'apache-arrow';
import { loadDataset, writeDatasetJsonl, seededShuffle, type Dataset } from '../src/data/dataset.ts';
import { AtlasError } from '../src/errors.ts';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'atlas-data-'));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function file(dir: string, name: string, content: string | Uint8Array): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

function labelNames(d: Dataset): string[] {
  return d.labels!.map((k) => d.classNames[k]);
}

/** Asserts an AtlasError whose message contains every fragment. */
async function rejectsWith(p: Promise<unknown>, ...fragments: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof AtlasError, `expected AtlasError, got ${e}`);
    for (const f of fragments) assert.ok(e.message.includes(f), `message "${e.message}" lacks "${f}"`);
    return true;
  });
}

test('CSV per RFC 4180: quotes, embedded commas, newlines, doubled quotes, CRLF, BOM, blank lines', async () => {
  const dir = tmp();
  const csv =
    '\uFEFFid,text,label\r\n' +
    '1,plain text,pos\r\n' +
    '2,"has, a comma",neg\r\n' +
    '\r\n' +
    '3,"spans\ntwo lines",pos\r\n' +
    '4,"she said ""hi""",neutral\r\n' +
    '5,"",pos'; // empty quoted text → error below; here we stop before it
  const d = await loadDataset(file(dir, 'a.csv', csv.slice(0, csv.lastIndexOf('5,'))));
  assert.deepEqual(d.texts, ['plain text', 'has, a comma', 'spans\ntwo lines', 'she said "hi"']);
  assert.deepEqual(d.classNames, ['pos', 'neg', 'neutral']);
  assert.deepEqual(d.labels, [0, 1, 0, 2]);
  assert.equal(d.name, 'a');
  // Row 5's empty text is named by its line (the blank line and the embedded newline count).
  await rejectsWith(loadDataset(file(dir, 'b.csv', csv)), 'b.csv', 'line 8', "column 'text'");
  await rejectsWith(loadDataset(file(dir, 'c.csv', 'text,label\n"never closed,pos\n')), 'c.csv', 'line 2', 'never closed');
  await rejectsWith(loadDataset(file(dir, 'd.csv', 'text,label\na,b,c\n')), 'd.csv', 'line 2', '3 fields');
});

test('TSV, JSON Lines, JSON array and plain text give the same dataset and the same hash', async () => {
  const dir = tmp();
  const rows = [
    ['the cat sat', 'animal'],
    ['stocks fell', 'money'],
    ['a dog barked', 'animal'],
    ['rates rose', 'money'],
  ];
  const tsv = await loadDataset(file(dir, 'x.tsv', 'label\ttext\n' + rows.map(([t, l]) => `${l}\t${t}`).join('\n') + '\n'));
  const jsonl = await loadDataset(file(dir, 'x.jsonl', rows.map(([t, l]) => JSON.stringify({ text: t, label: l, extra: 1 })).join('\n')));
  const json = await loadDataset(file(dir, 'x.json', JSON.stringify(rows.map(([t, l]) => ({ label: l, text: t })))));
  for (const d of [tsv, jsonl, json]) {
    assert.deepEqual(d.texts, rows.map((r) => r[0]));
    assert.deepEqual(labelNames(d), rows.map((r) => r[1]));
    assert.deepEqual(d.classNames, ['animal', 'money']);
    assert.equal(d.hash, tsv.hash);
    assert.match(d.hash, /^[0-9a-f]{64}$/);
  }
  const txt = await loadDataset(file(dir, 'x.txt', rows.map((r) => r[0]).join('\n') + '\n\n'));
  assert.deepEqual(txt.texts, rows.map((r) => r[0]));
  assert.equal(txt.labels, null);
  assert.deepEqual(txt.classNames, []);
  assert.notEqual(txt.hash, tsv.hash, 'labels are part of the content');
  assert.ok(txt.warnings.some((w) => w.includes('blank line')));
  // Numeric labels become class names in order of first appearance.
  const num = await loadDataset(file(dir, 'n.jsonl', '{"text":"a","label":2}\n{"text":"b","label":0}\n{"text":"c","label":2}\n{"text":"d","label":0}\n'));
  assert.deepEqual(num.classNames, ['2', '0']);
  assert.deepEqual(num.labels, [0, 1, 0, 1]);
  // Changing one character changes the hash.
  const changed = await loadDataset(file(dir, 'y.jsonl', rows.map(([t, l], i) => JSON.stringify({ text: i === 3 ? 'rates rose!' : t, label: l })).join('\n')));
  assert.notEqual(changed.hash, tsv.hash);
});

test('configurable columns; missing columns list the available ones', async () => {
  const dir = tmp();
  const p = file(dir, 'c.csv', 'sentence,topic\nhello there,greet\nbye now,farewell\nhi,greet\nciao,farewell\n');
  const d = await loadDataset(p, { textColumn: 'sentence', labelColumn: 'topic' });
  assert.deepEqual(d.classNames, ['greet', 'farewell']);
  await rejectsWith(loadDataset(p), 'c.csv', "no text column 'text'", 'available columns: sentence, topic');
  await rejectsWith(loadDataset(p, { textColumn: 'sentence', labelColumn: 'category' }), "no label column 'category'", 'sentence, topic');
  // The default label column may be absent: unlabelled, with a warning.
  const u = await loadDataset(p, { textColumn: 'sentence' });
  assert.equal(u.labels, null);
  assert.ok(u.warnings.some((w) => w.includes("no 'label' column")));
  const n = await loadDataset(p, { textColumn: 'sentence', labelColumn: null });
  assert.equal(n.labels, null);
  assert.deepEqual(n.warnings, []);
});

test('bad input: empty label, single-sample label, non-UTF-8, empty file, empty text, bad JSON', async () => {
  const dir = tmp();
  await rejectsWith(loadDataset(file(dir, 'el.csv', 'text,label\na,x\nb,\nc,x\n')), 'el.csv', 'line 3', 'empty or missing label', "'label'");
  await rejectsWith(loadDataset(file(dir, 'el.jsonl', '{"text":"a","label":"x"}\n{"text":"b"}\n')), 'el.jsonl', 'line 2', 'label');
  const one = await loadDataset(file(dir, 'one.csv', 'text,label\na,x\nb,x\nc,y\n'));
  assert.deepEqual(one.labels, [0, 0, 1]);
  assert.equal(one.warnings.length, 1);
  assert.match(one.warnings[0], /label 'y' has only one sample/);
  const latin1 = Buffer.concat([Buffer.from('text,label\nfine,a\nalso fine,a\ncaf'), Buffer.from([0xe9]), Buffer.from(',b\n')]);
  await rejectsWith(loadDataset(file(dir, 'bad.csv', latin1)), 'bad.csv', 'line 4', 'not valid UTF-8');
  await rejectsWith(loadDataset(file(dir, 'bad.txt', Buffer.concat([Buffer.from('ok\n'), Buffer.from([0xff, 0xfe, 0x41])]))), 'bad.txt', 'line 2', 'UTF-8');
  await rejectsWith(loadDataset(file(dir, 'empty.csv', '')), 'empty.csv', 'empty');
  await rejectsWith(loadDataset(file(dir, 'ws.jsonl', '\n  \n')), 'ws.jsonl', 'empty');
  await rejectsWith(loadDataset(file(dir, 'hdr.csv', 'text,label\n')), 'hdr.csv', 'no samples');
  await rejectsWith(loadDataset(file(dir, 'et.jsonl', '{"text":"a","label":"x"}\n{"text":"   ","label":"x"}\n')), 'et.jsonl', 'line 2', 'empty or missing text');
  await rejectsWith(loadDataset(file(dir, 'bj.jsonl', '{"text":"a","label":"x"}\n{"text": oops}\n')), 'bj.jsonl', 'line 2', 'not valid JSON');
  await rejectsWith(loadDataset(join(dir, 'nope.csv')), 'nope.csv', 'not found');
  await rejectsWith(loadDataset(file(dir, 'x.parquet', 'abc')), 'x.parquet', 'format');
});

test('per-label sampling with a seeded shuffle is deterministic and independent of other labels', async () => {
  const dir = tmp();
  const rows: string[] = [];
  for (let i = 0; i < 30; i++) rows.push(JSON.stringify({ text: `a${i}`, label: 'A' }), JSON.stringify({ text: `b${i}`, label: 'B' }));
  rows.push(JSON.stringify({ text: 'c0', label: 'C' }), JSON.stringify({ text: 'c1', label: 'C' }));
  const p = file(dir, 's.jsonl', rows.join('\n'));
  const s1 = await loadDataset(p, { numSamples: 5 });
  const s2 = await loadDataset(p, { numSamples: 5 });
  const s3 = await loadDataset(p, { numSamples: 5, seed: 1 });
  assert.deepEqual(s1.texts, s2.texts);
  assert.equal(s1.hash, s2.hash);
  assert.notDeepEqual(s1.texts, s3.texts);
  assert.notEqual(s1.hash, s3.hash);
  const counts = (d: Dataset) => d.classNames.map((_, k) => d.labels!.filter((l) => l === k).length);
  assert.deepEqual(counts(s1), [5, 5, 2]);
  assert.ok(s1.warnings.some((w) => w.includes("label 'C' has only 2")));
  // Kept rows stay in file order, and the A rows chosen are exactly the first 5 of a seed-0 shuffle of A's rows.
  const aIdx = Array.from({ length: 30 }, (_, i) => i);
  const expectA = seededShuffle(aIdx, 0).slice(0, 5).sort((x, y) => x - y).map((i) => `a${i}`);
  assert.deepEqual(s1.texts.filter((t) => t.startsWith('a')), expectA);
  const order = s1.texts.map((t) => rows.findIndex((r) => JSON.parse(r).text === t));
  assert.deepEqual(order, [...order].sort((x, y) => x - y));
  // Unlabelled: numSamples picks that many texts overall.
  const txt = await loadDataset(file(dir, 't.txt', aIdx.map((i) => `line ${i}`).join('\n')), { numSamples: 7 });
  assert.equal(txt.texts.length, 7);
  await rejectsWith(loadDataset(p, { numSamples: 0 }), 'numSamples');
});

test('seededShuffle is a uniform-looking permutation', () => {
  const n = 5;
  const firstCounts = new Array(n).fill(0);
  for (let seed = 0; seed < 2000; seed++) {
    const s = seededShuffle([0, 1, 2, 3, 4], seed);
    assert.deepEqual([...s].sort(), [0, 1, 2, 3, 4]);
    firstCounts[s[0]]++;
  }
  // Each element leads ~400 times out of 2000; a biased shuffle (e.g. off-by-one in j) fails this.
  for (const c of firstCounts) assert.ok(c > 320 && c < 480, `counts ${firstCounts}`);
});

test('match spans from columns or a regex; invalid spans are rejected', async () => {
  const dir = tmp();
  const p = file(dir, 'm.jsonl', ['{"text":"See you on Monday.","label":"Monday","match_start":11,"match_end":17}', '{"text":"Friday again","label":"Friday","match_start":0,"match_end":6}'].join('\n'));
  const d = await loadDataset(p);
  assert.deepEqual(d.matches, [{ start: 11, end: 17 }, { start: 0, end: 6 }]);
  const r = await loadDataset(p, { matchRegex: '/(mon|fri)day/i' });
  assert.deepEqual(r.matches, d.matches);
  assert.equal(r.hash, d.hash);
  const noSpans = await loadDataset(p, { matchStartColumn: 'none', matchEndColumn: 'none' });
  assert.equal(noSpans.matches, undefined);
  assert.notEqual(noSpans.hash, d.hash);
  await rejectsWith(loadDataset(p, { matchRegex: 'Monday' }), 'line 2', 'does not match');
  const bad = file(dir, 'bad.jsonl', '{"text":"short","label":"x","match_start":2,"match_end":9}');
  await rejectsWith(loadDataset(bad), 'bad.jsonl', 'line 1', 'match span');
});

function arrowStream(texts: string[], labels: number[]): Uint8Array {
  const table = new Table({ text: vectorFromArray(texts, new Utf8()), label: vectorFromArray(labels.map(BigInt), new Int64()) });
  return tableToIPC(table, 'stream');
}

function writeHfFolder(dir: string, shards: { texts: string[]; labels: number[] }[], names: string[]): void {
  mkdirSync(dir, { recursive: true });
  const files = shards.map((_, i) => `data-${String(i).padStart(5, '0')}-of-${String(shards.length).padStart(5, '0')}.arrow`);
  shards.forEach((s, i) => writeFileSync(join(dir, files[i]), arrowStream(s.texts, s.labels)));
  writeFileSync(
    join(dir, 'dataset_info.json'),
    JSON.stringify({ citation: '', description: '', features: { text: { dtype: 'string', _type: 'Value' }, label: { names, _type: 'ClassLabel' } } }),
  );
  writeFileSync(
    join(dir, 'state.json'),
    JSON.stringify({ _data_files: files.map((filename) => ({ filename })), _fingerprint: 'abc123', _format_columns: null, _format_kwargs: {}, _format_type: null, _output_all_columns: false, _split: 'train' }),
  );
}

test('Hugging Face save_to_disk folder: Arrow stream shards in state.json order, ClassLabel names', async () => {
  const dir = join(tmp(), 'hf');
  writeHfFolder(dir, [{ texts: ['great film', 'awful plot', 'it was fine'], labels: [2, 0, 1] }, { texts: ['loved it', 'boring'], labels: [2, 0] }], ['negative', 'neutral', 'positive']);
  const d = await loadDataset(dir);
  assert.deepEqual(d.texts, ['great film', 'awful plot', 'it was fine', 'loved it', 'boring']);
  assert.deepEqual(labelNames(d), ['positive', 'negative', 'neutral', 'positive', 'negative']);
  assert.deepEqual(d.classNames, ['positive', 'negative', 'neutral'], 'order of first appearance');
  assert.ok(d.warnings.some((w) => w.includes("'neutral' has only one sample")));
  // Same content as JSON Lines → same hash.
  const j = await loadDataset(file(tmp(), 'same.jsonl', d.texts.map((t, i) => JSON.stringify({ text: t, label: labelNames(d)[i] })).join('\n')));
  assert.equal(j.hash, d.hash);
  await rejectsWith(loadDataset(dir, { textColumn: 'sentence' }), 'hf', "'sentence'", 'available columns: text, label');
  // DatasetDict: one folder per split.
  const dd = join(tmp(), 'dd');
  writeHfFolder(join(dd, 'train'), [{ texts: ['a', 'b'], labels: [0, 1] }], ['x', 'y']);
  writeHfFolder(join(dd, 'test'), [{ texts: ['c', 'd'], labels: [1, 1] }], ['x', 'y']);
  writeFileSync(join(dd, 'dataset_dict.json'), JSON.stringify({ splits: ['train', 'test'] }));
  const train = await loadDataset(dd);
  assert.deepEqual(train.texts, ['a', 'b']);
  assert.ok(train.warnings.some((w) => w.includes("split 'train'")));
  const testSplit = await loadDataset(dd, { split: 'test' });
  assert.deepEqual(labelNames(testSplit), ['y', 'y']);
  await rejectsWith(loadDataset(dd, { split: 'validation' }), "split 'validation' not found", 'train, test');
  // -1 is the datasets convention for "no label".
  const nl = join(tmp(), 'nl');
  writeHfFolder(nl, [{ texts: ['a', 'b'], labels: [0, -1] }], ['x']);
  await rejectsWith(loadDataset(nl), 'row 1', 'empty or missing label');
});

test('writeDatasetJsonl round-trips texts, labels and spans', async () => {
  const dir = tmp();
  const d = await loadDataset(file(dir, 'm.jsonl', '{"text":"x \\"q\\" Monday","label":"Monday","match_start":6,"match_end":12}\n{"text":"Tuesday","label":"Tuesday","match_start":0,"match_end":7}'));
  writeDatasetJsonl(d, join(dir, 'out.jsonl'));
  const back = await loadDataset(join(dir, 'out.jsonl'));
  assert.deepEqual(back.texts, d.texts);
  assert.deepEqual(back.matches, d.matches);
  assert.equal(back.hash, d.hash);
  assert.ok(readFileSync(join(dir, 'out.jsonl'), 'utf8').endsWith('\n'));
});

test('CSV/TSV parser round-trips randomly generated RFC 4180 content (quotes, delimiters, newlines, empty fields)', async () => {
  const { parseDelimited } = await import('../src/data/formats/csv.ts');
  const { seededRandom } = await import('../src/data/dataset.ts');
  const rand = seededRandom(42);
  const alphabet = ['a', 'b', ' ', ',', '\t', '"', '\n', 'é', '🌍', '\r\n', 'x'];
  for (const delim of [',', '\t'] as const) {
    for (let trial = 0; trial < 40; trial++) {
      const nCols = 1 + Math.floor(rand() * 4);
      const header = Array.from({ length: nCols }, (_, c) => `col${c}`);
      const rows: string[][] = [];
      const nRows = 1 + Math.floor(rand() * 12);
      for (let r = 0; r < nRows; r++) {
        const row = Array.from({ length: nCols }, () => Array.from({ length: Math.floor(rand() * 6) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join(''));
        if (nCols === 1 && row[0] === '') row[0] = 'z'; // a lone empty field is a blank line, which is skipped
        rows.push(row);
      }
      const quote = (f: string) => (rand() < 0.3 || /[",\t\r\n]/.test(f) ? `"${f.replace(/"/g, '""')}"` : f);
      const eol = rand() < 0.5 ? '\n' : '\r\n';
      const text = [header, ...rows].map((r) => r.map(quote).join(delim)).join(eol) + (rand() < 0.5 ? eol : '');
      const parsed = parseDelimited(text, delim, 'gen.csv');
      assert.deepEqual(parsed.columns, header);
      assert.deepEqual(parsed.records.map((rec) => header.map((h) => rec.values[h])), rows, JSON.stringify(text));
      // Each record's reported line is 1 + the newlines before it.
      let line = 2;
      parsed.records.forEach((rec, i) => {
        assert.equal(rec.where, `line ${line}`);
        line += 1 + rows[i].map(quote).join(delim).split('\n').length - 1;
      });
    }
  }
});
