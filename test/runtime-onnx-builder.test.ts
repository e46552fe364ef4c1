import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { GraphBuilder, createSession } from '../src/model/onnx-builder.ts';

function matmulGraph(a: Float32Array, k: number, n: number): GraphBuilder {
  const g = new GraphBuilder('mm');
  g.input('x', 'float32', ['m', k]);
  const w = g.initializer('w', a, [k, n]);
  const y = g.node('MatMul', ['x', w]);
  const z = g.node('Add', [y, g.constF32(1)]);
  // Softmax attribute check: axis=-1 is an INT attribute.
  g.node('Softmax', [z], 'y', { axis: -1 });
  g.output('y', 'float32', ['m', n]);
  return g;
}

function reference(x: Float32Array, w: Float32Array, m: number, k: number, n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < m; i++) {
    const row: number[] = [];
    for (let j = 0; j < n; j++) {
      let s = 1;
      for (let l = 0; l < k; l++) s += x[i * k + l]! * w[l * n + j]!;
      row.push(s);
    }
    const mx = Math.max(...row);
    const e = row.map((v) => Math.exp(v - mx));
    const z = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / z));
  }
  return out;
}

for (const external of ['inline', 'memory', 'dir'] as const) {
  test(`GraphBuilder MatMul+Add+Softmax matches a float64 loop (weights: ${external})`, async () => {
    const m = 3, k = 16, n = 32; // 2 KB of weights: above the 1 KB inline limit, so external data is exercised
    const w = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i) * 0.2);
    const x = Float32Array.from({ length: m * k }, (_, i) => Math.cos(i * 1.3));
    const dir = mkdtempSync(join(tmpdir(), 'atlas-onnx-'));
    try {
      const s = await createSession(matmulGraph(w, k, n), { threads: 1, weights: external === 'dir' ? { dir } : external });
      if (external === 'dir') assert.ok(existsSync(join(dir, 'mm.onnx')));
      const r = await s.run({ x: new ort.Tensor('float32', x, [m, k]) });
      const y = r.y!.data as Float32Array;
      const ref = reference(x, w, m, k, n);
      assert.equal(y.length, ref.length);
      for (let i = 0; i < y.length; i++) assert.ok(Math.abs(y[i]! - ref[i]!) < 1e-6, `${i}: ${y[i]} vs ${ref[i]}`);
      await s.release();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('GraphBuilder: float attributes, int64 constants, multi-output nodes and com.microsoft ops', async () => {
  const g = new GraphBuilder('misc');
  g.input('x', 'float32', [2, 4]);
  const gamma = g.constF32([1, 2, 3, 4]);
  const beta = g.constF32([0, 0, 0, 1]);
  const [ln] = g.nodeMulti('LayerNormalization', ['x', gamma, beta], 1, { axis: -1, epsilon: { f: 1e-5 } });
  const parts = g.nodeMulti('Split', [ln!, g.constI64([2, 2])], 2, { axis: 1 });
  g.node('FastGelu', [parts[1]!], 'y', {}, 'com.microsoft');
  g.output('y', 'float32', [2, 2]);
  const s = await createSession(g, { threads: 1 });
  const x = Float32Array.from([1, 2, 3, 4, -1, 0, 0, 5]);
  const y = (await s.run({ x: new ort.Tensor('float32', x, [2, 4]) })).y!.data as Float32Array;
  const expect: number[] = [];
  for (let r = 0; r < 2; r++) {
    const row = Array.from(x.slice(r * 4, r * 4 + 4));
    const mu = row.reduce((a, b) => a + b) / 4;
    const v = row.reduce((a, b) => a + (b - mu) ** 2, 0) / 4;
    const n = row.map((t, i) => ((t - mu) / Math.sqrt(v + 1e-5)) * [1, 2, 3, 4][i]! + [0, 0, 0, 1][i]!);
    for (const t of n.slice(2)) expect.push(0.5 * t * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (t + 0.044715 * t ** 3))));
  }
  for (let i = 0; i < 4; i++) assert.ok(Math.abs(y[i]! - expect[i]!) < 1e-5, `${y[i]} vs ${expect[i]}`);
  await s.release();
});

test('GraphBuilder rejects duplicate names and mis-sized initializers', () => {
  const g = new GraphBuilder();
  g.input('x', 'float32', [1]);
  assert.throws(() => g.input('x', 'float32', [1]), /already used/);
  assert.throws(() => g.initializer('w', new Float32Array(3), [2, 2]), /3 elements/);
  assert.notEqual(g.fresh('x'), 'x');
});
