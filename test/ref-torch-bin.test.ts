/**
 * Our torch.save reader (src/model/torch-bin.ts) on files written by REAL PyTorch 1.13 (torch.save of a module
 * state dict with tied weights, strided and offset views sharing one storage, float16, bfloat16, float64,
 * int32/int64 and 0-d tensors; the legacy pre-1.6 format; a nested dict of nn.Parameters). Expected values were
 * dumped by torch itself (scripts/reference/torch_io.py write-fixture).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TorchBinFile } from '../src/model/torch-bin.ts';
import { FIXTURES, jsonFixture, npy } from './ref-fixtures.ts';
import { join } from 'node:path';

interface Meta {
  torch: string;
  files: Record<string, string[]>;
  dtypes: Record<string, string>;
  tied: [string, string][];
}
const meta = jsonFixture<Meta>('torch', 'meta.json');
const DTYPE: Record<string, string> = { float32: 'F32', float16: 'F16', bfloat16: 'BF16', float64: 'F64', int64: 'I64', int32: 'I32' };

for (const [file, names] of Object.entries(meta.files)) {
  test(`reads ${file} written by torch ${meta.torch}: every tensor equals torch's values`, () => {
    const f = TorchBinFile.open(join(FIXTURES, 'torch', file));
    try {
      assert.equal(f.layout, file.includes('legacy') ? 'legacy' : 'zip');
      if (f.layout === 'zip') assert.equal(f.prefix, file.replace(/\.bin$/, ''), 'torch 1.13 names the archive folder after the file');
      assert.deepEqual(f.names().sort(), names);
      for (const name of names) {
        const want = npy('torch', 'expected', `${name}.npy`);
        const got = f.read(name);
        assert.deepEqual(got.shape, want.shape, `${name}: shape`);
        // Every stored value is exactly representable in float32 except float64's: compare exactly, or to
        // float32 rounding for 'double'.
        for (let i = 0; i < want.data.length; i++) {
          const w = want.data[i]!;
          const expected = meta.dtypes[name] === 'float64' ? Math.fround(w) : w;
          assert.equal(got.data[i], expected, `${name}[${i}]`);
        }
        if (meta.dtypes[name]) assert.equal(f.ref(name).storage.dtype, DTYPE[meta.dtypes[name]!], `${name}: storage dtype`);
      }
      for (const [a, b] of file === 'torch-params.bin' ? [] : meta.tied) {
        assert.equal(f.ref(a).storage.key, f.ref(b).storage.key, `${a} and ${b} share one storage in torch`);
      }
      if (file !== 'torch-params.bin') {
        // Views into `base`: same storage, their own offsets and strides.
        assert.equal(f.ref('row_slice').storage.key, f.ref('base').storage.key);
        assert.equal(f.ref('row_slice').offset, 6);
        assert.deepEqual(f.ref('transposed').stride, [1, 6]);
        assert.deepEqual(f.ref('col_slice').stride, [6, 1]);
      }
    } finally {
      f.close();
    }
  });
}
