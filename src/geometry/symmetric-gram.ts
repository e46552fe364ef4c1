/**
 * X·Xᵀ (a symmetric Gram matrix of a wide X: n × K with K ≫ n) inside an onnxruntime graph at about
 * (b + 1)/(2b) of one Gemm's flops — what BLAS calls SYRK, which onnxruntime lacks.
 *
 * Why this shape: the rows of X are cut into b panels; block row i is one Gemm of panel i against rows
 * s_i..n of X (X_i · X[s_i:]ᵀ), i.e. only the blocks on and above the diagonal are formed, and the ones
 * below are their mirrors. Row panels of a row-major X are contiguous, so slicing them is a plain memcpy
 * (the suffixes add (b − 1)/2 copies of X in all), and the transB product streams both operands along K
 * (measured on 2 cores, GPT-2's 768 × 50257: 1.7× faster than one transA Gemm of the [K, n] layout).
 */
import type { GraphBuilder } from '../model/onnx-builder.ts';

/** Row boundaries [0, …, n] of the panels: ~`panelRows` rows each, multiples of 16 where n allows it. */
export function gramPanels(n: number, panelRows = 256): number[] {
  const b = Math.max(1, Math.round(n / panelRows));
  const edges = [0];
  for (let i = 1; i < b; i++) edges.push(Math.round((i * n) / b / 16) * 16);
  edges.push(n);
  return [...new Set(edges)].filter((e) => e <= n).sort((x, y) => x - y);
}

/**
 * Adds the block rows of `x`·`x`ᵀ (`x` a node or input of shape [n, K], n = the last edge) to `g` and
 * declares them as graph outputs `${prefix}_${i}` of shape [b_i, n − s_i] and element type `elem`, in
 * `assembleGram`'s order.
 */
export function symmetricGramNodes(g: GraphBuilder, x: string, edges: number[], elem: 'float32' | 'float64', prefix: string): string[] {
  const n = edges[edges.length - 1]!;
  // Made on first use: an unused constant (one panel, no Slice) makes onnxruntime print a warning.
  let axis0: string | undefined;
  const rows = (from: number, to: number): string => (from === 0 && to === n ? x : g.node('Slice', [x, g.constI64([from]), g.constI64([to]), (axis0 ??= g.constI64([0]))]));
  const outs: string[] = [];
  for (let i = 0; i + 1 < edges.length; i++) {
    const s = edges[i]!, e = edges[i + 1]!;
    const suffix = rows(s, n);
    const panel = e === n ? suffix : rows(s, e);
    const name = `${prefix}_${i}`;
    g.node('Gemm', [panel, suffix], name, { transB: 1 });
    g.output(name, elem, [e - s, n - s]);
    outs.push(name);
  }
  return outs;
}

/**
 * The full n × n matrix (float64) from the block rows, mirrored below the diagonal; the diagonal blocks are
 * symmetrised (both their halves come from one Gemm, whose rounding need not be symmetric).
 */
export function assembleGram(blockRows: ArrayLike<number>[], edges: number[]): Float64Array {
  const n = edges[edges.length - 1]!;
  const out = new Float64Array(n * n);
  for (let i = 0; i + 1 < edges.length; i++) {
    const blk = blockRows[i]!;
    const s = edges[i]!, e = edges[i + 1]!, w = n - s;
    for (let r = s; r < e; r++) {
      const o = (r - s) * w - s;
      // Row r: the diagonal block's part symmetrised against its mirror entry, the rest copied and mirrored.
      for (let c = r; c < e; c++) {
        const v = c === r ? blk[o + c]! : 0.5 * (blk[o + c]! + blk[(c - s) * w + r - s]!);
        out[r * n + c] = v;
        out[c * n + r] = v;
      }
      for (let c = e; c < n; c++) {
        const v = blk[o + c]!;
        out[r * n + c] = v;
        out[c * n + r] = v;
      }
    }
  }
  return out;
}
