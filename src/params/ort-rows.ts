/**
 * The gradient engine's two big elementwise passes run through onnxruntime instead of JavaScript loops:
 * the row softmax of the [tokens, vocab] logits (GPT-2 small, 4 × 128 tokens: 25.7 M exponentials per batch)
 * and the MLP activation with its derivative (18.9 M values per forward). onnxruntime's kernels are
 * vectorised and use all intra-op threads; a scalar JS loop over the same arrays took ~0.5 s each.
 *
 * The maths is that of ./ops.ts (activate) and of the cross-entropy in ./backprop.ts; only the evaluation
 * moves. Both precisions are supported (float64 drives the finite-difference tests, so they check this code).
 * One session per (function, precision, thread count), with symbolic shapes, built on first use.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, createSession, type ElemType, NO_SPINNING } from '../model/onnx-builder.ts';
import type { ActivationKind } from '../model/spec.ts';
import { defaultThreads } from '../util/workers.ts';
import { allocLike, type Arr, type OutputAlloc } from './ops.ts';

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function session(key: string, f64: boolean, build: (g: GraphBuilder, type: ElemType, scalar: (v: number) => string) => void): Promise<ort.InferenceSession> {
  const threads = defaultThreads();
  const k = `${key}|${f64}|${threads}`;
  let s = sessions.get(k);
  if (!s) {
    const g = new GraphBuilder(key);
    const type: ElemType = f64 ? 'float64' : 'float32';
    const scalar = (v: number) => g.initializer(undefined, f64 ? Float64Array.of(v) : Float32Array.of(v), []);
    build(g, type, scalar);
    s = createSession(g, { threads, weights: 'inline', extra: NO_SPINNING });
    sessions.set(k, s);
  }
  return s;
}

const tensorType = (a: Arr) => (a instanceof Float64Array ? 'float64' : 'float32');

/**
 * Row softmax of x [rows, cols] and each row's log-sum-exp. The log-sum-exp is max(x) − log(max(p)):
 * max(p) = 1/Σ exp(x − max x) ≥ 1/cols, so no second exponential pass and no underflow.
 */
export async function softmaxRows(x: Arr, rows: number, cols: number, out: OutputAlloc = allocLike): Promise<{ p: Arr; lse: Arr }> {
  const s = await session('softmax', x instanceof Float64Array, (g, type) => {
    g.input('X', type, ['R', 'C']);
    g.node('Softmax', ['X'], 'P', { axis: 1 });
    const mx = g.node('ReduceMax', ['X'], undefined, { axes: [1], keepdims: 0 });
    const mp = g.node('ReduceMax', ['P'], undefined, { axes: [1], keepdims: 0 });
    g.node('Sub', [mx, g.node('Log', [mp])], 'LSE');
    g.output('P', type, ['R', 'C']);
    g.output('LSE', type, ['R']);
  });
  const p = out(x, rows * cols);
  const lse = out(x, rows);
  const t = tensorType(x);
  await s.run({ X: new ort.Tensor(t, x, [rows, cols]) }, { P: new ort.Tensor(t, p, [rows, cols]), LSE: new ort.Tensor(t, lse, [rows]) });
  return { p, lse };
}

/** √(2/π), the tanh-GELU constant (as in ./ops.ts). */
const GELU_C = 0.7978845608028654;

/** Activations evaluated here; the others (erf-GELU, ReLU) stay with ./ops.ts activate. */
export function ortActivation(kind: ActivationKind): boolean {
  return kind === 'gelu_tanh' || kind === 'silu';
}

/** y = act(x) and dy = act'(x) elementwise, as ./ops.ts activate defines them (kind: see ortActivation). */
export async function activateRows(kind: ActivationKind, x: Arr, out: OutputAlloc = allocLike): Promise<{ y: Arr; dy: Arr }> {
  const s = await session(`act-${kind}`, x instanceof Float64Array, (g, type, c) => {
    g.input('X', type, ['N']);
    const mul = (a: string, b: string) => g.node('Mul', [a, b]);
    const add = (a: string, b: string) => g.node('Add', [a, b]);
    if (kind === 'gelu_tanh') {
      // u = c·(x + 0.044715·x³), t = tanh u; y = ½x(1 + t); y' = ½(1 + t) + ½x(1 − t²)·c·(1 + 3·0.044715·x²)
      const x2 = mul('X', 'X');
      const t = g.node('Tanh', [mul(mul(c(GELU_C), 'X'), add(c(1), mul(c(0.044715), x2)))]);
      const half1t = mul(c(0.5), add(c(1), t));
      g.node('Mul', ['X', half1t], 'Y');
      const sech2 = g.node('Sub', [c(1), mul(t, t)]);
      const inner = mul(c(GELU_C), add(c(1), mul(c(3 * 0.044715), x2)));
      g.node('Add', [half1t, mul(mul(mul(c(0.5), 'X'), sech2), inner)], 'DY');
    } else if (kind === 'silu') {
      // s = σ(x); y = x·s; y' = s·(1 + x·(1 − s))
      const sg = g.node('Sigmoid', ['X']);
      g.node('Mul', ['X', sg], 'Y');
      g.node('Mul', [sg, add(c(1), mul('X', g.node('Sub', [c(1), sg])))], 'DY');
    } else throw new Error(`activateRows: '${kind}' is evaluated by ops.ts activate`);
    g.output('Y', type, ['N']);
    g.output('DY', type, ['N']);
  });
  const n = x.length;
  const y = out(x, n);
  const dy = out(x, n);
  const t = tensorType(x);
  await s.run({ X: new ort.Tensor(t, x, [n]) }, { Y: new ort.Tensor(t, y, [n]), DY: new ort.Tensor(t, dy, [n]) });
  return { y, dy };
}

/** Added to the scores of hidden keys: exp(−1e30 − max) is exactly 0 in both precisions, and finite in float32. */
export const HIDDEN_KEY = -1e30;

/**
 * Attention probabilities softmax(c·s + mask) over the last axis of s [B, H, T, T] (raw or soft-capped
 * scores, c their scale), mask [B, 1, T, T] holding 0 (visible) or HIDDEN_KEY. A row without a visible key
 * comes out uniform; the caller zeroes it.
 */
export async function maskedSoftmax(s: Arr, mask: Arr, B: number, H: number, T: number, c: number, out: OutputAlloc = allocLike): Promise<Arr> {
  const sess = await session('masked-softmax', s instanceof Float64Array, (g, type) => {
    g.input('S', type, ['B', 'H', 'T', 'T']);
    g.input('M', type, ['B', 1, 'T', 'T']);
    g.input('c', type, []);
    g.node('Softmax', [g.node('Add', [g.node('Mul', ['S', 'c']), 'M'])], 'P', { axis: -1 });
    g.output('P', type, ['B', 'H', 'T', 'T']);
  });
  const p = out(s, s.length);
  const t = tensorType(s);
  await sess.run({ S: new ort.Tensor(t, s, [B, H, T, T]), M: new ort.Tensor(t, mask, [B, 1, T, T]), c: scalarTensor(s, c) }, { P: new ort.Tensor(t, p, [B, H, T, T]) });
  return p;
}

const scalarTensor = (like: Arr, v: number) => new ort.Tensor(tensorType(like), like instanceof Float64Array ? Float64Array.of(v) : Float32Array.of(v), []);

/** The softmax adjoint per row of [rows, cols]: ds = c · p ⊙ (dp − Σ_j dp ⊙ p), c a scalar (the score scale). */
export async function softmaxBackward(p: Arr, dp: Arr, rows: number, cols: number, c: number): Promise<Arr> {
  const sess = await session('softmax-backward', p instanceof Float64Array, (g, type) => {
    g.input('P', type, ['R', 'C']);
    g.input('DP', type, ['R', 'C']);
    g.input('c', type, []);
    const dot = g.node('ReduceSum', [g.node('Mul', ['DP', 'P']), g.constI64([-1])], undefined, { keepdims: 1 });
    g.node('Mul', [g.node('Mul', [g.node('Sub', ['DP', dot]), 'P']), 'c'], 'DS');
    g.output('DS', type, ['R', 'C']);
  });
  const ds = allocLike(p, p.length);
  const t = tensorType(p);
  await sess.run({ P: new ort.Tensor(t, p, [rows, cols]), DP: new ort.Tensor(t, dp, [rows, cols]), c: scalarTensor(p, c) }, { DS: new ort.Tensor(t, ds, [rows, cols]) });
  return ds;
}
