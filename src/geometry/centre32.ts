import * as ort from 'onnxruntime-node';
import { GraphBuilder, createSession } from '../model/onnx-builder.ts';
import type { Matrix } from './matrix.ts';

/**
 * Which cross-product of the centred data to form with the centring: 'covariance' XcᵀXc (d×d), 'gram' XcXcᵀ
 * (n×n), or none.
 */
export type CentredProduct = 'covariance' | 'gram' | 'none';

export interface Centred32 {
  /** Column means (computed and subtracted in float32, as scikit-learn centres float32 data). */
  mean: Float64Array;
  /** X − mean in float32. */
  xc32: Matrix<Float32Array>;
  /** Σ (X − mean)², added up in float64 from float32 partial sums. */
  sumOfSquares: number;
  /** The requested cross-product of Xc, formed in float32 and returned in float64, exactly symmetric. */
  product?: Matrix<Float64Array>;
}

/**
 * Centres float32 data and, on request, forms XcᵀXc or XcXcᵀ, in one onnxruntime run (vectorised, on the
 * intra-op threads, no JavaScript pass over the n·d values). The mean is a matrix–vector product (1/n)·1ᵀX:
 * onnxruntime's ReduceMean and ReduceSumSquare along the sample axis are strided reductions, ~5× slower than
 * the whole centring on 10,000×768. With a product, the sum of squares is its trace; without, one contiguous
 * reduction of the centred rows.
 */
export async function centre32(data: Float32Array, n: number, d: number, product: CentredProduct, threads: number): Promise<Centred32> {
  const s = await session(product, threads);
  const out = await s.run({ X: new ort.Tensor('float32', data, [n, d]), W: new ort.Tensor('float32', new Float32Array(n).fill(1 / n), [1, n]) });
  const mean = new Float64Array(out.M!.data as Float32Array);
  const xc32: Matrix<Float32Array> = { rows: n, cols: d, data: out.Y!.data as Float32Array };
  if (product === 'none') {
    const ss = out.SS!.data as Float32Array;
    let sumOfSquares = 0;
    for (let i = 0; i < ss.length; i++) sumOfSquares += ss[i]!;
    return { mean, xc32, sumOfSquares };
  }
  const m = product === 'covariance' ? d : n;
  const g32 = out.G!.data as Float32Array;
  const g = symmetrised64(g32, m);
  let sumOfSquares = 0;
  for (let i = 0; i < m; i++) sumOfSquares += g32[i * m + i]!;
  return { mean, xc32, sumOfSquares, product: { rows: m, cols: m, data: g } };
}

/**
 * The float32 product averaged with its transpose, in float64: the eigensolvers need an exactly symmetric
 * matrix. A plain function, not inline in the async centre32: V8 does not keep optimised code for a loop in an
 * async function's body, so it recompiled (and deoptimised) that loop on every call.
 */
function symmetrised64(g32: Float32Array, m: number): Float64Array {
  const g = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    g[i * m + i] = g32[i * m + i]!;
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (g32[i * m + j]! + g32[j * m + i]!);
      g[i * m + j] = v;
      g[j * m + i] = v;
    }
  }
  return g;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function session(product: CentredProduct, threads: number): Promise<ort.InferenceSession> {
  const key = `${product}|${threads}`;
  let s = sessions.get(key);
  if (!s) {
    const g = new GraphBuilder('centre');
    g.input('X', 'float32', ['N', 'D']);
    g.input('W', 'float32', ['one', 'N']);
    g.node('MatMul', ['W', 'X'], 'M');
    g.node('Sub', ['X', 'M'], 'Y');
    g.output('M', 'float32', ['one', 'D']);
    g.output('Y', 'float32', ['N', 'D']);
    if (product === 'none') {
      g.node('ReduceSumSquare', ['Y'], 'SS', { axes: [1], keepdims: 0 });
      g.output('SS', 'float32', ['N']);
    } else {
      g.node('Gemm', ['Y', 'Y'], 'G', product === 'covariance' ? { transA: 1 } : { transB: 1 });
      g.output('G', 'float32', ['P', 'P']);
    }
    // JavaScript runs between sessions on the main thread: spinning pool threads would take its core (gemm.ts).
    s = createSession(g, { threads, extra: { session: { intra_op: { allow_spinning: '0' } } } });
    sessions.set(key, s);
  }
  return s;
}
