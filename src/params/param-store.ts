/**
 * Every trainable parameter of a model as a dense array under its canonical checkpoint name (see
 * src/model/checkpoint.ts), in the checkpoint's own layout (GPT-2 Conv1D [in, out], nn.Linear [out, in]).
 * float32 is the working precision; a float64 copy (`toFloat64`) drives the finite-difference checks.
 *
 * Tied word embeddings: when the config ties them, the store holds only the embedding (`wte.weight` /
 * `embed_tokens.weight`) and the LM head reads it; gradients of both uses land on that one name.
 */
import type { ModelConfig } from '../model/config.ts';
import { type Checkpoint, expectedTensorShapes } from '../model/checkpoint.ts';
import { writeSafetensors } from '../model/safetensors.ts';
import { tinyTensorValues } from '../model/tiny-checkpoint.ts';
import { numel } from '../model/tensor.ts';

export type FloatArray = Float32Array | Float64Array;

export interface ParamTensor<A extends FloatArray = FloatArray> {
  shape: number[];
  data: A;
}

export class ParamStore<A extends FloatArray = FloatArray> {
  readonly config: ModelConfig;
  readonly tensors: Map<string, ParamTensor<A>>;

  constructor(config: ModelConfig, tensors: Map<string, ParamTensor<A>>) {
    this.config = config;
    this.tensors = tensors;
  }

  /** Name of the token embedding. */
  get embeddingName(): string {
    return this.config.architecture === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight';
  }

  /** True when the LM head reuses the token embedding (no separate `lm_head.weight`). */
  get tied(): boolean {
    return !this.tensors.has('lm_head.weight');
  }

  get isFloat64(): boolean {
    return this.get(this.embeddingName).data instanceof Float64Array;
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  has(name: string): boolean {
    return this.tensors.has(name);
  }

  get(name: string): ParamTensor<A> {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`ParamStore: no parameter '${name}'`);
    return t;
  }

  /** Total number of scalar parameters. */
  count(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.data.length;
    return n;
  }

  /** Reads every parameter the architecture uses from a checkpoint (shapes checked against config.json). */
  static fromCheckpoint(ckpt: Checkpoint): ParamStore<Float32Array> {
    const tensors = new Map<string, ParamTensor<Float32Array>>();
    const tied = ckpt.config.tieWordEmbeddings;
    for (const [name, shape] of expectedTensorShapes(ckpt.config)) {
      if (name === 'lm_head.weight' && tied) continue;
      tensors.set(name, { shape, data: ckpt.tensor(name, shape).data });
    }
    return new ParamStore(ckpt.config, tensors);
  }

  /**
   * Deterministic random parameters for `config` (the same values writeTinyCheckpoint stores for that seed:
   * norm weights in [0.9, 1.1], everything else N(0, std²)). Default seed 0, std 0.02.
   */
  static random(config: ModelConfig, opts: { seed?: number; std?: number } = {}): ParamStore<Float32Array> {
    const tensors = new Map<string, ParamTensor<Float32Array>>();
    for (const [name, shape] of expectedTensorShapes(config)) {
      if (name === 'lm_head.weight' && config.tieWordEmbeddings) continue;
      tensors.set(name, { shape, data: tinyTensorValues(name, shape, opts.seed ?? 0, opts.std ?? 0.02) });
    }
    return new ParamStore(config, tensors);
  }

  toFloat64(): ParamStore<Float64Array> {
    return new ParamStore(this.config, new Map([...this.tensors].map(([n, t]) => [n, { shape: [...t.shape], data: Float64Array.from(t.data) }])));
  }

  toFloat32(): ParamStore<Float32Array> {
    return new ParamStore(this.config, new Map([...this.tensors].map(([n, t]) => [n, { shape: [...t.shape], data: Float32Array.from(t.data) }])));
  }

  /** A deep copy (same precision). */
  clone(): ParamStore<A> {
    return new ParamStore(this.config, new Map([...this.tensors].map(([n, t]) => [n, { shape: [...t.shape], data: t.data.slice() as A }])));
  }

  /** Writes all parameters (canonical names) as one safetensors file, atomically. */
  save(path: string, opts: { dtype?: 'F32' | 'F16' | 'BF16'; metadata?: Record<string, string> } = {}): void {
    writeSafetensors(
      path,
      [...this.tensors].map(([n, t]) => [n, { shape: t.shape, data: t.data instanceof Float32Array ? t.data : Float32Array.from(t.data) }] as const),
      opts,
    );
  }
}

/** Zero arrays shaped like every parameter of `store` (gradient / Fisher accumulators), float64 by default. */
export function zerosLike(store: ParamStore, f64 = true): Map<string, FloatArray> {
  const out = new Map<string, FloatArray>();
  for (const [n, t] of store.tensors) out.set(n, f64 ? new Float64Array(numel(t.shape)) : new Float32Array(numel(t.shape)));
  return out;
}
