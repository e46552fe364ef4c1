import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { defaultThreads } from '../util/workers.ts';
const { onnx } = onnxProto;

/**
 * Batched float32 products A_b · B_bᵀ for b = 1..batch (A_b: m×d, B_b: n×d, all row-major and stacked), through
 * one onnxruntime MatMul over 3-D tensors: many small products (e.g. the Gram matrices of hundreds of small
 * subsets) in one call instead of hundreds of session round trips. MatMul has no transpose attribute, so the
 * graph transposes B's last two axes first (natively).
 */
const sessions = new Map<number, Promise<ort.InferenceSession>>();

function session(threads: number): Promise<ort.InferenceSession> {
  let s = sessions.get(threads);
  if (!s) {
    const elemType = onnx.TensorProto.DataType.FLOAT;
    const shape = (...names: string[]): OnnxTypes.ITensorShapeProto => ({ dim: names.map((dimParam) => ({ dimParam })) });
    const value = (name: string, sh: OnnxTypes.ITensorShapeProto): OnnxTypes.IValueInfoProto => ({ name, type: { tensorType: { elemType, shape: sh } } });
    const model: OnnxTypes.IModelProto = {
      irVersion: 8,
      producerName: 'latent-atlas',
      opsetImport: [{ domain: '', version: 17 }],
      graph: {
        name: 'batched_matmul',
        input: [value('A', shape('B', 'M', 'K')), value('Bm', shape('B', 'N', 'K'))],
        output: [value('Y', shape('B', 'M', 'N'))],
        node: [
          { opType: 'Transpose', input: ['Bm'], output: ['Bt'], attribute: [{ name: 'perm', type: onnx.AttributeProto.AttributeType.INTS, ints: [0, 2, 1] }] },
          { opType: 'MatMul', input: ['A', 'Bt'], output: ['Y'] },
        ],
      },
    };
    s = ort.InferenceSession.create(onnx.ModelProto.encode(model).finish(), {
      intraOpNumThreads: threads, interOpNumThreads: 1, graphOptimizationLevel: 'all', executionMode: 'sequential',
    });
    sessions.set(threads, s);
  }
  return s;
}

/** Y (batch × m × n) with Y_b = A_b · B_bᵀ; a: batch·m·d values, b: batch·n·d values. */
export async function batchedGemmNT(a: Float32Array, b: Float32Array, batch: number, m: number, n: number, d: number, threads?: number): Promise<Float32Array> {
  if (a.length !== batch * m * d || b.length !== batch * n * d) throw new Error('batchedGemmNT: input sizes do not match batch × rows × d');
  const sess = await session(threads ?? defaultThreads());
  const out = await sess.run({ A: new ort.Tensor('float32', a, [batch, m, d]), Bm: new ort.Tensor('float32', b, [batch, n, d]) });
  return out.Y.data as Float32Array;
}
