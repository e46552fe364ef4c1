import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy, readNpyF32, writeNpy, npyHeader } from '../src/data/npy.ts';
import { AtlasError } from '../src/errors.ts';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'atlas-npy-'));
  tmpDirs.push(d);
  return d;
}
test.after(() => {
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

/** An independent minimal .npy reader, written from the NumPy format spec (NEP 1). */
function refRead(bytes: Uint8Array): { version: number; headerText: string; dataOffset: number; descr: string; shape: number[]; values: number[] } {
  assert.deepEqual([...bytes.subarray(0, 6)], [0x93, ...Buffer.from('NUMPY')]);
  const version = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const hlen = version === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  const hstart = version === 1 ? 10 : 12;
  const headerText = Buffer.from(bytes.subarray(hstart, hstart + hlen)).toString('latin1');
  const dataOffset = hstart + hlen;
  const descr = /'descr': '([^']+)'/.exec(headerText)![1];
  const shapeText = /'shape': \(([^)]*)\)/.exec(headerText)![1];
  const shape = shapeText.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  assert.match(headerText, /'fortran_order': False/);
  const n = shape.reduce((a, b) => a * b, 1);
  const values: number[] = [];
  for (let i = 0; i < n; i++) {
    const o = dataOffset + i * (descr === '<f8' ? 8 : descr === '<f2' ? 2 : 4);
    if (descr === '<f4') values.push(dv.getFloat32(o, true));
    else if (descr === '<f8') values.push(dv.getFloat64(o, true));
    else if (descr === '<i4') values.push(dv.getInt32(o, true));
    else values.push(dv.getUint16(o, true));
  }
  return { version, headerText, dataOffset, descr, shape, values };
}

test('header bytes for a float32 (3, 4) array equal what numpy.save writes', () => {
  const path = join(tmp(), 'a.npy');
  const data = Float32Array.from({ length: 12 }, (_, i) => i * 0.5 - 2);
  writeNpy(path, data, [3, 4]);
  const bytes = readFileSync(path);
  // numpy ≥ 1.24: dict, then 21 - len('3') spare spaces, then padding to 64 bytes, then '\n'.
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  const expectedHeader = dict + ' '.repeat(128 - 10 - dict.length - 1) + '\n';
  assert.equal(bytes.length, 128 + 48);
  assert.deepEqual([...bytes.subarray(0, 10)], [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]); // 'v\x00' = 118
  assert.equal(bytes.subarray(10, 128).toString('latin1'), expectedHeader);
  const ref = refRead(bytes);
  assert.deepEqual(ref.shape, [3, 4]);
  assert.deepEqual(ref.values, Array.from(data));
  assert.equal(readdirSync(join(path, '..')).length, 1, 'no temp file left behind');
});

test('header is 64-byte aligned, ends in newline, and shapes print like Python tuples', () => {
  const dir = tmp();
  const cases: [number[], string][] = [
    [[5], '(5,)'],
    [[], '()'],
    [[2, 3, 4], '(2, 3, 4)'],
    [[0, 7], '(0, 7)'],
    [[123456789, 0], '(123456789, 0)'],
  ];
  for (const [shape, repr] of cases) {
    const n = shape.reduce((a, b) => a * b, 1);
    const path = join(dir, `s${shape.join('x')}.npy`);
    writeNpy(path, new Float64Array(n).map((_, i) => i / 3), shape);
    const ref = refRead(readFileSync(path));
    assert.equal(ref.dataOffset % 64, 0, `aligned for ${repr}`);
    assert.ok(ref.headerText.endsWith('\n'));
    assert.ok(ref.headerText.includes(`'shape': ${repr}, }`), ref.headerText);
    assert.deepEqual(ref.shape, shape);
    assert.deepEqual(ref.values, Array.from({ length: n }, (_, i) => i / 3));
    const back = readNpy(path);
    assert.equal(back.dtype, '<f8');
    assert.deepEqual(back.shape, shape);
  }
  // Every header length (varying the shape's digits) is a multiple of 64, including when padding is a full 64.
  for (let d = 1; d < 2000; d += 37) {
    const h = npyHeader('<f4', [d, d * 7]);
    assert.equal(h.length % 64, 0);
    assert.equal(h[h.length - 1], 0x0a);
  }
});

test('format 2.0 is used when the header exceeds 65535 bytes', () => {
  const path = join(tmp(), 'big-header.npy');
  const shape = new Array(22000).fill(1);
  writeNpy(path, Int32Array.of(-7), shape);
  const bytes = readFileSync(path);
  assert.equal(bytes[6], 2);
  const ref = refRead(bytes);
  assert.equal(ref.dataOffset % 64, 0);
  assert.equal(ref.shape.length, 22000);
  assert.deepEqual(ref.values, [-7]);
  assert.deepEqual(Array.from(readNpy(path).data), [-7]);
});

test('float16 on request rounds to nearest even; int32 and float32 round-trip exactly', () => {
  const dir = tmp();
  // Known half bit patterns (IEEE 754 binary16).
  const values = Float32Array.of(1, -2, 65504, 1 / 3, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 2 ** -24, 70000, 0.1);
  const expectBits = [0x3c00, 0xc000, 0x7bff, 0x3555, 0x3c00, 0x3c02, 0x0001, 0x7c00, 0x2e66];
  const p16 = join(dir, 'h.npy');
  writeNpy(p16, values, [values.length], { dtype: '<f2' });
  const ref = refRead(readFileSync(p16));
  assert.equal(ref.descr, '<f2');
  assert.deepEqual(ref.values, expectBits);
  const widened = readNpyF32(p16).data;
  assert.equal(widened[0], 1);
  assert.equal(widened[3], 0.333251953125); // 0x3555
  assert.equal(widened[7], Infinity);

  const ints = Int32Array.of(0, -1, 2147483647, -2147483648);
  writeNpy(join(dir, 'i.npy'), ints, [2, 2]);
  assert.deepEqual(Array.from(readNpy(join(dir, 'i.npy')).data), Array.from(ints));
  const f = Float32Array.of(Math.PI, -0, 1e-40, NaN);
  writeNpy(join(dir, 'f.npy'), f, [4]);
  const back = readNpy(join(dir, 'f.npy')).data as Float32Array;
  assert.ok(Object.is(back[1], -0));
  assert.equal(back[0], Math.fround(Math.PI));
  assert.equal(back[2], Math.fround(1e-40));
  assert.ok(Number.isNaN(back[3]));
});

test('bad files give AtlasErrors naming the file', () => {
  const dir = tmp();
  const bad = join(dir, 'bad.npy');
  writeFileSync(bad, 'not numpy at all');
  assert.throws(() => readNpy(bad), (e: unknown) => e instanceof AtlasError && e.message.includes(bad) && /magic/.test(e.message));
  const trunc = join(dir, 'trunc.npy');
  writeNpy(trunc, new Float32Array(10), [10]);
  writeFileSync(trunc, readFileSync(trunc).subarray(0, 128 + 20));
  assert.throws(() => readNpy(trunc), /truncated/);
  const fortran = join(dir, 'fortran.npy');
  writeNpy(fortran, new Float32Array(4), [2, 2]);
  const b = readFileSync(fortran);
  b.write("'fortran_order': True, ", b.indexOf("'fortran_order'"), 'latin1');
  writeFileSync(fortran, b);
  assert.throws(() => readNpy(fortran), /Fortran/);
  assert.throws(() => writeNpy(join(dir, 'x.npy'), new Float32Array(5), [2, 2]), AtlasError);
});
