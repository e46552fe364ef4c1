/**
 * X·Xᵀ (a symmetric Gram matrix of a wide X: n × K with K ≫ n) through onnxruntime at about (b + 1)/(2b) of
 * one Gemm's flops — what BLAS calls SYRK, which onnxruntime lacks.
 *
 * Why this shape: the rows of X are cut into b panels X_0..X_{b−1}; block (i, j ≥ i) is one Gemm X_i·X_jᵀ,
 * i.e. only the blocks on and above the diagonal are formed, and the ones below are their mirrors. The
 * panels are separate tensors (graph inputs that view a JavaScript array, or nodes that compute each panel),
 * never slices of one tensor: Slice copies (b + 1)/2 times X per call (~250 MB at GPT-2's 768 × 50257). The
 * transB product streams both operands along K (measured on 2 cores, GPT-2's 768 × 50257: 1.7× faster than
 * one transA Gemm of the [K, n] layout); 256-row panels keep MLAS at the rate of one big Gemm.
 */
import * as ort from 'onnxruntime-node';
import { GraphBuilder, createSession, NO_SPINNING } from '../model/onnx-builder.ts';
import type { FloatArray } from '../params/param-store.ts';
import { defaultThreads } from '../util/workers.ts';

/** Row boundaries [0, …, n] of the panels: ~`panelRows` rows each, multiples of 16 where n allows it. */
export function gramPanels(n: number, panelRows = 256): number[] {
  const b = Math.max(1, Math.round(n / panelRows));
  const edges = [0];
  for (let i = 1; i < b; i++) edges.push(Math.round((i * n) / b / 16) * 16);
  edges.push(n);
  return [...new Set(edges)].filter((e) => e <= n).sort((x, y) => x - y);
}

/**
 * Adds the blocks X_i·X_jᵀ (i ≤ j) of the panel tensors `panels` (panel i has the rows edges[i]..edges[i+1]
 * of X, all with the same K) to `g` as graph outputs `${prefix}_${i}_${j}` of element type `elem`, the blocks
 * `assembleGram` reads.
 */
export function symmetricGramNodes(g: GraphBuilder, panels: string[], edges: number[], elem: 'float32' | 'float64', prefix: string): void {
  if (panels.length + 1 !== edges.length) throw new Error(`symmetricGramNodes: ${panels.length} panels for edges ${edges}`);
  for (let i = 0; i < panels.length; i++) for (let j = i; j < panels.length; j++) {
    const name = `${prefix}_${i}_${j}`;
    g.node('Gemm', [panels[i]!, panels[j]!], name, { transB: 1 });
    g.output(name, elem, [edges[i + 1]! - edges[i]!, edges[j + 1]! - edges[j]!]);
  }
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function gramSession(f64: boolean, edges: number[], threads: number): Promise<ort.InferenceSession> {
  const key = `${f64}|${threads}|${edges.join(',')}`;
  let s = sessions.get(key);
  if (!s) {
    const t = f64 ? 'float64' : 'float32';
    const g = new GraphBuilder('symmetric_gram');
    const panels = edges.slice(1).map((e, i) => g.input(`X_${i}`, t, [e - edges[i]!, 'K']));
    symmetricGramNodes(g, panels, edges, t, 'C');
    s = createSession(g, { threads, extra: NO_SPINNING });
    sessions.set(key, s);
  }
  return s;
}

/** The panels of a row-major n × k array as onnxruntime tensors that view it (no copies). */
export function panelTensors(x: FloatArray, k: number, edges: number[]): ort.Tensor[] {
  const t = x instanceof Float64Array ? 'float64' : 'float32';
  return edges.slice(1).map((e, i) => new ort.Tensor(t, x.subarray(edges[i]! * k, e * k), [e - edges[i]!, k]));
}

/**
 * X·Xᵀ (n × n, float64, exactly symmetric) of the row-major n × k array `x` (float32 products in float32),
 * from the blocks on and above the diagonal of `edges` (default gramPanels(n)).
 */
export async function symmetricGram(x: FloatArray, n: number, k: number, edges = gramPanels(n), threads = defaultThreads()): Promise<Float64Array> {
  if (x.length < n * k) throw new Error(`symmetricGram: ${x.length} values for a ${n} × ${k} matrix`);
  if (edges[0] !== 0 || edges[edges.length - 1] !== n) throw new Error(`symmetricGram: panel edges ${edges} do not span 0..${n}`);
  const feeds = Object.fromEntries(panelTensors(x, k, edges).map((p, i) => [`X_${i}`, p]));
  const res = await (await gramSession(x instanceof Float64Array, edges, threads)).run(feeds);
  return assembleGram((i, j) => res[`C_${i}_${j}`]!.data as FloatArray, edges);
}

/**
 * The full n × n matrix (float64) from the blocks (i, j ≥ i) that `block` returns (row-major, b_i × b_j),
 * mirrored below the diagonal; the diagonal blocks are symmetrised (both their halves come from one Gemm,
 * whose rounding need not be symmetric).
 */
export function assembleGram(block: (i: number, j: number) => ArrayLike<number>, edges: number[]): Float64Array {
  const n = edges[edges.length - 1]!;
  const b = edges.length - 1;
  const out = new Float64Array(n * n);
  for (let i = 0; i < b; i++) for (let j = i; j < b; j++) {
    const blk = block(i, j);
    const si = edges[i]!, ei = edges[i + 1]!, sj = edges[j]!, ej = edges[j + 1]!, w = ej - sj;
    for (let r = si; r < ei; r++) {
      const o = (r - si) * w - sj;
      for (let c = i === j ? r : sj; c < ej; c++) {
        const v = i === j && c !== r ? 0.5 * (blk[o + c]! + blk[(c - si) * w + r - sj]!) : blk[o + c]!;
        out[r * n + c] = v;
        out[c * n + r] = v;
      }
    }
  }
  return out;
}
