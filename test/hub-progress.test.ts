import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { progress, formatAmount, formatDuration } from '../src/util/progress.ts';

function sink(isTTY: boolean): Writable & { isTTY: boolean; text: () => string; columns: number } {
  const chunks: string[] = [];
  const w = new Writable({ write(chunk, _enc, cb) { chunks.push(String(chunk)); cb(); } }) as Writable & { isTTY: boolean; text: () => string; columns: number };
  w.isTTY = isTTY;
  w.columns = 120;
  w.text = () => chunks.join('');
  return w;
}

test('non-TTY (issue 15.23): no bar, a plain line per tenth of the work, then one summary line', () => {
  const s = sink(false);
  const p = progress({ total: 10, label: 'extract', unit: 'tok', stream: s });
  for (let i = 0; i < 10; i++) p.tick(1, { layer: i });
  p.done();
  p.done();
  const lines = s.text().split('\n').filter(Boolean);
  assert.equal(lines.length, 10);
  assert.match(lines[0]!, /^extract: 1 tok of 10 tok \(10%, [\d.?]+ tok\/s\) layer=0$/);
  assert.match(lines.at(-1)!, /^extract: 10 tok in [\d.]+s \((\? tok|[\d.]+ tok)\/s\)$/);
});

test('issue 15.23: cached work is not counted in the rate; units agree with their number', () => {
  const s = sink(false);
  const p = progress({ total: 3, label: 'extract', unit: 'texts', stream: s });
  p.skip(2);
  p.tick(1);
  p.done();
  const last = s.text().trim().split('\n').at(-1)!;
  assert.match(last, /^extract: 3 texts in [\d.]+s \([\d.]+ texts\/s, 2 texts already cached\)$/);
  assert.equal(formatAmount(1, 'texts'), '1 text');
  assert.equal(formatAmount(20, 'text'), '20 texts');
  assert.equal(formatAmount(1, 'layers'), '1 layer');
});

test('TTY: live bar shows label, counts, rate and extra fields', () => {
  const s = sink(true);
  const p = progress({ total: 4, label: 'download', unit: 'B', stream: s });
  p.tick(2048, { file: 'model.safetensors' });
  p.done();
  const out = s.text();
  assert.match(out, /download/);
  assert.match(out, /2\.0 KiB\/4 B/);
  assert.match(out, /\/s/);
  assert.match(out, /file=model\.safetensors/);
});

test('LATENT_ATLAS_QUIET=1 and enabled:false print nothing', () => {
  const s = sink(true);
  process.env.LATENT_ATLAS_QUIET = '1';
  try {
    const p = progress({ total: 3, label: 'x', stream: s });
    p.tick(3);
    p.done();
  } finally {
    delete process.env.LATENT_ATLAS_QUIET;
  }
  const q = progress({ total: 3, label: 'x', stream: s, enabled: false });
  q.tick();
  q.done();
  assert.equal(s.text(), '');
});

test('formatting helpers', () => {
  assert.equal(formatAmount(512, 'B'), '512 B');
  assert.equal(formatAmount(1536, 'B'), '1.5 KiB');
  assert.equal(formatAmount(3 * 1024 ** 3, 'B'), '3.0 GiB');
  assert.equal(formatAmount(7, 'tok'), '7 tok');
  assert.equal(formatDuration(5.25), '5.3s');
  assert.equal(formatDuration(75), '1m15s');
  assert.equal(formatDuration(3725), '1h02m');
  assert.equal(formatDuration(Infinity), '?');
});
