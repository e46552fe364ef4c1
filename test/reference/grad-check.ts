/**
 * The finite-difference checks every family and every hand-written spec goes through (test helper):
 * per-sample gradients of each stored tensor vs float64 central differences, Σ per-sample = batch gradient,
 * the Fisher tail's Jacobian and metric vs finite differences at every layer.
 */
import assert from 'node:assert/strict';
import { mulberry32 } from '../../src/model/tiny-checkpoint.ts';
import type { ParamStore } from '../../src/params/param-store.ts';
import { crossEntropy, forward, lossAndGradients, nextTokenTargets, type TokenBatch } from '../../src/params/backprop.ts';
import { lastRealPosition, tokenTail } from '../../src/fisher/tail.ts';
import { exactFisher, lmHead } from '../../src/fisher/metric.ts';

/** Right padding on the first text, none on the second, left padding on the third. */
export function batchOf(V: number, seed: number, T = 7): TokenBatch {
  const r = mulberry32(seed);
  const masks = [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]].map((m) => m.slice(0, T));
  const ids = new Int32Array(3 * T).map(() => Math.floor(r() * V));
  return { ids, attentionMask: Uint8Array.from(masks.flat()), batch: 3, seqLen: T };
}

async function perSampleLoss(store: ParamStore, batch: TokenBatch): Promise<Float64Array> {
  const tape = await forward(store, batch);
  return crossEntropy(tape, nextTokenTargets(batch)).perSampleLoss;
}

/**
 * Central finite differences in float64 at 2 entries of every stored tensor vs the engine's per-sample
 * gradients (rel ≤ 1e-3), and Σ per-sample = batch gradient.
 */
export async function checkGradients(store: ParamStore, what: string): Promise<void> {
  const V = store.spec.vocabSize;
  const batch = batchOf(V, 3);
  const res = await lossAndGradients(store, batch, { perSample: true });
  const per = res.perSampleGrads!;
  assert.deepEqual([...per.keys()].sort(), store.names().sort(), `${what}: a gradient for every stored tensor`);
  const r = mulberry32(11);
  const eps = 1e-5;
  for (const name of store.names()) {
    const { data, shape } = store.get(name);
    for (let rep = 0; rep < 2; rep++) {
      let i = Math.floor(r() * data.length);
      // tables indexed by token or position: pick a row the batch uses on the first try, so the check is not 0 = 0
      if (rep === 0 && shape.length === 2 && shape[0] >= V) i = (batch.ids[8] + (shape[0] > V ? 2 : 0)) * shape[1] + Math.floor(r() * shape[1]);
      const old = data[i];
      data[i] = old + eps;
      store.changed();
      const up = await perSampleLoss(store, batch);
      data[i] = old - eps;
      store.changed();
      const down = await perSampleLoss(store, batch);
      data[i] = old;
      store.changed();
      for (let b = 0; b < batch.batch; b++) {
        const fd = (up[b] - down[b]) / (2 * eps);
        const an = per.get(name)![b][i];
        const tol = 1e-3 * Math.max(Math.abs(fd), 1e-4);
        assert.ok(Math.abs(fd - an) <= tol, `${what}: ${name}[${i}] sample ${b}: analytic ${an} vs finite difference ${fd}`);
      }
    }
  }
  const whole = await lossAndGradients(store, batch);
  assert.ok(Math.abs(res.loss - whole.loss) <= 1e-12 * Math.abs(whole.loss));
  for (const [name, g] of whole.grads!) {
    const list = per.get(name)!;
    for (let i = 0; i < g.length; i++) {
      const s = list[0][i] + list[1][i] + list[2][i];
      assert.ok(Math.abs(s - g[i]) <= 1e-10 * (1 + Math.abs(g[i])), `${what}: ${name}[${i}] Σ per-sample ${s} vs batch ${g[i]}`);
    }
  }
}

/** Logits of the tail's LM-head input, written out here (bias, soft-cap) independently of src/fisher/metric.ts. */
function logitsOf(store: ParamStore, postNorm: ArrayLike<number>): Float64Array {
  const c = store.canonical();
  const Wu = c.get('unembed.W_U')!;
  const [V, d] = Wu.shape;
  const b = c.get('unembed.b_U');
  const cap = store.spec.unembed!.softcap;
  const z = new Float64Array(V);
  for (let v = 0; v < V; v++) {
    let s = b ? b.data[v] : 0;
    for (let j = 0; j < d; j++) s += Wu.data[v * d + j] * postNorm[j];
    z[v] = cap === undefined ? s : cap * Math.tanh(s / cap);
  }
  return z;
}

/** Tail tangents vs central finite differences of postNorm (rel ≤ 1e-3 over the whole Jacobian) at every layer; value row vs the engine's final-norm output; G vs the Fisher of a finite-difference logit Jacobian. */
export async function checkTail(store: ParamStore, what: string): Promise<void> {
  const spec = store.spec;
  const d = spec.dModel;
  const batch = batchOf(spec.vocabSize, 5, 6);
  const tape = await forward(store, batch);
  for (const b of [0, 2]) {
    const t = lastRealPosition(tape, b);
    const n = b * batch.seqLen + t;
    for (let layer = 0; layer <= spec.nLayer; layer++) {
      const r = await tokenTail(store, tape, b, { layer, seeds: 'identity' });
      let dv = 0;
      for (let j = 0; j < d; j++) dv = Math.max(dv, Math.abs(r.postNorm[j] - tape.hFinal[n * d + j]));
      assert.ok(dv < 1e-10, `${what}: tail value vs engine final-norm output (text ${b}): ${dv}`);
      const eps = 1e-5;
      let num = 0;
      let den = 0;
      const Jl = new Float64Array(spec.vocabSize * d);
      for (let j = 0; j < d; j++) {
        const hp = Float64Array.from(r.point);
        const hm = Float64Array.from(r.point);
        hp[j] += eps;
        hm[j] -= eps;
        const up = await tokenTail(store, tape, b, { layer, pointValue: hp });
        const down = await tokenTail(store, tape, b, { layer, pointValue: hm });
        for (let i = 0; i < d; i++) {
          const fd = (up.postNorm[i] - down.postNorm[i]) / (2 * eps);
          num += (fd - r.tangents![j * d + i]) ** 2;
          den += fd * fd;
        }
        const lu = logitsOf(store, up.postNorm);
        const ld = logitsOf(store, down.postNorm);
        for (let v = 0; v < spec.vocabSize; v++) Jl[v * d + j] = (lu[v] - ld[v]) / (2 * eps);
      }
      const err = Math.sqrt(num / den);
      assert.ok(err < 1e-3, `${what}: tail Jacobian vs finite differences at layer ${layer}, text ${b}: ${err}`);
      // G = Jᵀ(diag p − ppᵀ)J with J the finite-difference Jacobian of the (biased, soft-capped) logits
      const { G, p } = await exactFisher(lmHead(store), r.postNorm, r.tangents!, r.m);
      const z = logitsOf(store, r.postNorm);
      let mx = -Infinity;
      for (const x of z) mx = Math.max(mx, x);
      let s = 0;
      for (const x of z) s += Math.exp(x - mx);
      for (let v = 0; v < spec.vocabSize; v++) assert.ok(Math.abs(p[v] - Math.exp(z[v] - mx) / s) < 1e-12, `${what}: head probabilities`);
      const pJ = new Float64Array(d);
      for (let v = 0; v < spec.vocabSize; v++) for (let j = 0; j < d; j++) pJ[j] += p[v] * Jl[v * d + j];
      let gn = 0;
      let gd = 0;
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
        let e = -pJ[i] * pJ[j];
        for (let v = 0; v < spec.vocabSize; v++) e += p[v] * Jl[v * d + i] * Jl[v * d + j];
        gn += (G[i * d + j] - e) ** 2;
        gd += e * e;
      }
      assert.ok(Math.sqrt(gn / gd) < 1e-3, `${what}: G vs finite-difference Fisher at layer ${layer}: ${Math.sqrt(gn / gd)}`);
    }
  }
}

