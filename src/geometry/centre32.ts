import * as ort from 'onnxruntime-node';
import { GraphBuilder, createSession, NO_SPINNING } from '../model/onnx-builder.ts';
import { assembleGram, gramPanels, symmetricGramNodes } from './symmetric-gram.ts';
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
 * reduction of the centred rows. The product is formed as symmetric-gram.ts's blocks (only those on and above
 * the diagonal: ~⅔ of the flops with 3 panels), for the covariance from the transposed Xc so that both
 * operands stream along the sample axis (measured interleaved on 2 cores, 10,000 × 768, with block rows cut
 * from the transpose: 69–73 ms min, 152–158 ms median, against 94 / 244 ms for one transA Gemm).
 */
export async function centre32(data: Float32Array, n: number, d: number, product: CentredProduct, threads: number): Promise<Centred32> {
  const { s, edges, blocks } = await session(product, product === 'covariance' ? d : n, threads);
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
  const g = assembleGram((i, j) => out[blocks(i, j)]!.data as Float32Array, edges);
  return { mean, xc32, sumOfSquares: trace(g, m), product: { rows: m, cols: m, data: g } };
}

/** Σ gᵢᵢ: the sum of squares of the centred data, from the product's diagonal. */
function trace(g: Float64Array, m: number): number {
  let t = 0;
  for (let i = 0; i < m; i++) t += g[i * m + i]!;
  return t;
}

interface CentreSession {
  s: ort.InferenceSession;
  /** Panel edges of the product's blocks (symmetric-gram.ts), empty without a product. */
  edges: number[];
  /** The output name of the product's block (i, j ≥ i). */
  blocks: (i: number, j: number) => string;
}

const sessions = new Map<string, Promise<CentreSession>>();

/** One graph per product kind, thread count and product size m (the panel edges are baked into its Slices). */
function session(product: CentredProduct, m: number, threads: number): Promise<CentreSession> {
  const key = product === 'none' ? `none|${threads}` : `${product}|${m}|${threads}`;
  let s = sessions.get(key);
  if (!s) {
    const g = new GraphBuilder('centre');
    g.input('X', 'float32', ['N', 'D']);
    g.input('W', 'float32', ['one', 'N']);
    g.node('MatMul', ['W', 'X'], 'M');
    g.node('Sub', ['X', 'M'], 'Y');
    g.output('M', 'float32', ['one', 'D']);
    g.output('Y', 'float32', ['N', 'D']);
    let edges: number[] = [];
    let blocks: (i: number, j: number) => string = () => '';
    if (product === 'none') {
      g.node('ReduceSumSquare', ['Y'], 'SS', { axes: [1], keepdims: 0 });
      g.output('SS', 'float32', ['N']);
    } else {
      edges = gramPanels(m);
      // The product's rows are Xc's columns (covariance: from the transpose) or its rows (Gram); each panel is
      // sliced once (one copy of Xc in all).
      const rowsOf = product === 'covariance' ? g.node('Transpose', ['Y'], 'YT', { perm: [1, 0] }) : 'Y';
      // (No constant without a Slice: an unused one makes onnxruntime print a warning.)
      const axis0 = edges.length > 2 ? g.constI64([0]) : '';
      const panels = edges.length === 2 ? [rowsOf] : edges.slice(1).map((e, i) => g.node('Slice', [rowsOf, g.constI64([edges[i]!]), g.constI64([e]), axis0]));
      symmetricGramNodes(g, panels, edges, 'float32', 'G');
      blocks = (i: number, j: number) => `G_${i}_${j}`;
    }
    s = createSession(g, { threads, extra: NO_SPINNING }).then((sess) => ({ s: sess, edges, blocks }));
    sessions.set(key, s);
  }
  return s;
}
