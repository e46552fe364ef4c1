import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint, mulberry32 } from '../src/model/tiny-checkpoint.ts';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { SafetensorsFile, writeSafetensors } from '../src/model/safetensors.ts';
import type { F32Tensor } from '../src/model/tensor.ts';
import { analyzeSimilarity } from '../src/params/similarity.ts';
import { SimilarityPool } from '../src/params/similarity-pool.ts';
import { taskVector } from '../src/params/task-vector.ts';
import { matrixShape } from '../src/params/tensor-stream.ts';

const root = mkdtempSync(join(tmpdir(), 'params-sim-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const base = join(root, 'base');
writeTinyCheckpoint(base, { architecture: 'gpt2', seed: 1, nLayer: 2, dModel: 16, nHead: 2, std: 0.5 });

function readAll(dir: string): Map<string, F32Tensor> {
  const c = openCheckpoint(dir);
  const names = c.names();
  if (c.has('lm_head.weight') && !names.includes('lm_head.weight')) names.push('lm_head.weight'); // tied
  const m = new Map(names.map((n) => [n, c.tensor(n)] as const));
  c.close();
  return m;
}

/** A copy of `base` whose weights are `transform(name, tensor)` (null drops the tensor). */
function derived(name: string, transform: (n: string, t: F32Tensor) => F32Tensor | null): string {
  const dir = join(root, name);
  cpSync(base, dir, { recursive: true });
  unlinkSync(join(dir, 'model.safetensors'));
  const out: [string, F32Tensor][] = [];
  for (const [n, t] of readAll(base)) {
    if (n === 'lm_head.weight') continue; // tied: stored once
    const v = transform(n, t);
    if (v) out.push([n, v]);
  }
  writeSafetensors(join(dir, 'model.safetensors'), out);
  return dir;
}

const scaled = derived('scaled', (_n, t) => {
  const [rows, cols] = matrixShape(t.shape);
  const r = mulberry32(5);
  const s = Array.from({ length: cols }, () => 0.1 + 5 * r());
  const data = t.data.map((x, i) => x * s[i % cols]);
  return { shape: t.shape, data: Float32Array.from(data.subarray(0, rows * cols)) };
});
const orthogonal = derived('orthogonal', (_n, t) => {
  const [rows, cols] = matrixShape(t.shape);
  const data = new Float32Array(t.data.length);
  // rotate pairs of rows by 90°: (x, y) → (−y, x) makes every column orthogonal to the original's
  for (let r = 0; r + 1 < rows; r += 2) for (let c = 0; c < cols; c++) {
    data[r * cols + c] = -t.data[(r + 1) * cols + c];
    data[(r + 1) * cols + c] = t.data[r * cols + c];
  }
  return { shape: t.shape, data };
});

test('column-wise cosine: self → 1, column-scaled copy → 1, orthogonal-column copy → 0 (small row blocks)', async () => {
  const res = await analyzeSimilarity([base, base, scaled, orthogonal], { blockBytes: 512 });
  assert.equal(res.pairs.length, 6);
  assert.deepEqual(res.problems, []);
  const [self, withScaled, withOrth] = [`${res.models[0].label}|${res.models[1].label}`, `${res.models[0].label}|scaled`, `${res.models[0].label}|orthogonal`];
  assert.equal(new Set(res.tensors.map((t) => t.name)).size, readAll(base).size - 1); // tied lm_head is not listed
  for (const t of res.tensors) {
    for (const k of [self, withScaled]) {
      assert.ok(Math.abs(t.pairs[k].min - 1) < 1e-6 && Math.abs(t.pairs[k].max - 1) < 1e-6, `${t.name} ${k}: ${JSON.stringify(t.pairs[k])}`);
    }
    // 1-row-tall columns (1-D tensors are one column; rows pair up) are orthogonal too
    assert.ok(Math.abs(t.pairs[withOrth].min) < 1e-6 && Math.abs(t.pairs[withOrth].max) < 1e-6, `${t.name} orthogonal: ${JSON.stringify(t.pairs[withOrth])}`);
  }
  const agg = res.aggregates.find((a) => a.pair === withOrth && a.group === '1' && a.component === 'all')!;
  assert.ok(Math.abs(agg.stats.mean) < 1e-6);
  assert.ok(res.bytesRead > 0);
});

test('column cosines agree with a direct float64 computation; torch-bin and float16 copies stream the same', async () => {
  const other = join(root, 'other');
  writeTinyCheckpoint(other, { architecture: 'gpt2', seed: 2, nLayer: 2, dModel: 16, nHead: 2, std: 0.5, format: 'torch-bin' });
  const half = join(root, 'half');
  writeTinyCheckpoint(half, { architecture: 'gpt2', seed: 2, nLayer: 2, dModel: 16, nHead: 2, std: 0.5, dtype: 'F16' });
  const res = await analyzeSimilarity([base, other, half], { blockBytes: 300 });
  const A = readAll(base);
  const B = readAll(other);
  for (const t of res.tensors) {
    const a = A.get(t.name)!;
    const b = B.get(t.name)!;
    const [rows, cols] = matrixShape(a.shape);
    // GPT-2's c_attn packs q | k | v along its last axis: the weight's columns (Conv1D [in, out]) and the bias's
    // elements (one column, rows split) are divided in thirds, one record each
    let c0 = 0, c1 = cols, r0 = 0, r1 = rows;
    if (/c_attn/.test(t.name)) {
      const third = ['attn_q', 'attn_k', 'attn_v'].indexOf(t.component);
      assert.ok(third >= 0, `${t.name}: ${t.component}`);
      if (a.shape.length === 2) { c0 = (third * cols) / 3; c1 = ((third + 1) * cols) / 3; } else { r0 = (third * rows) / 3; r1 = ((third + 1) * rows) / 3; }
    }
    const cos: number[] = [];
    for (let c = c0; c < c1; c++) {
      let d = 0, na = 0, nb = 0;
      for (let r = r0; r < r1; r++) {
        const x = a.data[r * cols + c];
        const y = b.data[r * cols + c];
        d += x * y; na += x * x; nb += y * y;
      }
      cos.push(d / Math.sqrt(na * nb));
    }
    const mean = cos.reduce((s, x) => s + x, 0) / cos.length;
    const st = t.pairs['base|other'];
    assert.ok(Math.abs(st.mean - mean) < 1e-9, `${t.name}: mean ${st.mean} vs ${mean}`);
    assert.ok(Math.abs(st.min - Math.min(...cos)) < 1e-9);
    // the float16 copy of the same weights is ~identical
    assert.ok(t.pairs['other|half'].min > 0.999, `${t.name} f16 vs f32 ${t.pairs['other|half'].min}`);
  }
});

test('threads: shares of rows read and accumulated by worker threads give the one-thread result (float64 rounding)', async () => {
  const half = join(root, 'half-threads');
  writeTinyCheckpoint(half, { architecture: 'gpt2', seed: 2, nLayer: 2, dModel: 16, nHead: 2, std: 0.5, dtype: 'F16' });
  const one = await analyzeSimilarity([base, scaled, half], { blockBytes: 300, threads: 1 });
  // the worker threads alone take every chunk (the main thread only waits), so their code path is what is checked
  await SimilarityPool.get(2).ready();
  SimilarityPool.mainClaims = false;
  const three = await analyzeSimilarity([base, scaled, half], { blockBytes: 300, threads: 3, minParallelBytes: 1 }).finally(() => { SimilarityPool.mainClaims = true; });
  assert.equal(three.tensors.length, one.tensors.length);
  assert.equal(three.bytesRead, one.bytesRead);
  one.tensors.forEach((t, i) => {
    for (const [k, st] of Object.entries(t.pairs)) {
      const u = three.tensors[i].pairs[k];
      for (const f of ['mean', 'min', 'median', 'max'] as const) assert.ok(Math.abs(st[f] - u[f]) < 1e-12, `${t.name} ${k} ${f}: ${st[f]} vs ${u[f]}`);
    }
  });
});

test('missing tensors and shape mismatches are reported, not fatal', async () => {
  const broken = derived('broken', (n, t) => (n === 'h.0.mlp.c_fc.bias' ? null : n === 'h.1.ln_1.weight' ? { shape: [8], data: t.data.slice(0, 8) } : t));
  const res = await analyzeSimilarity([base, broken]);
  assert.equal(res.problems.length, 2);
  assert.match(res.problems.find((p) => p.tensor === 'h.0.mlp.c_fc.bias')!.problem, /missing in broken/);
  assert.match(res.problems.find((p) => p.tensor === 'h.1.ln_1.weight')!.problem, /shape \[8\]/);
  assert.equal(new Set(res.tensors.map((t) => t.name)).size, readAll(base).size - 3);
});

test('task vector: τ = finetuned − base, norms per tensor and layer, Fisher-weighted change, safetensors output', async () => {
  const delta = (n: string, i: number): number => (n.startsWith('h.1.') ? 0.01 * ((i % 7) - 3) : 0);
  const ft = derived('finetuned', (n, t) => ({ shape: t.shape, data: t.data.map((x, i) => x + delta(n, i)) }));
  const A = readAll(base);
  const fisherPath = join(root, 'fisher.safetensors');
  writeSafetensors(fisherPath, [...A].filter(([n]) => n !== 'lm_head.weight').map(([n, t]) => [n, { shape: t.shape, data: t.data.map((_x, i) => (i % 3) + 1) }] as const));
  const out = join(root, 'tau.safetensors');
  const rep = taskVector(base, ft, { out, fisher: fisherPath });
  assert.deepEqual(rep.problems, []);
  const tau = SafetensorsFile.open(out);
  const F = readAll(ft);
  for (const c of rep.tensors) {
    const a = A.get(c.name)!.data;
    const f = F.get(c.name)!.data;
    const t = tau.read(c.name).data;
    let n2 = 0, b2 = 0, fw = 0;
    for (let i = 0; i < a.length; i++) {
      const d = f[i] - a[i];
      assert.equal(t[i], Math.fround(d));
      n2 += d * d; b2 += a[i] * a[i]; fw += ((i % 3) + 1) * d * d;
    }
    assert.ok(Math.abs(c.norm - Math.sqrt(n2)) <= 1e-9 * (1 + Math.sqrt(n2)), c.name);
    assert.ok(Math.abs(c.relative - Math.sqrt(n2 / b2)) <= 1e-9, c.name);
    assert.ok(Math.abs(c.fisherWeighted! - fw) <= 1e-9 * (1 + fw), c.name);
    if (!c.name.startsWith('h.1.')) assert.equal(c.norm, 0);
  }
  tau.close();
  const l0 = rep.layers.find((l) => l.group === '0')!;
  const l1 = rep.layers.find((l) => l.group === '1')!;
  assert.equal(l0.norm, 0);
  assert.ok(l1.relative > 0);
  const want = Math.sqrt(rep.tensors.filter((c) => c.group === '1').reduce((s, c) => s + c.norm ** 2, 0));
  assert.ok(Math.abs(l1.norm - want) < 1e-12);
});
