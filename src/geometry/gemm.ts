import { NO_SPINNING } from '../model/onnx-builder.ts';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
// onnx-proto is CommonJS: its namespace comes through the default import.
import type { onnx as OnnxTypes } from 'onnx-proto';
const { onnx } = onnxProto;
import type { Matrix } from './matrix.ts';
import { defaultThreads } from '../util/workers.ts';

/**
 * Dense matrix products through onnxruntime's CPU kernels (MLAS). They reach the machine's BLAS-level
 * throughput (hundreds of GFLOP/s on two cores) where a JavaScript loop gets ~1-2 GFLOP/s, and every
 * O(N²·d) step of the geometry code (k-NN distance blocks, Gram and covariance matrices, projections) is
 * one of these products. A single ONNX `Gemm` node with symbolic dimensions is compiled once per
 * (dtype, transpose flags, thread count) and reused for every shape.
 */
export interface GemmOptions<T extends Float32Array | Float64Array = Float32Array | Float64Array> {
  /** Use Aᵀ instead of A. Default false. */
  transposeA?: boolean;
  /** Use Bᵀ instead of B (A·Bᵀ is the k-NN/Gram product). Default false. */
  transposeB?: boolean;
  /** Scale of the product. Default 1. */
  alpha?: number;
  /** Intra-op threads. Default: all cores (LATENT_ATLAS_THREADS overrides). */
  threads?: number;
  /**
   * Preallocated output (at least M·N elements, same dtype, a plain ArrayBuffer): the product is written into
   * its first M·N elements and returned as that view, so repeated products of one shape reuse one buffer
   * instead of a fresh (page-faulting) array per call.
   */
  out?: T;
  /**
   * A row vector (N elements, same dtype) added to every row of the product, inside the same MLAS call
   * (Gemm's C input): a linear layer's bias without a second pass over the output in JavaScript.
   */
  bias?: T;
}

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function gemmModel(elemType: OnnxTypes.TensorProto.DataType, transA: boolean, transB: boolean, alpha: number, bias: boolean): Uint8Array {
  const dims = (a: string, b: string): OnnxTypes.ITensorShapeProto => ({ dim: [{ dimParam: a }, { dimParam: b }] });
  const value = (name: string, shape: OnnxTypes.ITensorShapeProto): OnnxTypes.IValueInfoProto => ({ name, type: { tensorType: { elemType, shape } } });
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: 'latent-atlas',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'gemm',
      input: [
        value('A', transA ? dims('K', 'M') : dims('M', 'K')), value('B', transB ? dims('N', 'K') : dims('K', 'N')),
        ...(bias ? [value('C', { dim: [{ dimParam: 'N' }] })] : []),
      ],
      output: [value('Y', dims('M', 'N'))],
      node: [{
        opType: 'Gemm', input: bias ? ['A', 'B', 'C'] : ['A', 'B'], output: ['Y'],
        attribute: [
          { name: 'transA', type: onnx.AttributeProto.AttributeType.INT, i: transA ? 1 : 0 },
          { name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: transB ? 1 : 0 },
          { name: 'alpha', type: onnx.AttributeProto.AttributeType.FLOAT, f: alpha },
        ],
      }],
    },
  };
  return onnx.ModelProto.encode(model).finish();
}

function session(f64: boolean, transA: boolean, transB: boolean, alpha: number, threads: number, bias: boolean): Promise<ort.InferenceSession> {
  const key = `${f64}|${transA}|${transB}|${alpha}|${threads}|${bias}`;
  let s = sessions.get(key);
  if (!s) {
    const elem = f64 ? onnx.TensorProto.DataType.DOUBLE : onnx.TensorProto.DataType.FLOAT;
    s = ort.InferenceSession.create(gemmModel(elem, transA, transB, alpha, bias), {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
      extra: NO_SPINNING,
    });
    sessions.set(key, s);
  }
  return s;
}

/** op(A)·op(B)·alpha, where op transposes on request. Both inputs must have the same dtype. */
export async function gemm<T extends Float32Array | Float64Array>(a: Matrix<T>, b: Matrix<T>, opts: GemmOptions<T> = {}): Promise<Matrix<T>> {
  const transA = opts.transposeA ?? false;
  const transB = opts.transposeB ?? false;
  const m = transA ? a.cols : a.rows;
  const k = transA ? a.rows : a.cols;
  const kb = transB ? b.cols : b.rows;
  const n = transB ? b.rows : b.cols;
  if (k !== kb) throw new Error(`gemm: inner dimensions differ (${k} vs ${kb})`);
  const f64 = a.data instanceof Float64Array;
  if (f64 !== b.data instanceof Float64Array) throw new Error('gemm: A and B must both be float32 or both float64');
  if (opts.bias && (opts.bias.length !== n || (opts.bias instanceof Float64Array) !== f64)) throw new Error(`gemm: the bias needs ${n} elements of the operands' dtype`);
  if (m === 0 || n === 0) return { rows: m, cols: n, data: new (a.data.constructor as { new (n: number): T })(0) };
  if (k === 0) {
    const z = new (a.data.constructor as { new (n: number): T })(m * n);
    if (opts.bias) for (let i = 0; i < m; i++) z.set(opts.bias, i * n);
    return { rows: m, cols: n, data: z };
  }
  const s = await session(f64, transA, transB, opts.alpha ?? 1, opts.threads ?? defaultThreads(), opts.bias !== undefined);
  const type = f64 ? 'float64' : 'float32';
  const feeds: Record<string, ort.Tensor> = {
    A: new ort.Tensor(type, a.data, [a.rows, a.cols]),
    B: new ort.Tensor(type, b.data, [b.rows, b.cols]),
  };
  if (opts.bias) feeds.C = new ort.Tensor(type, opts.bias, [n]);
  if (opts.out) {
    if (opts.out.length < m * n || (opts.out instanceof Float64Array) !== f64) throw new Error(`gemm: the output buffer needs ${m * n} ${type} elements`);
    const y = opts.out.length === m * n ? opts.out : (opts.out.subarray(0, m * n) as T);
    await s.run(feeds, { Y: new ort.Tensor(type, y, [m, n]) });
    return { rows: m, cols: n, data: y };
  }
  const out = await s.run(feeds);
  const y = out.Y;
  return { rows: m, cols: n, data: y.data as T };
}
