/**
 * CanonicalWeights: a checkpoint's stored tensors seen under the canonical names of spec.ts
 * (`blocks.3.attn.W_Q`, nn.Linear layout [out, in]), made by the family's WeightRecipes (rename, transpose,
 * row slice / gather). Tensors are made lazily, one at a time, when a consumer asks (the ONNX graph builder,
 * the gradient engine), so a big model never holds two copies of all its weights.
 *
 * `scatterToStored` is the adjoint of a recipe: it adds a gradient w.r.t. a canonical tensor into the
 * gradient w.r.t. the stored tensor it came from, so gradients can be reported per stored tensor without any
 * per-architecture code.
 */
import { AtlasError } from '../errors.ts';
import { type ArchitectureModule, type ModelSpec, type StoredTensors, type WeightRecipe, canonicalWeightShapes } from './spec.ts';
import type { F32Tensor } from './tensor.ts';
import type { ScratchBuffer } from './scratch.ts';
import { numel } from './tensor.ts';

/** Stored tensors with their data (a Checkpoint's raw view, an in-memory test source, a llama2.c file). */
export interface StoredTensorReader extends StoredTensors {
  /** Reads one stored tensor as float32; with `scratch` a reader may return a view of it (scratch.ts). */
  read(name: string, scratch?: ScratchBuffer): F32Tensor;
  /** The file a tensor lives in, for messages. */
  fileOf?(name: string): string;
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((s, i) => s === b[i]);

/** Row indices of a recipe, in order. */
function rowList(rows: NonNullable<WeightRecipe['rows']>): ArrayLike<number> {
  if (rows instanceof Int32Array) return rows;
  return Int32Array.from({ length: rows.count }, (_, i) => rows.start + i);
}

/** Shape after the recipe's transpose (before the row selection). */
function transposedShape(r: WeightRecipe): number[] {
  return r.transpose ? [r.storedShape[1]!, r.storedShape[0]!] : [...r.storedShape];
}

/** Applies a recipe to the stored tensor's data (row-major). Transposed rows are gathered directly (one pass). */
export function applyRecipe<A extends Float32Array | Float64Array = Float32Array>(r: WeightRecipe, stored: A): { shape: number[]; data: A } {
  // the stored data's precision is kept (float64 copies drive the gradient engine's finite-difference checks)
  const make = (n: number): A => (stored instanceof Float64Array ? new Float64Array(n) : new Float32Array(n)) as A;
  const shape = recipeShape(r);
  if (r.transpose) {
    const [rows, cols] = r.storedShape as [number, number];
    const idx = r.rows ? rowList(r.rows) : null;
    const n = idx ? idx.length : cols;
    const data = make(n * rows);
    // canonical row k = stored column idx[k]; walk the stored tensor row by row for cache-friendly reads
    for (let i = 0; i < rows; i++) {
      const base = i * cols;
      if (idx) for (let k = 0; k < n; k++) data[k * rows + i] = stored[base + idx[k]!]!;
      else for (let k = 0; k < n; k++) data[k * rows + i] = stored[base + k]!;
    }
    return { shape, data };
  }
  if (!r.rows) return { shape, data: stored };
  const idx = rowList(r.rows);
  const width = r.storedShape.length === 1 ? 1 : numel(r.storedShape.slice(1));
  if (!(r.rows instanceof Int32Array)) return { shape, data: stored.slice(r.rows.start * width, (r.rows.start + r.rows.count) * width) as A };
  const data = make(idx.length * width);
  for (let k = 0; k < idx.length; k++) data.set(stored.subarray(idx[k]! * width, (idx[k]! + 1) * width), k * width);
  return { shape, data };
}

/** The canonical shape a recipe produces. */
export function recipeShape(r: WeightRecipe): number[] {
  const s = transposedShape(r);
  if (r.rows) s[0] = r.rows instanceof Int32Array ? r.rows.length : r.rows.count;
  return s;
}

/**
 * Adjoint of `applyRecipe`: storedGrad += recipeᵀ(canonicalGrad). `storedGrad` has the stored tensor's
 * shape (row-major); several canonical tensors read from one stored tensor (fused qkv) each add their part.
 */
export function scatterToStored(r: WeightRecipe, canonicalGrad: Float32Array | Float64Array, storedGrad: Float32Array | Float64Array): void {
  if (storedGrad.length !== numel(r.storedShape)) throw new Error(`scatterToStored: stored gradient has ${storedGrad.length} entries, recipe says [${r.storedShape}]`);
  const shape = transposedShape(r);
  const width = shape.length === 1 ? 1 : numel(shape.slice(1));
  const idx = r.rows ? rowList(r.rows) : null;
  const nRows = idx ? idx.length : shape[0]!;
  if (canonicalGrad.length !== nRows * width) throw new Error(`scatterToStored: canonical gradient has ${canonicalGrad.length} entries, expected ${nRows * width}`);
  for (let k = 0; k < nRows; k++) {
    const row = idx ? idx[k]! : k;
    for (let j = 0; j < width; j++) {
      const g = canonicalGrad[k * width + j]!;
      // element (row, j) of the transposed view is element (j, row) of the stored [cols, rows] … tensor
      if (r.transpose) storedGrad[j * shape[0]! + row]! += g;
      else storedGrad[row * width + j]! += g;
    }
  }
}

export class CanonicalWeights {
  /** canonical name → shape, in canonicalWeightShapes order. */
  readonly shapes: Map<string, number[]>;

  constructor(
    readonly spec: ModelSpec,
    readonly recipes: Map<string, WeightRecipe>,
    readonly stored: StoredTensorReader,
    /** For messages: the file that holds the weights (or the folder). */
    readonly where = 'weights',
  ) {
    this.shapes = canonicalWeightShapes(spec);
    for (const [name, shape] of this.shapes) {
      const r = recipes.get(name);
      if (!r) throw new Error(`weight recipes of family '${spec.family}' miss '${name}'`);
      const got = recipeShape(r);
      if (!sameShape(got, shape)) throw new Error(`recipe of '${name}' (${spec.family}) yields [${got}], the spec needs [${shape}]`);
    }
  }

  /** Resolves `stored` through the family's module. */
  static resolve(module: ArchitectureModule, spec: ModelSpec, stored: StoredTensorReader, where?: string): CanonicalWeights {
    return new CanonicalWeights(spec, module.weightRecipes(spec, stored), stored, where);
  }

  names(): string[] {
    return [...this.shapes.keys()];
  }

  has(name: string): boolean {
    return this.shapes.has(name);
  }

  shape(name: string): number[] {
    const s = this.shapes.get(name);
    if (!s) throw new Error(`'${name}' is not a canonical tensor of this ${this.spec.family} model`);
    return s;
  }

  recipe(name: string): WeightRecipe {
    this.shape(name);
    return this.recipes.get(name)!;
  }

  /** The distinct stored tensors the recipes read, in first-use order. */
  storedNames(): string[] {
    return [...new Set([...this.shapes.keys()].map((n) => this.recipes.get(n)!.from))];
  }

  /** AtlasError unless `storedName` is stored with the shape the recipes expect (no data is read). */
  checkStored(storedName: string, storedShape: readonly number[], canonical: string): void {
    const file = this.stored.fileOf?.(storedName) ?? this.where;
    if (!this.stored.has(storedName)) {
      throw new AtlasError(`tensor '${storedName}' not found (needed for ${canonical} of a ${this.spec.modelType} model)`, {
        file, field: storedName, hint: `similar names in the checkpoint: ${similarNames(storedName, this.stored.names()).join(', ') || '(none)'}`,
      });
    }
    const got = this.stored.shape(storedName);
    if (!sameShape(got, storedShape)) {
      throw new AtlasError(`tensor '${storedName}' has shape [${got.join(', ')}], expected [${storedShape.join(', ')}] from config.json`, {
        file, field: storedName, hint: 'config.json does not match the weights',
      });
    }
  }

  /** Checks every stored tensor the recipes read (presence and shape) without reading data. */
  validate(): void {
    for (const name of this.shapes.keys()) {
      const r = this.recipes.get(name)!;
      this.checkStored(r.from, r.storedShape, name);
    }
  }

  /**
   * The canonical tensor, made now from its stored tensor (a pure rename returns the reader's tensor as is,
   * so tied weights read from one stored tensor can share one array when the reader caches). With `scratch`
   * a pure rename may be a view of the scratch buffer, valid until its next use (scratch.ts).
   */
  get(name: string, scratch?: ScratchBuffer): F32Tensor {
    const r = this.recipe(name);
    this.checkStored(r.from, r.storedShape, name);
    const t = this.stored.read(r.from, scratch);
    if (!r.transpose && !r.rows) return { shape: [...r.storedShape], data: t.data };
    return applyRecipe(r, t.data);
  }

  /**
   * Stored tensors that no recipe reads and that the module neither calls buffers nor knowingly ignores; the
   * caller reports them (a config.json with fewer layers than the checkpoint must not run silently).
   */
  unusedStored(module: ArchitectureModule): string[] {
    const used = new Set(this.storedNames());
    return this.stored.names().filter((n) => !used.has(n) && !module.isBuffer(n) && !module.isIgnored?.(n, this.spec) && !TASK_HEAD.test(n));
  }
}

/** Task heads of *ForSequenceClassification / *ForTokenClassification / *ForQuestionAnswering checkpoints (not read by any family). */
const TASK_HEAD = /^(score|classifier|qa_outputs)\./;

/** A few names that look like `name`, for "did you mean" messages (shared trigram similarity). */
export function similarNames(name: string, names: string[], k = 5): string[] {
  const grams = (s: string): Set<string> => {
    const g = new Set<string>();
    for (let i = 0; i + 3 <= s.length; i++) g.add(s.slice(i, i + 3));
    return g;
  };
  const target = grams(name);
  return names
    .map((n) => {
      const g = grams(n);
      let common = 0;
      for (const x of g) if (target.has(x)) common++;
      return { n, score: common / (g.size + target.size - common || 1) };
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, k)
    .map((x) => x.n);
}
