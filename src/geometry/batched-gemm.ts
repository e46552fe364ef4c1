/**
 * Batched matrix products C[g] = op(A[g])·op(B[g]) for g < G through one onnxruntime MatMul (plus Transpose
 * nodes for the transposed operands). Many small products in one session call instead of paying
 * onnxruntime's per-call overhead for each: attention's batch·heads products per layer in the gradient
 * engine, the Gram matrices of hundreds of small subsets in the k-NN code.
 */
import { NO_SPINNING } from '../model/onnx-builder.ts';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { defaultThreads } from '../util/workers.ts';
const { onnx } = onnxProto;

const sessions = new Map<string, Promise<ort.InferenceSession>>();

function model(f64: boolean, transA: boolean, transB: boolean): Uint8Array {
  const elemType = f64 ? onnx.TensorProto.DataType.DOUBLE : onnx.TensorProto.DataType.FLOAT;
  const value = (name: string, dims: string[]): OnnxTypes.IValueInfoProto => ({
    name, type: { tensorType: { elemType, shape: { dim: dims.map((d) => ({ dimParam: d })) } } },
  });
  const perm = { name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 1] };
  const nodes: OnnxTypes.INodeProto[] = [];
  if (transA) nodes.push({ opType: 'Transpose', input: ['A'], output: ['At'], attribute: [perm] });
  if (transB) nodes.push({ opType: 'Transpose', input: ['B'], output: ['Bt'], attribute: [perm] });
  nodes.push({ opType: 'MatMul', input: [transA ? 'At' : 'A', transB ? 'Bt' : 'B'], output: ['Y'] });
  const m: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: 'latent-atlas',
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'bmm',
      input: [value('A', transA ? ['G', 'K', 'M'] : ['G', 'M', 'K']), value('B', transB ? ['G', 'N', 'K'] : ['G', 'K', 'N'])],
      output: [value('Y', ['G', 'M', 'N'])],
      node: nodes,
    },
  };
  return onnx.ModelProto.encode(m).finish();
}

function session(f64: boolean, transA: boolean, transB: boolean, threads: number): Promise<ort.InferenceSession> {
  const key = `${f64}|${transA}|${transB}|${threads}`;
  let s = sessions.get(key);
  if (!s) {
    s = ort.InferenceSession.create(model(f64, transA, transB), {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
      extra: NO_SPINNING,
    });
    sessions.set(key, s);
  }
  return s;
}

export interface BmmShape {
  /** Number of independent products. */
  g: number;
  /** Rows of op(A), inner dimension, columns of op(B). */
  m: number;
  k: number;
  n: number;
  transA?: boolean;
  transB?: boolean;
  /** Intra-op threads. Default: all cores. */
  threads?: number;
}

/** [G, M, N] row-major result of op(A[g])·op(B[g]); A and B must share the dtype. */
export async function bmm<A extends Float32Array | Float64Array>(a: A, b: A, s: BmmShape): Promise<A> {
  const f64 = a instanceof Float64Array;
  const { g, m, k, n } = s;
  const tA = s.transA ?? false;
  const tB = s.transB ?? false;
  if (a.length !== g * m * k || b.length !== g * k * n) throw new Error(`bmm: operand sizes ${a.length}, ${b.length} do not match G=${g} M=${m} K=${k} N=${n}`);
  const sess = await session(f64, tA, tB, s.threads ?? defaultThreads());
  const type = f64 ? 'float64' : 'float32';
  const out = await sess.run({
    A: new ort.Tensor(type, a, tA ? [g, k, m] : [g, m, k]),
    B: new ort.Tensor(type, b, tB ? [g, n, k] : [g, k, n]),
  });
  return out.Y.data as A;
}

/** Y (batch × m × n) with Y_b = A_b · B_bᵀ; a: batch·m·d values, b: batch·n·d values. */
export async function batchedGemmNT(a: Float32Array, b: Float32Array, batch: number, m: number, n: number, d: number, threads?: number): Promise<Float32Array> {
  if (a.length !== batch * m * d || b.length !== batch * n * d) throw new Error('batchedGemmNT: input sizes do not match batch × rows × d');
  return bmm(a, b, { g: batch, m, k: d, n, transB: true, threads });
}
