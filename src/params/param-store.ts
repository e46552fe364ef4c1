/**
 * Every trainable parameter of a model as a dense array under its STORED checkpoint name (see
 * src/model/checkpoint.ts), in the checkpoint's own layout (GPT-2 Conv1D [in, out], fused q|k|v, …), plus the
 * model's ModelSpec and the recipes that turn stored tensors into the canonical weights the engines read
 * (src/model/spec.ts). float32 is the working precision; a float64 copy (`toFloat64`) drives the
 * finite-difference checks.
 *
 * Stored tensors are the source of truth (the optimizer updates them, reports and gradients name them);
 * `canonical()` gives the canonical tensors — views into the stored data where the recipe is a rename or a
 * row range, copies where it transposes or gathers. Whoever writes into the stored arrays in place calls
 * `changed()` so the copies are rebuilt (the optimizer does).
 *
 * Tied word embeddings: the store holds only the embedding; the canonical W_U is made from it and gradients
 * of both uses land on that one stored name.
 */
import type { ModelConfig } from '../model/config.ts';
import { type Checkpoint } from '../model/checkpoint.ts';
import { writeSafetensors } from '../model/safetensors.ts';
import { tinyTensorValues } from '../model/tiny-checkpoint.ts';
import { numel } from '../model/tensor.ts';
import { canonicalWeightShapes, W, type ModelSpec, type WeightRecipe } from '../model/spec.ts';
import { applyRecipe } from '../model/weights.ts';
import { modelLayout, type ModelLayout } from './layout.ts';

export type FloatArray = Float32Array | Float64Array;

export interface ParamTensor<A extends FloatArray = FloatArray> {
  shape: number[];
  data: A;
}

export class ParamStore<A extends FloatArray = FloatArray> {
  /** The config.json the parameters belong to (null for stores built from a hand-written ModelSpec). */
  readonly config: ModelConfig | null;
  readonly tensors: Map<string, ParamTensor<A>>;
  private layoutCache: ModelLayout | undefined;
  private canonicalCache: Map<string, ParamTensor<A>> | undefined;

  constructor(config: ModelConfig | null, tensors: Map<string, ParamTensor<A>>, layout?: ModelLayout) {
    this.config = config;
    this.tensors = tensors;
    this.layoutCache = layout;
  }

  /** A store over a hand-written spec whose stored tensors carry canonical names (recipes: identity). */
  static fromSpec<A extends FloatArray>(spec: ModelSpec, tensors: Map<string, ParamTensor<A>>): ParamStore<A> {
    const recipes = new Map<string, WeightRecipe>();
    for (const [name, shape] of canonicalWeightShapes(spec)) {
      const from = name === W.unembed && spec.unembed?.tied ? W.embed : name;
      recipes.set(name, { from, storedShape: from === name ? shape : [spec.vocabSize, spec.dModel] });
    }
    return new ParamStore(null, tensors, { spec, recipes });
  }

  /** The model's description and its canonical-weight recipes (resolved from the config on first use). */
  get layout(): ModelLayout {
    if (!this.layoutCache) {
      if (!this.config) throw new Error('ParamStore: no config and no layout');
      this.layoutCache = modelLayout(this.config, this.tensors);
    }
    return this.layoutCache;
  }

  get spec(): ModelSpec {
    return this.layout.spec;
  }

  /** Stored name of the token embedding. */
  get embeddingName(): string {
    return this.layout.recipes.get(W.embed)!.from;
  }

  /** True when the LM head reuses the token embedding. */
  get tied(): boolean {
    return this.spec.unembed?.tied ?? false;
  }

  get isFloat64(): boolean {
    return this.tensors.values().next().value!.data instanceof Float64Array;
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

  /** Canonical weights by canonical name (src/model/spec.ts `W`), nn.Linear layout. */
  canonical(): Map<string, ParamTensor<A>> {
    if (!this.canonicalCache) {
      const out = new Map<string, ParamTensor<A>>();
      const { spec, recipes } = this.layout;
      for (const [name, shape] of canonicalWeightShapes(spec)) {
        const r = recipes.get(name);
        if (!r) throw new Error(`ParamStore: no recipe for canonical tensor '${name}'`);
        // a rename is the stored array itself (in-place updates show through); transposes and gathers are copies
        const stored = this.get(r.from).data;
        out.set(name, { shape, data: !r.transpose && !r.rows ? stored : applyRecipe(r, stored).data });
      }
      this.canonicalCache = out;
    }
    return this.canonicalCache;
  }

  /** Call after writing into the stored arrays in place: canonical copies (transposes, gathers) are rebuilt. */
  changed(): void {
    this.canonicalCache = undefined;
  }

  /** Total number of scalar parameters. */
  count(): number {
    let n = 0;
    for (const t of this.tensors.values()) n += t.data.length;
    return n;
  }

  /** Reads every stored tensor the model's recipes use from a checkpoint. */
  static fromCheckpoint(ckpt: Checkpoint): ParamStore<Float32Array> {
    const layout = modelLayout(ckpt.config, ckpt.stored);
    const tensors = new Map<string, ParamTensor<Float32Array>>();
    for (const r of layout.recipes.values()) {
      if (!tensors.has(r.from)) tensors.set(r.from, { shape: r.storedShape, data: ckpt.tensor(r.from, r.storedShape).data });
    }
    return new ParamStore(ckpt.config, tensors, layout);
  }

  /**
   * Deterministic random parameters for `config` (the same values writeTinyCheckpoint stores for that seed:
   * norm weights in [0.9, 1.1], everything else N(0, std²)). Default seed 0, std 0.02.
   */
  static random(config: ModelConfig, opts: { seed?: number; std?: number } = {}): ParamStore<Float32Array> {
    const layout = modelLayout(config, null);
    const tensors = new Map<string, ParamTensor<Float32Array>>();
    for (const r of layout.recipes.values()) {
      if (!tensors.has(r.from)) tensors.set(r.from, { shape: r.storedShape, data: tinyTensorValues(r.from, r.storedShape, opts.seed ?? 0, opts.std ?? 0.02) });
    }
    return new ParamStore(config, tensors, layout);
  }

  private withTensors<B extends FloatArray>(f: (t: ParamTensor<A>) => B): ParamStore<B> {
    return new ParamStore<B>(this.config, new Map([...this.tensors].map(([n, t]) => [n, { shape: [...t.shape], data: f(t) }])), this.layoutCache);
  }

  toFloat64(): ParamStore<Float64Array> {
    return this.withTensors((t) => Float64Array.from(t.data));
  }

  toFloat32(): ParamStore<Float32Array> {
    return this.withTensors((t) => Float32Array.from(t.data));
  }

  /** A deep copy (same precision). */
  clone(): ParamStore<A> {
    return this.withTensors((t) => t.data.slice() as A);
  }

  /** Writes all parameters (stored names) as one safetensors file, atomically. */
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
