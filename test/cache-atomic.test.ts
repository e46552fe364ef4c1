import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic, writeJsonAtomic } from '../src/data/atomic.ts';
import { hashJson, stableStringify, ContentHasher } from '../src/data/hash.ts';

test('writeFileAtomic writes strings, bytes and chunk lists; a failed write keeps the old file and leaves no temp', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-atomic-'));
  try {
    const p = join(dir, 'sub', 'f.bin');
    writeFileAtomic(p, 'héllo');
    assert.equal(readFileSync(p, 'utf8'), 'héllo');
    writeFileAtomic(p, [Uint8Array.of(1, 2), Uint8Array.of(), Uint8Array.of(3)]);
    assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
    // A chunk that cannot be written makes the write fail midway: the old content must survive.
    const failing = {
      get byteLength(): number {
        throw new Error('disk full');
      },
    } as unknown as Uint8Array;
    assert.throws(() => writeFileAtomic(p, [Uint8Array.of(9, 9), failing]), /disk full/);
    assert.deepEqual([...readFileSync(p)], [1, 2, 3]);
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['f.bin']);
    writeJsonAtomic(join(dir, 'x.json'), { b: 1, a: [1, 2] });
    assert.equal(readFileSync(join(dir, 'x.json'), 'utf8'), '{\n  "b": 1,\n  "a": [\n    1,\n    2\n  ]\n}\n');
    writeFileSync(join(dir, 'plain'), 'x'); // sanity: the dir is writable by ordinary means too
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('hashes: key order does not matter, content does; length prefixes prevent concatenation collisions', () => {
  assert.equal(stableStringify({ b: 1, a: { d: 2, c: undefined, e: [3, { g: 1, f: 2 }] } }), '{"a":{"d":2,"e":[3,{"f":2,"g":1}]},"b":1}');
  assert.equal(hashJson({ x: 1, y: 2 }), hashJson({ y: 2, x: 1 }));
  assert.notEqual(hashJson({ x: 1, y: 2 }), hashJson({ x: 1, y: 3 }));
  assert.equal(hashJson({ x: 1 }).length, 16);
  const h = (parts: string[]) => parts.reduce((c, p) => c.string(p), new ContentHasher()).hex();
  assert.notEqual(h(['ab', 'c']), h(['a', 'bc']));
  assert.equal(h(['ab', 'c']), h(['ab', 'c']));
  assert.notEqual(new ContentHasher().number(1).hex(), new ContentHasher().string('1').hex());
});
