import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtlasError } from '../src/errors.ts';
import { PyCall, PyGlobal, PyPersistentId, pickle, unpickle } from '../src/model/pickle.ts';
import { TorchBinFile, type TorchTensorView, writeTorchBin } from '../src/model/torch-bin.ts';
import type { TensorSource } from '../src/model/safetensors.ts';
import { ZipReader, ZipWriter } from '../src/model/zip.ts';
import { f32ToF16, roundThrough } from '../src/model/float16.ts';

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'atlas-pt-'));
}

function assertAtlasError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AtlasError, `expected AtlasError, got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
    return true;
  });
}

function writeZip(path: string, entries: [string, Uint8Array][], deflate = false): void {
  const fd = openSync(path, 'w');
  const z = new ZipWriter(fd, { deflate });
  for (const [n, d] of entries) z.add(n, d);
  z.finish();
  closeSync(fd);
}

/**
 * State dicts pickled by CPython itself (protocols 2 and 4) with stub classes standing in for torch's:
 * OrderedDict{ w: FloatStorage '0' (2,3) stride (3,1); wt: same storage viewed (3,2) stride (1,3);
 * h: HalfStorage '1' offset 1 size (3,); big: 2**40; neg: -5; f: 0.5; lst: [1,'x',None,True] } with `_metadata` BUILD state.
 */
const CPYTHON_PICKLES: Record<string, string> = {
  p2: '800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710128580100000077710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a71055801000000307106580300000063707571074b06747108514b004b024b038671094b034b0186710a8968002952710b74710c52710d58020000007774710e6803286808514b004b034b0286710f4b014b0386711089680029527111747112527113580100000068711468032828680463746f7263680a48616c6653746f726167650a7115580100000031711668074b04747117514b014b038571184b018571198968002952711a74711b52711c5803000000626967711d8a0600000000000158030000006e6567711e4afbffffff580100000066711f473fe000000000000058030000006c737471205d7121284b0158010000007871224e8865757d712358090000005f6d6574616461746171247d7125580000000071267d7127580700000076657273696f6e71284b01737373622e',
  p4: '80049555010000000000008c0b636f6c6c656374696f6e73948c0b4f72646572656444696374949394295294288c0177948c0c746f7263682e5f7574696c73948c125f72656275696c645f74656e736f725f763294939428288c0773746f72616765948c05746f726368948c0c466c6f617453746f726167659493948c0130948c03637075944b067494514b004b024b0386944b034b018694896802295294749452948c02777494680728680e514b004b034b0286944b014b038694896802295294749452948c01689468072828680868098c0b48616c6653746f726167659493948c013194680d4b047494514b014b0385944b018594896802295294749452948c03626967948a060000000000018c036e6567944afbffffff8c016694473fe00000000000008c036c7374945d94284b018c0178944e8865757d948c095f6d65746164617461947d948c00947d948c0776657273696f6e944b01737373622e',
};

test('reads state dicts pickled by CPython (protocols 2 and 4): strided views, shared storage, offsets, F16', () => {
  const dir = tmp();
  try {
    const storage0 = Float32Array.of(0, 1, 2, 3, 4, 5);
    const halves = Float32Array.of(-1, 0.5, 1.5, 65504);
    for (const [proto, hex] of Object.entries(CPYTHON_PICKLES)) {
      for (const deflate of [false, true]) {
        const path = join(dir, `${proto}-${deflate}.bin`);
        writeZip(path, [
          ['mymodel/data.pkl', Buffer.from(hex, 'hex')],
          ['mymodel/data/0', new Uint8Array(storage0.buffer)],
          ['mymodel/data/1', new Uint8Array(f32ToF16(halves).buffer)],
          ['mymodel/version', Buffer.from('3\n')],
        ], deflate);
        const f = TorchBinFile.open(path);
        assert.equal(f.prefix, 'mymodel');
        assert.deepEqual(f.names(), ['w', 'wt', 'h']); // non-tensor entries are skipped
        assert.deepEqual(f.read('w'), { shape: [2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) });
        // (3,2) view with stride (1,3) is the transpose: wt[i][j] = storage[i + 3j]
        assert.deepEqual(f.read('wt'), { shape: [3, 2], data: Float32Array.of(0, 3, 1, 4, 2, 5) });
        assert.deepEqual(f.read('h'), { shape: [3], data: Float32Array.of(0.5, 1.5, 65504) });
        f.close();
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the pickle VM decodes ints, longs, floats, lists and memo references like CPython', () => {
  const bytes = Buffer.from(CPYTHON_PICKLES.p2, 'hex');
  const root = unpickle(bytes, {
    file: 'x.pkl',
    findClass: (m, n) => (m === 'collections' ? () => new Map() : m === 'torch' ? { storage: n } : (args: unknown[]) => ({ rebuilt: args })),
    persistentLoad: (pid) => ({ pid }),
  }) as Map<string, unknown>;
  assert.equal(root.get('big'), 2 ** 40);
  assert.equal(root.get('neg'), -5);
  assert.equal(root.get('f'), 0.5);
  assert.deepEqual(root.get('lst'), [1, 'x', null, true]);
  // The shared storage pid tuple is the same (memoised) object in both tensors.
  const w = root.get('w') as { rebuilt: unknown[] };
  const wt = root.get('wt') as { rebuilt: unknown[] };
  assert.equal((w.rebuilt[0] as { pid: unknown }).pid, (wt.rebuilt[0] as { pid: unknown }).pid);
  // Our encoder's output is decoded back to the same values (ints across the BININT1/2/4/LONG1 boundaries).
  const ints = [0, 255, 256, 65535, 65536, -1, -2147483648, 2147483647, 2147483648, -2147483649, 2 ** 52, -(2 ** 52)];
  const back = unpickle(pickle(new Map<string, number[]>([['ints', ints]])), { file: 'y', findClass: () => undefined });
  assert.deepEqual((back as Map<string, unknown>).get('ints'), ints);
});

test('writer output: torch.save layout (prefix, version, byteorder, 64-byte aligned data) and exact round trip', () => {
  const dir = tmp();
  try {
    const storage = Float32Array.from({ length: 24 }, (_, i) => i * 0.25 - 3);
    const a = { shape: [4, 6], data: storage };
    const tensors: [string, TensorSource | TorchTensorView][] = [
      ['a', a],
      ['a_tied', a], // same data object → one shared storage, as tied weights
      ['view', { storage, offset: 2, shape: [3, 2], stride: [1, 5] }],
      ['scalar', { shape: [], data: Float32Array.of(-1e4) }],
      ['lazy', { shape: [2, 2], produce: () => Float32Array.of(1, 2, 3, 4) }],
    ];
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const path = join(dir, `m-${dtype}.bin`);
      writeTorchBin(path, tensors, { dtype });
      const zip = ZipReader.open(path);
      assert.deepEqual([...zip.entries.keys()], ['archive/data.pkl', 'archive/byteorder', 'archive/data/0', 'archive/data/1', 'archive/data/2', 'archive/version']);
      assert.equal(Buffer.from(zip.read('archive/version')).toString(), '3\n');
      assert.equal(Buffer.from(zip.read('archive/byteorder')).toString(), 'little');
      for (const name of zip.entries.keys()) {
        assert.equal(zip.entries.get(name)!.method, 0);
        assert.equal(zip.dataOffset(name) % 64, 0, `${name} is 64-byte aligned`);
      }
      zip.close();
      const f = TorchBinFile.open(path);
      const r = (x: Float32Array): Float32Array => roundThrough(Float32Array.from(x), dtype);
      assert.deepEqual(f.read('a'), { shape: [4, 6], data: r(storage) });
      assert.deepEqual(f.read('a_tied'), f.read('a'));
      assert.equal(f.ref('a').storage, f.ref('a_tied').storage);
      assert.equal(f.ref('view').storage, f.ref('a').storage);
      const view = Float32Array.from([0, 1, 2].flatMap((i) => [0, 1].map((j) => storage[2 + i + 5 * j])));
      assert.deepEqual(f.read('view'), { shape: [3, 2], data: r(view) });
      assert.deepEqual(f.read('scalar'), { shape: [], data: r(Float32Array.of(-1e4)) });
      assert.deepEqual(f.read('lazy'), { shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) });
      f.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad torch files give AtlasErrors naming the file (unknown global, missing storage, not a zip, short storage)', () => {
  const dir = tmp();
  try {
    const p = (n: string): string => join(dir, n);
    const evil = pickle(new Map([['x', new PyCall(new PyGlobal('os', 'system'), ['echo hi'])]]));
    writeZip(p('evil.bin'), [['archive/data.pkl', evil]]);
    assertAtlasError(() => TorchBinFile.open(p('evil.bin')), 'evil.bin', "'os.system'");

    const rebuild = (key: string, n: number, shape: number[]): PyCall =>
      new PyCall(new PyGlobal('torch._utils', '_rebuild_tensor_v2'), [
        new PyPersistentId(['storage', new PyGlobal('torch', 'FloatStorage'), key, 'cpu', n]), 0, shape, shape.length ? [1] : [], false, new Map(),
      ]);
    writeZip(p('nostorage.bin'), [['archive/data.pkl', pickle(new Map([['w', rebuild('0', 4, [4])]]))]]);
    assertAtlasError(() => TorchBinFile.open(p('nostorage.bin')), 'nostorage.bin', "storage '0'", 'missing');

    writeZip(p('short.bin'), [['archive/data.pkl', pickle(new Map([['w', rebuild('0', 4, [4])]]))], ['archive/data/0', new Uint8Array(8)]]);
    assertAtlasError(() => TorchBinFile.open(p('short.bin')), 'short.bin', "storage '0'", 'holds 8 bytes');

    writeZip(p('past.bin'), [['archive/data.pkl', pickle(new Map([['w', rebuild('0', 2, [4])]]))], ['archive/data/0', new Uint8Array(8)]]);
    const f = TorchBinFile.open(p('past.bin'));
    assertAtlasError(() => f.read('w'), 'past.bin', "'w'", 'runs past its storage');
    f.close();

    writeFileSync(p('notzip.bin'), Buffer.from('this is not a zip file at all, just text'));
    assertAtlasError(() => TorchBinFile.open(p('notzip.bin')), 'notzip.bin', 'not a zip');

    const good = p('good.bin');
    writeTorchBin(good, [['w', { shape: [2], data: Float32Array.of(1, 2) }]]);
    writeFileSync(p('truncated.bin'), readFileSync(good).subarray(0, 100));
    assertAtlasError(() => TorchBinFile.open(p('truncated.bin')), 'truncated.bin');

    const badPickle = Buffer.from(pickle(new Map([['w', 1]]))).subarray(0, 5);
    writeZip(p('badpickle.bin'), [['archive/data.pkl', badPickle]]);
    assertAtlasError(() => TorchBinFile.open(p('badpickle.bin')), 'badpickle.bin', 'pickle');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/**
 * Legacy (PyTorch < 1.6) stream pickled by CPython with torch stubs: magic, 1001, sys_info, state dict
 * {a: storage '93' (2,3); b: storage '140' offset 1 size (2,) stride (2,); at: '93' viewed (3,2) stride (1,3)},
 * sorted keys ['140', '93']; the test appends each storage as int64 count + float32 bytes in that order.
 */
const LEGACY_PICKLES = '80028a0a6cfc9c46f9206aa850192e80024de9032e80027d710028581000000070726f746f636f6c5f76657273696f6e71014de903580d0000006c6974746c655f656e6469616e710288580a000000747970655f73697a657371037d710428580500000073686f727471054b025803000000696e7471064b0458040000006c6f6e6771074b0475752e800263636f6c6c656374696f6e730a4f726465726564446963740a71002952710128580100000061710263746f7263682e5f7574696c730a5f72656275696c645f74656e736f725f76320a71032828580700000073746f72616765710463746f7263680a466c6f617453746f726167650a7105580200000039337106580300000063707571074b064e747108514b004b024b038671094b034b0186710a8968002952710b74710c52710d580100000062710e68032828680468055803000000313430710f68074b044e747110514b014b028571116811896800295271127471135271145802000000617471156803286808514b004b034b028671164b014b038671178968002952711874711952711a752e80025d71002858030000003134307101580200000039337102652e';

test('reads legacy (pre-1.6) torch.save files; truncated ones give AtlasErrors', () => {
  const dir = tmp();
  try {
    const storage = (values: number[]): Buffer => {
      const count = Buffer.alloc(8);
      count.writeBigInt64LE(BigInt(values.length));
      return Buffer.concat([count, Buffer.from(Float32Array.from(values).buffer)]);
    };
    const bytes = Buffer.concat([Buffer.from(LEGACY_PICKLES, 'hex'), storage([10, 11, 12, 13]), storage([0, 1, 2, 3, 4, 5])]);
    const path = join(dir, 'legacy.bin');
    writeFileSync(path, bytes);
    const f = TorchBinFile.open(path);
    assert.equal(f.layout, 'legacy');
    assert.deepEqual(f.read('a'), { shape: [2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5) });
    assert.deepEqual(f.read('b'), { shape: [2], data: Float32Array.of(11, 13) });
    assert.deepEqual(f.read('at'), { shape: [3, 2], data: Float32Array.of(0, 3, 1, 4, 2, 5) });
    f.close();
    writeFileSync(join(dir, 'cut.bin'), bytes.subarray(0, bytes.length - 4));
    assertAtlasError(() => TorchBinFile.open(join(dir, 'cut.bin')), 'cut.bin', 'truncated');
    writeFileSync(join(dir, 'cut2.bin'), bytes.subarray(0, 200));
    assertAtlasError(() => TorchBinFile.open(join(dir, 'cut2.bin')), 'cut2.bin');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
