/**
 * The per-point products with the LM head W [V, d] that the exact Fisher metric needs before its big Gram
 * product, run by onnxruntime on the transposed head Wᵀ [d, V]:
 *
 *   logits   z = W h                                   (one GEMV: MLAS's M = 1 kernel, threaded over V)
 *   factor   Wcᵀ = (Wᵀ − w̄ 1ᵀ) · diag(√p),  w̄ = Wᵀ p     (d × V, the operand of C = Wcᵀ Wc, fed to it)
 *
 * Why here and not in JavaScript: each is a pass over all V·d head entries per point (38.6 M at GPT-2), which
 * a JS loop does at ~1 GFLOP/s on one core (the logits alone took ~40 ms a point) and onnxruntime does at
 * memory speed on all cores. The logits are a float32 product for a float32 head — the precision of the
 * model's own forward and of the torch reference (torch.mv in float32) — and the softmax stays float64.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, createSession, NO_SPINNING } from '../model/onnx-builder.ts';
import { transposeInto } from '../geometry/matrix.ts';
import { assembleGram, gramPanels, panelTensors, symmetricGramNodes } from '../geometry/symmetric-gram.ts';
import { defaultThreads } from '../util/workers.ts';
import type { FloatArray } from '../params/param-store.ts';
import type { LmHead } from './metric.ts';

/**
 * Wᵀ [d, V], made once per head array and kept while the head is alive (one more copy of the head: the
 * price of the contiguous-panel products, which every point of a run reuses). A linearised (soft-cap)
 * head is a fresh array per point, so it is transposed per point and dropped with it.
 */
const transposedHeads = new WeakMap<FloatArray, FloatArray>();

export function transposedHead(head: LmHead): FloatArray {
  let t = transposedHeads.get(head.W);
  if (!t) {
    t = head.W instanceof Float64Array ? new Float64Array(head.W.length) : new Float32Array(head.W.length);
    transposeInto(head.W, head.V, head.d, t);
    transposedHeads.set(head.W, t);
  }
  return t;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function cached(key: string, build: () => GraphBuilder): Promise<ort.InferenceSession> {
  let s = sessions.get(key);
  if (!s) {
    s = createSession(build(), { threads: defaultThreads(), extra: NO_SPINNING });
    sessions.set(key, s);
  }
  return s;
}

function elem(a: FloatArray): 'float32' | 'float64' {
  return a instanceof Float64Array ? 'float64' : 'float32';
}

/** In the head's precision (a float32 copy of `x` for a float32 head). */
function likeHead(head: LmHead, x: ArrayLike<number>): FloatArray {
  return head.W instanceof Float64Array ? Float64Array.from(x) : Float32Array.from(x);
}

/** Pre-soft-cap logits W h + b (float64 values of the head-precision product). */
export async function headLogits(head: LmHead, h: ArrayLike<number>): Promise<Float64Array> {
  const { V, d, b } = head;
  const t = elem(head.W);
  // [1, d] · [d, V]: M = 1 takes MLAS's unpacked GEMV kernel (no copy of the head per call).
  const s = await cached(`logits|${t}`, () => {
    const g = new GraphBuilder('head_logits');
    g.input('h', t, [1, 'd']);
    g.input('WT', t, ['d', 'V']);
    g.node('MatMul', ['h', 'WT'], 'z');
    g.output('z', t, [1, 'V']);
    return g;
  });
  const res = await s.run({ h: new ort.Tensor(t, likeHead(head, h), [1, d]), WT: new ort.Tensor(t, transposedHead(head), [d, V]) });
  const z = Float64Array.from(res.z!.data as FloatArray);
  if (b) for (let v = 0; v < V; v++) z[v] += b[v];
  return z;
}

/**
 * C = Wcᵀ·Wc (d × d, float64) with Wcᵀ = (Wᵀ − w̄ 1ᵀ) diag(√p), w̄ = Wᵀ p, in one graph: the panels of Wᵀ
 * are fed as views of the transposed head, each panel of Wcᵀ is made from its own (w̄ restricted to the
 * panel's rows is that panel times p) and the symmetric product of src/geometry/symmetric-gram.ts reads the
 * panels straight from onnxruntime's arena (reused between points). Neither the factor nor a slice of it is
 * ever copied: an onnxruntime output would be copied into a fresh JavaScript array per call (154 MB at
 * GPT-2, measured ~70 ms a point on 2 busy cores, even into a pre-bound output).
 */
export async function centredGram(head: LmHead, p: Float64Array): Promise<Float64Array> {
  const { V, d } = head;
  const t = elem(head.W);
  const edges = gramPanels(d);
  const s = await cached(`gram|${t}|${edges.join(',')}`, () => {
    const g = new GraphBuilder('head_covariance');
    g.input('p', t, [1, 'V']);
    g.input('pc', t, ['V', 1]);
    const sqrtP = g.node('Sqrt', ['p']);
    const panels = edges.slice(1).map((e, i) => {
      const x = g.input(`WT_${i}`, t, [e - edges[i]!, 'V']);
      // w̄ = Wᵀp in W's precision: C is stationary in w̄ (Σ p_v (w_v − w̄) = 0), so its rounding enters C only
      // to second order, far below the product's own. [b, V] · [V, 1] takes MLAS's unpacked GEMV kernel.
      return g.node('Mul', [g.node('Sub', [x, g.node('MatMul', [x, 'pc'])]), sqrtP]);
    });
    symmetricGramNodes(g, panels, edges, t, 'C');
    return g;
  });
  const pp = likeHead(head, p);
  const feeds: Record<string, ort.Tensor> = { p: new ort.Tensor(t, pp, [1, V]), pc: new ort.Tensor(t, pp, [V, 1]) };
  panelTensors(transposedHead(head), V, edges).forEach((x, i) => (feeds[`WT_${i}`] = x));
  const res = await s.run(feeds);
  return assembleGram((i, j) => res[`C_${i}_${j}`]!.data as FloatArray, edges);
}
