import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mulberry32, type TinyCheckpointOptions } from '../src/model/tiny-checkpoint.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { forward, type TokenBatch } from '../src/params/backprop.ts';
import { tokenTail, lastRealPosition } from '../src/fisher/tail.ts';
import { exactFisher, headProbabilities, lmHead, monteCarloFisher } from '../src/fisher/metric.ts';
import { symmetricEigen } from '../src/geometry/linalg.ts';
import { referenceForward } from './reference/forward64.ts';
import { tinyStore } from './reference/tiny-store.ts';

/** Right-padded, full and left-padded texts. */
function batchOf(V: number, seed: number): TokenBatch {
  const r = mulberry32(seed);
  const T = 6;
  const masks = [[1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]];
  const ids = new Int32Array(3 * T).map(() => Math.floor(r() * V));
  return { ids, attentionMask: Uint8Array.from(masks.flat()), batch: 3, seqLen: T };
}

const configs: [string, TinyCheckpointOptions][] = [
  ['gpt2', { architecture: 'gpt2', nLayer: 2, dModel: 16, nHead: 2, seed: 3, std: 0.3 }],
  ['llama', { architecture: 'llama', nLayer: 2, dModel: 16, nHead: 4, nKvHead: 2, seed: 5, std: 0.3 }],
];

function realIds(batch: TokenBatch, b: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < batch.seqLen; t++) if (batch.attentionMask[b * batch.seqLen + t]) out.push(batch.ids[b * batch.seqLen + t]);
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function relFrob(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

/** Logits of the token as a function of its state at `layer` (value path only). */
async function logitsAt(store: ParamStore, tape: Awaited<ReturnType<typeof forward>>, b: number, layer: number, h: Float64Array): Promise<Float64Array> {
  const r = await tokenTail(store, tape, b, { layer, pointValue: h });
  const head = lmHead(store);
  const out = new Float64Array(head.V);
  for (let v = 0; v < head.V; v++) {
    let s = 0;
    for (let j = 0; j < head.d; j++) s += head.W[v * head.d + j] * r.postNorm[j];
    out[v] = s;
  }
  return out;
}

/** Central finite-difference Jacobian of the logits w.r.t. the state at `layer`, V × d. */
async function fdJacobian(store: ParamStore, tape: Awaited<ReturnType<typeof forward>>, b: number, layer: number, h: Float64Array, eps = 1e-5): Promise<Float64Array> {
  const d = h.length;
  const V = lmHead(store).V;
  const J = new Float64Array(V * d);
  for (let j = 0; j < d; j++) {
    const hp = Float64Array.from(h);
    const hm = Float64Array.from(h);
    hp[j] += eps;
    hm[j] -= eps;
    const lp = await logitsAt(store, tape, b, layer, hp);
    const lm = await logitsAt(store, tape, b, layer, hm);
    for (let v = 0; v < V; v++) J[v * d + j] = (lp[v] - lm[v]) / (2 * eps);
  }
  return J;
}

for (const [name, opts] of configs) {
  test(`tail value path matches the float64 reference forward at every layer (${name}, padded batch)`, async () => {
    const store = tinyStore(opts).toFloat64();
    const batch = batchOf(300, 1);
    const tape = await forward(store, batch);
    const ckpt = { config: store.config!, tensor: (n: string) => ({ shape: store.get(n === 'lm_head.weight' && store.tied ? store.embeddingName : n).shape, data: Float32Array.from(store.get(n === 'lm_head.weight' && store.tied ? store.embeddingName : n).data) }) };
    for (let b = 0; b < batch.batch; b++) {
      const ids = realIds(batch, b);
      const ref = referenceForward(ckpt, ids);
      const r = await tokenTail(store, tape, b, { layer: 1 });
      const last = ids.length - 1;
      const d = store.spec.dModel;
      for (let l = 0; l < store.spec.nLayer; l++) {
        assert.ok(maxAbsDiff(r.residuals[l], ref.hidden[l].subarray(last * d, (last + 1) * d)) < 1e-5, `layer ${l} text ${b}`);
      }
      assert.ok(maxAbsDiff(r.postNorm, ref.hidden[store.spec.nLayer].subarray(last * d, (last + 1) * d)) < 1e-5, `final text ${b}`);
      // and the params engine's own final-norm output for that row
      const t = lastRealPosition(tape, b);
      assert.ok(maxAbsDiff(r.postNorm, tape.hFinal.subarray((b * batch.seqLen + t) * d, (b * batch.seqLen + t + 1) * d)) < 1e-9);
    }
  });

  for (const layer of [2, 1, 0]) {
    test(`G(h) equals the Fisher of a finite-difference Jacobian, is SPD and equals E_y[score scoreᵀ] (${name}, layer ${layer})`, async () => {
      const store = tinyStore(opts).toFloat64();
      const batch = batchOf(300, 2);
      const tape = await forward(store, batch);
      const head = lmHead(store);
      const d = store.spec.dModel;
      const V = head.V;
      for (const b of [0, 2]) {
        const r = await tokenTail(store, tape, b, { layer, seeds: 'identity' });
        const { G, p } = await exactFisher(head, r.postNorm, r.tangents!, r.m);
        // finite-difference Jacobian → Jᵀ(diag p − ppᵀ)J
        const J = await fdJacobian(store, tape, b, layer, r.point);
        const Gfd = new Float64Array(d * d);
        const pJ = new Float64Array(d);
        for (let v = 0; v < V; v++) for (let j = 0; j < d; j++) pJ[j] += p[v] * J[v * d + j];
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
          let s = 0;
          for (let v = 0; v < V; v++) s += p[v] * J[v * d + i] * J[v * d + j];
          Gfd[i * d + j] = s - pJ[i] * pJ[j];
        }
        const err = relFrob(G, Gfd);
        assert.ok(err < 1e-3, `relative error vs finite differences ${err}`);
        // exact expectation over the vocabulary of the score outer product: score_y = ∇_h log p(y|h) = Jᵀ(e_y − p)
        const E = new Float64Array(d * d);
        for (let y = 0; y < V; y++) {
          const g = new Float64Array(d);
          for (let j = 0; j < d; j++) g[j] = J[y * d + j] - pJ[j];
          for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) E[i * d + j] += p[y] * g[i] * g[j];
        }
        assert.ok(relFrob(G, E) < 1e-3, `E_y[ssᵀ] ${relFrob(G, E)}`);
        // symmetric positive definite with λ = 1e-4
        for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) assert.equal(G[i * d + j], G[j * d + i]);
        const reg = Float64Array.from(G);
        for (let i = 0; i < d; i++) reg[i * d + i] += 1e-4;
        const eig = symmetricEigen({ rows: d, cols: d, data: reg });
        assert.ok(eig.values[d - 1] > 0, `min eigenvalue ${eig.values[d - 1]}`);
        // the probabilities are the model's: compare with the logits through the reference path
        const lg = await logitsAt(store, tape, b, layer, r.point);
        const p2 = await headProbabilities(head, r.postNorm);
        let mx = -Infinity;
        for (const v of lg) mx = Math.max(mx, v);
        let z = 0;
        for (const v of lg) z += Math.exp(v - mx);
        for (let v = 0; v < V; v++) assert.ok(Math.abs(p2[v] - Math.exp(lg[v] - mx) / z) < 1e-12);
      }
    });
  }
}

test('the last-layer metric is singular along the norm-invariant directions when λ = 0 (LayerNorm: 1 and h − mean)', async () => {
  const opts = configs[0][1];
  const store = tinyStore(opts).toFloat64();
  const batch = batchOf(300, 4);
  const tape = await forward(store, batch);
  const r = await tokenTail(store, tape, 1, { layer: 2, seeds: 'identity' });
  const { G } = await exactFisher(lmHead(store), r.postNorm, r.tangents!, r.m);
  const d = 16;
  const ones = new Float64Array(d).fill(1);
  let q = 0;
  for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) q += ones[i] * G[i * d + j] * ones[j];
  assert.ok(Math.abs(q) < 1e-10, `1ᵀG1 = ${q}`);
});

test('Monte-Carlo Fisher error shrinks as 1/sqrt(samples)', async () => {
  const opts = configs[1][1];
  const store = tinyStore(opts).toFloat64();
  const batch = batchOf(300, 6);
  const tape = await forward(store, batch);
  const head = lmHead(store);
  const r = await tokenTail(store, tape, 0, { layer: 1, seeds: 'identity' });
  const { G } = await exactFisher(head, r.postNorm, r.tangents!, r.m);
  const d = r.m;
  const errAt = async (S: number): Promise<number> => {
    let sum = 0;
    const reps = 12;
    for (let rep = 0; rep < reps; rep++) {
      const { F } = await monteCarloFisher(head, r.postNorm, r.tangents!, r.m, S, mulberry32(1000 * S + rep));
      const Gm = new Float64Array(d * d);
      for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) {
        let s = 0;
        for (let k = 0; k < S; k++) s += F[i * S + k] * F[j * S + k];
        Gm[i * d + j] = s;
      }
      sum += relFrob(Gm, G) ** 2;
    }
    return Math.sqrt(sum / reps);
  };
  const e = [await errAt(25), await errAt(100), await errAt(400), await errAt(1600)];
  for (let i = 0; i + 1 < e.length; i++) {
    const ratio = e[i] / e[i + 1];
    assert.ok(ratio > 1.6 && ratio < 2.5, `error ratio for 4× samples ${ratio} (errors ${e.join(', ')})`);
  }
});
