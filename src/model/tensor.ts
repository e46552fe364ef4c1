/** Storage dtypes found in checkpoints. Everything is computed in float32 (float64 in references). */
export type DType = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL';

/** A dense row-major float32 tensor. */
export interface F32Tensor {
  shape: number[];
  data: Float32Array;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const s of shape) n *= s;
  return n;
}

export function bytesPerElement(dtype: DType): number {
  switch (dtype) {
    case 'F64': case 'I64': return 8;
    case 'F32': case 'I32': return 4;
    case 'F16': case 'BF16': case 'I16': return 2;
    case 'I8': case 'U8': case 'BOOL': return 1;
  }
}
