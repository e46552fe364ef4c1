import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../src/model/config.ts';
import { ParamStore, type FloatArray } from '../src/params/param-store.ts';
import { adamWStep, clipGradNorm, newAdamWState } from '../src/params/optimizer.ts';
import { cosineWithWarmup } from '../src/params/schedule.ts';
import { buildCompactVocab, compactCrossEntropy, compactIds, expandEmbedding } from '../src/params/compact-vocab.ts';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

test('cosine schedule with warm-up: hand-computed values', () => {
  const o = { peak: 1e-3, warmup: 10, total: 110, min: 1e-4 };
  close(cosineWithWarmup(0, o), 1e-4, 1e-12, 'first warm-up step');
  close(cosineWithWarmup(4, o), 5e-4, 1e-12, 'mid warm-up');
  close(cosineWithWarmup(10, o), 1e-3, 1e-12, 'peak');
  close(cosineWithWarmup(60, o), (1e-3 + 1e-4) / 2, 1e-12, 'half-way through the decay');
  close(cosineWithWarmup(35, o), 1e-4 + 0.5 * 9e-4 * (1 + Math.cos(Math.PI / 4)), 1e-12, 'quarter of the decay');
  close(cosineWithWarmup(110, o), 1e-4, 1e-12, 'end');
  close(cosineWithWarmup(500, o), 1e-4, 1e-12, 'past the end stays at the floor');
  close(cosineWithWarmup(60, { peak: 1, warmup: 10, total: 110 }), 0.55, 1e-12, 'default floor peak/10');
});

function scalarStore(values: Record<string, number[]>): ParamStore<Float32Array> {
  const cfg = parseConfig({ model_type: 'gpt2', n_layer: 1, n_embd: 4, n_head: 1, vocab_size: 8, n_positions: 4 });
  return new ParamStore(cfg, new Map(Object.entries(values).map(([n, v]) => [n, { shape: n.startsWith('m') ? [1, v.length] : [v.length], data: Float32Array.from(v) }])));
}

test('AdamW matches a float64 hand computation (decay on matrices only)', () => {
  // "mat" is 2-D (decayed), "bias" 1-D (not decayed), as torch param groups in GPT-2 training
  const p = scalarStore({ mat: [0.5, -1.0], bias: [0.25] });
  const st = newAdamWState(p);
  const lr = 0.1, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.5;
  const gradsSeq: Record<string, number[]>[] = [{ mat: [0.2, -0.4], bias: [1.0] }, { mat: [-0.1, 0.3], bias: [0.5] }, { mat: [0.05, 0.05], bias: [-2] }];
  const ref: Record<string, { p: number[]; m: number[]; v: number[] }> = {
    mat: { p: [0.5, -1.0], m: [0, 0], v: [0, 0] },
    bias: { p: [0.25], m: [0], v: [0] },
  };
  gradsSeq.forEach((g, k) => {
    const t = k + 1;
    for (const [name, r] of Object.entries(ref)) {
      for (let i = 0; i < r.p.length; i++) {
        if (name === 'mat') r.p[i] -= lr * wd * r.p[i];
        r.m[i] = b1 * r.m[i] + (1 - b1) * g[name][i];
        r.v[i] = b2 * r.v[i] + (1 - b2) * g[name][i] ** 2;
        const mh = r.m[i] / (1 - b1 ** t);
        const vh = r.v[i] / (1 - b2 ** t);
        r.p[i] -= (lr * mh) / (Math.sqrt(vh) + eps);
      }
    }
    adamWStep(p, new Map(Object.entries(g).map(([n, v]) => [n, Float32Array.from(v) as FloatArray])), st, lr, { beta1: b1, beta2: b2, eps, weightDecay: wd });
  });
  assert.equal(st.step, 3);
  for (const [name, r] of Object.entries(ref)) r.p.forEach((x, i) => close(p.get(name).data[i], x, 1e-6, `${name}[${i}]`));
  // the first step of Adam moves every coordinate by ≈ lr (sign of the gradient): a sanity check of the bias correction
  const q = scalarStore({ mat: [0], bias: [0] });
  adamWStep(q, new Map([['mat', Float32Array.from([3])], ['bias', Float32Array.from([-1e-3])]]), newAdamWState(q), 0.01, { weightDecay: 0 });
  close(q.get('mat').data[0], -0.01, 1e-5, 'first step size');
  close(q.get('bias').data[0], 0.01, 1e-4, 'first step size (small gradient)');
});

test('global-norm clipping as clip_grad_norm_', () => {
  const g = new Map<string, FloatArray>([['a', Float32Array.from([3, 0])], ['b', Float32Array.from([4])]]);
  const norm = clipGradNorm(g, 1);
  close(norm, 5, 1e-12, 'norm before clipping');
  const c = 1 / (5 + 1e-6);
  close(g.get('a')![0], 3 * c, 1e-7, 'a clipped');
  close(g.get('b')![0], 4 * c, 1e-7, 'b clipped');
  const h = new Map<string, FloatArray>([['a', Float32Array.from([0.3, 0.4])]]);
  close(clipGradNorm(h, 1), 0.5, 1e-7, 'small norm');
  assert.deepEqual([...h.get('a')!], [Math.fround(0.3), Math.fround(0.4)], 'below the threshold nothing changes');
});

test('compact vocabulary: loss and gradient equal the full-vocabulary softmax with shared rare rows', () => {
  const counts = [5, 0, 9, 1, 7, 0, 3, 2, 0, 4];
  const vocab = buildCompactVocab(counts, 4, [8]);
  // kept: 8 (always) + the 3 most frequent of the rest: 2 (9), 4 (7), 0 (5)
  assert.deepEqual([...vocab.active], [0, 2, 4, 8]);
  assert.equal(vocab.rare, 4);
  assert.equal(vocab.rareCount, 6);
  assert.deepEqual([...compactIds(vocab, [0, 1, 2, 3, 8, 9])], [0, 4, 1, 4, 3, 4]);
  const rows = 3;
  const V = vocab.size;
  const z = Float64Array.from({ length: rows * V }, (_, i) => Math.sin(1.7 * i) * 3);
  const targetsFull = [2, 7, 8];
  const targets = compactIds(vocab, targetsFull);
  // reference: the full 10-token softmax where every rare token carries the rare row's logit
  let ref = 0;
  for (let r = 0; r < rows; r++) {
    const full = Array.from({ length: 10 }, (_, id) => z[r * V + vocab.toCompact[id]]);
    const lse = Math.log(full.reduce((s, x) => s + Math.exp(x), 0));
    ref += lse - full[targetsFull[r]];
  }
  const noGrad = z.slice();
  const res = compactCrossEntropy(noGrad, targets, V, vocab);
  close(res.lossSum, ref, 1e-12, 'loss');
  assert.equal(res.count, 3);
  assert.deepEqual([...noGrad], [...z], 'without grad the logits are left untouched');
  // gradient: finite differences of the compact loss in float64
  const g = z.slice();
  compactCrossEntropy(g, targets, V, vocab, { grad: true, scale: 0.5 });
  const h = 1e-6;
  for (let i = 0; i < z.length; i++) {
    const zp = z.slice(); zp[i] += h;
    const zm = z.slice(); zm[i] -= h;
    const fd = (compactCrossEntropy(zp, targets, V, vocab).lossSum - compactCrossEntropy(zm, targets, V, vocab).lossSum) / (2 * h);
    close(g[i], 0.5 * fd, 1e-6, `dLogits[${i}]`);
  }
  // ignored targets give zero gradient rows
  const z2 = z.slice();
  const r2 = compactCrossEntropy(z2, Int32Array.from([-1, targets[1], targets[2]]), V, vocab, { grad: true });
  assert.equal(r2.count, 2);
  assert.ok(z2.subarray(0, V).every((x) => x === 0));
});

test('expandEmbedding copies the rare row to every rare token', () => {
  const vocab = buildCompactVocab([1, 0, 2, 0], 2);
  const emb = Float32Array.from([1, 2, 3, 4, 5, 6]); // rows: id0, id2, rare
  assert.deepEqual([...expandEmbedding(vocab, emb, 2)], [1, 2, 5, 6, 3, 4, 5, 6]);
});
