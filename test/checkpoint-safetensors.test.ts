import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { closeSync, ftruncateSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtlasError } from '../src/errors.ts';
import { SafetensorsFile, writeSafetensors } from '../src/model/safetensors.ts';
import { roundThrough } from '../src/model/float16.ts';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'atlas-st-'));
}

function randomValues(n: number, seed: number): Float32Array {
  const r = mulberry32(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * 8);
}

/** A safetensors file assembled by hand from a header object and raw data bytes. */
function rawFile(path: string, header: unknown, data: Uint8Array, headerLenOverride?: number): void {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(headerLenOverride ?? json.length));
  writeFileSync(path, Buffer.concat([len, json, data]));
}

function assertAtlasError(fn: () => unknown, ...parts: (string | RegExp)[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AtlasError, `expected AtlasError, got ${String(e)}`);
    for (const p of parts) {
      if (typeof p === 'string') assert.ok(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
      else assert.match(e.message, p);
    }
    return true;
  });
}

test('F32/F16/BF16 round trips equal the values rounded through the dtype; metadata and layout follow the format', () => {
  const dir = tmp();
  try {
    const a = { shape: [3, 5], data: randomValues(15, 1) };
    const b = { shape: [7], data: randomValues(7, 2) };
    const s = { shape: [], data: Float32Array.of(2.5) };
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const path = join(dir, `m-${dtype}.safetensors`);
      writeSafetensors(path, { a, b, s }, { dtype, metadata: { format: 'pt', note: dtype } });
      const f = SafetensorsFile.open(path);
      assert.deepEqual(f.names(), ['a', 'b', 's']);
      assert.deepEqual(f.metadata, { format: 'pt', note: dtype });
      for (const [name, t] of Object.entries({ a, b, s })) {
        const got = f.read(name);
        assert.deepEqual(got.shape, t.shape);
        assert.deepEqual(got.data, roundThrough(Float32Array.from(t.data), dtype), `${dtype} ${name}`);
        assert.equal(f.entry(name).dtype, dtype);
      }
      if (dtype !== 'F32') assert.notDeepEqual(f.read('a').data, a.data, 'narrow dtypes must actually round');
      // Data starts 8-byte aligned after the header, and the temp file was renamed away.
      const headerLen = Number(fs.readFileSync(path).readBigUInt64LE(0));
      assert.equal((8 + headerLen) % 8, 0);
      f.close();
    }
    assert.deepEqual(readdirSync(dir).filter((n) => n.includes('.tmp-')), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reads F64 and integer dtypes written by other tools', () => {
  const dir = tmp();
  try {
    const data = Buffer.alloc(16 + 8 + 2);
    data.writeDoubleLE(1.25, 0);
    data.writeDoubleLE(-3, 8);
    data.writeBigInt64LE(-7n, 16);
    data.writeUInt8(255, 24);
    data.writeUInt8(1, 25);
    const header = {
      d: { dtype: 'F64', shape: [2], data_offsets: [0, 16] },
      i: { dtype: 'I64', shape: [1], data_offsets: [16, 24] },
      u: { dtype: 'U8', shape: [1], data_offsets: [24, 25] },
      b: { dtype: 'BOOL', shape: [1], data_offsets: [25, 26] },
    };
    const path = join(dir, 'x.safetensors');
    rawFile(path, header, data);
    const f = SafetensorsFile.open(path);
    assert.deepEqual([...f.read('d').data], [1.25, -3]);
    assert.deepEqual([...f.read('i').data], [-7]);
    assert.deepEqual([...f.read('u').data], [255]);
    assert.deepEqual([...f.read('b').data], [1]);
    f.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('corrupt files give AtlasErrors naming the file and the tensor', () => {
  const dir = tmp();
  try {
    const p = (n: string): string => join(dir, n);
    const data = new Uint8Array(24);
    const ok = { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } };

    writeFileSync(p('short.safetensors'), Buffer.from([1, 2, 3]));
    assertAtlasError(() => SafetensorsFile.open(p('short.safetensors')), 'short.safetensors', 'truncated');

    rawFile(p('biglen.safetensors'), ok, data, 1_000_000);
    assertAtlasError(() => SafetensorsFile.open(p('biglen.safetensors')), 'biglen.safetensors', 'larger than the file');

    rawFile(p('json.safetensors'), '{"a": {"dtype": "F32",', data);
    assertAtlasError(() => SafetensorsFile.open(p('json.safetensors')), 'json.safetensors', 'not valid JSON');

    rawFile(p('range.safetensors'), { ...ok, b: { dtype: 'F32', shape: [4], data_offsets: [8, 40] } }, data);
    assertAtlasError(() => SafetensorsFile.open(p('range.safetensors')), 'range.safetensors', "'b'", 'past the end');

    rawFile(p('size.safetensors'), { ...ok, b: { dtype: 'F32', shape: [3], data_offsets: [8, 24] } }, data);
    assertAtlasError(() => SafetensorsFile.open(p('size.safetensors')), 'size.safetensors', "'b'", 'needs 12');

    rawFile(p('overlap.safetensors'), { a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] }, b: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, data);
    assertAtlasError(() => SafetensorsFile.open(p('overlap.safetensors')), 'overlap.safetensors', "'a'", "'b'", 'overlapping');

    rawFile(p('reversed.safetensors'), { a: { dtype: 'F32', shape: [0], data_offsets: [8, 0] } }, data);
    assertAtlasError(() => SafetensorsFile.open(p('reversed.safetensors')), 'reversed.safetensors', "'a'");

    rawFile(p('dtype.safetensors'), { a: { dtype: 'F8_E4M3', shape: [8], data_offsets: [0, 8] } }, data);
    assertAtlasError(() => SafetensorsFile.open(p('dtype.safetensors')), 'dtype.safetensors', "'a'", 'unsupported dtype');

    rawFile(p('shape.safetensors'), { a: { dtype: 'F32', shape: [-2], data_offsets: [0, 8] } }, data);
    assertAtlasError(() => SafetensorsFile.open(p('shape.safetensors')), 'shape.safetensors', "'a'", 'invalid shape');

    rawFile(p('array.safetensors'), [1, 2], data);
    assertAtlasError(() => SafetensorsFile.open(p('array.safetensors')), 'array.safetensors', 'not a JSON object');

    rawFile(p('fine.safetensors'), ok, data);
    const f = SafetensorsFile.open(p('fine.safetensors'));
    assertAtlasError(() => f.read('nope'), 'fine.safetensors', 'nope');
    f.close();

    assertAtlasError(() => SafetensorsFile.open(p('absent.safetensors')), 'absent.safetensors', 'cannot open');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reading one tensor reads only its byte range (fs.readSync byte count), even from a sparse 5 GB file', () => {
  const dir = tmp();
  const path = join(dir, 'huge.safetensors');
  const bigBytes = 5 * 2 ** 30; // beyond what readFileSync or one Buffer could hold
  const header = {
    big: { dtype: 'F32', shape: [bigBytes / 4], data_offsets: [0, bigBytes] },
    small: { dtype: 'F32', shape: [4], data_offsets: [bigBytes, bigBytes + 16] },
  };
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const fd = openSync(path, 'w');
  writeSync(fd, len, 0, 8, 0);
  writeSync(fd, json, 0, json.length, 8);
  const small = Float32Array.of(1, -2, 3.5, 1e-3);
  writeSync(fd, new Uint8Array(small.buffer), 0, 16, 8 + json.length + bigBytes);
  ftruncateSync(fd, 8 + json.length + bigBytes + 16);
  closeSync(fd);

  const original = fs.readSync;
  let bytesRead = 0;
  (fs as { readSync: typeof fs.readSync }).readSync = ((...args: Parameters<typeof fs.readSync>) => {
    const n = (original as (...a: unknown[]) => number)(...args);
    bytesRead += n;
    return n;
  }) as typeof fs.readSync;
  syncBuiltinESMExports(); // make `import { readSync } from 'node:fs'` in the module see the spy
  try {
    const f = SafetensorsFile.open(path);
    assert.equal(bytesRead, 8 + json.length, 'opening reads only the header');
    const t = f.read('small');
    assert.deepEqual(t.data, small);
    assert.equal(bytesRead, 8 + json.length + 16, 'one tensor reads only its 16 bytes');
    assert.deepEqual(f.entry('big').shape, [bigBytes / 4]);
    f.close();
  } finally {
    (fs as { readSync: typeof fs.readSync }).readSync = original;
    syncBuiltinESMExports();
    rmSync(dir, { recursive: true, force: true });
  }
});
