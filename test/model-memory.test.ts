/**
 * One copy of the weights (issue 18): a child process loads a generated ~0.8 GB-float32 bf16 Llama checkpoint
 * (200 M parameters, 0.4 GB on disk), runs one forward batch and reports its peak RSS (VmHWM of
 * /proc/self/status). With onnxruntime's pre-packing off (what loadModel picks when the packed copy would not
 * fit maxMemory), the peak while loading stays within 1.25 × the float32 weight bytes + the process's own base;
 * with pre-packing on (the default when memory allows) within 1.9 ×; and in both cases the peak after a forward
 * (VmHWM, the whole process) within 1.25 ×. Linux only (VmHWM). About 30–40 s on an idle core: generation ~5 s, two loads.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { ensureCheckpoint, LLAMA_3_2_1B } from '../bench/big-models.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { float32WeightBytes } from '../src/model/memory.ts';

let root: string;
before(() => { root = mkdtempSync(join(tmpdir(), 'atlas-memory-')); });
after(() => rmSync(root, { recursive: true, force: true }));

const CHILD = `
import { readFileSync } from 'node:fs';
const status = () => readFileSync('/proc/self/status', 'utf8');
const kb = (k) => Number(new RegExp(k + ':\\\\s+(\\\\d+) kB').exec(status())[1]) * 1024;
const { loadModel } = await import(${JSON.stringify(resolve('src/model/load.ts'))});
const base = kb('VmRSS');
const m = await loadModel(process.argv[2], { threads: 1, prepack: process.argv[3] === 'prepack' });
const loaded = kb('VmHWM');
const B = 2, T = 16;
await m.runtime.forward({ ids: Int32Array.from({ length: B * T }, (_, i) => i % 200), attentionMask: new Uint8Array(B * T).fill(1), batch: B, seqLen: T });
console.log(JSON.stringify({ base, loaded, peak: kb('VmHWM'), anon: kb('RssAnon') }));
`;

function runChild(dir: string, mode: string): { base: number; loaded: number; peak: number; anon: number } {
  const file = join(root, 'child.mjs');
  writeFileSync(file, CHILD);
  const out = execFileSync(process.execPath, ['--import', 'tsx', file, dir, mode], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return JSON.parse(out.trim().split('\n').pop()!);
}

test('loading a ~1 GB (float32) checkpoint holds one float32 copy of the weights beside onnxruntime', { skip: !existsSync('/proc/self/status') && 'needs /proc (Linux)' }, () => {
  const dir = ensureCheckpoint({ ...LLAMA_3_2_1B, name: 'mem-1g', hidden: 1024, intermediate: 2816, layers: 12, heads: 16, kvHeads: 4, vocab: 32000, tied: false }, root);
  const ckpt = openCheckpoint(dir);
  const f32 = float32WeightBytes(ckpt.spec);
  ckpt.close();
  assert.ok(f32 > 0.7e9, `the checkpoint is ~1 GB as float32 (${f32})`);
  const GB = 2 ** 30;
  const lean = runChild(dir, 'one-copy');
  const ratio = (lean.loaded - lean.base) / f32;
  assert.ok(ratio <= 1.25, `one copy: load peak ${(lean.loaded / GB).toFixed(2)} GiB − base ${(lean.base / GB).toFixed(2)} = ${ratio.toFixed(2)} × float32 weights (${(f32 / GB).toFixed(2)} GiB)`);
  // the whole-process peak, after a forward (activations are tiny here): the graph's JS copies of the weights
  // (stacked q/k/v and gate/up included) must be gone before onnxruntime touches its own copy (issue 18: 1.94 × before)
  const peak = (lean.peak - lean.base) / f32;
  assert.ok(peak <= 1.25, `one copy: peak after a forward ${(lean.peak / GB).toFixed(2)} GiB − base = ${peak.toFixed(2)} × float32 weights`);
  const packed = runChild(dir, 'prepack');
  const r2 = (packed.loaded - packed.base) / f32;
  assert.ok(r2 <= 1.9, `pre-packed: load peak ${r2.toFixed(2)} × float32 weights`);
  const p2 = (packed.peak - packed.base) / f32;
  assert.ok(p2 <= 1.25, `pre-packed: peak after a forward ${p2.toFixed(2)} × float32 weights`);
});
