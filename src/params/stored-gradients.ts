/**
 * From canonical gradients (what the engine computes: one per canonical weight of the ModelSpec, per sample)
 * to gradients per STORED tensor (what reports, the optimizer and the Fisher name: the checkpoint's tensors).
 *
 * Each stored tensor collects the canonical tensors made from it (GPT-2's c_attn → W_Q, W_K, W_V; a tied
 * embedding → W_E and W_U) through the recipes' adjoint, and is handed to the sink as soon as its last
 * contribution for that sample has arrived — so per-sample mode holds at most the partial stored tensors of
 * the products in flight, never a whole model per sample. With a BufferPool (the sink only reads during its
 * call), every array handed over or consumed here goes back to the pool.
 */
import type { WeightRecipe } from '../model/spec.ts';
import { scatterToStored } from '../model/weights.ts';
import { allocLike, type Arr } from './ops.ts';
import type { BufferPool } from './buffer-pool.ts';

export type GradientSink = (name: string, sample: number, grad: Arr) => void;

interface Pending {
  grad: Arr;
  left: number;
}

const slotKey = (sample: number, from: string): string => `${sample}\u0000${from}`;

export class StoredGradientRouter {
  private readonly contributions = new Map<string, number>();
  private readonly pending = new Map<string, Pending>();

  /** `recipes`: canonical name → recipe, for exactly the canonical tensors the engine emits. */
  constructor(private readonly recipes: Map<string, WeightRecipe>, private readonly sink: GradientSink, private readonly pool: BufferPool | null = null) {
    for (const r of recipes.values()) this.contributions.set(r.from, (this.contributions.get(r.from) ?? 0) + 1);
  }

  private recipe(canonical: string): WeightRecipe {
    const r = this.recipes.get(canonical);
    if (!r) throw new Error(`StoredGradientRouter: no recipe for canonical tensor '${canonical}'`);
    return r;
  }

  /**
   * True when the stored tensor is the canonical one transposed (GPT-2's Conv1D): the engine then computes
   * the gradient as xᵀ·dy directly in the stored layout and hands it to `addTransposed` (no strided scatter).
   */
  transposed(canonical: string): boolean {
    return this.recipe(canonical).transpose === true;
  }

  /** The stored tensor's pending gradient for `sample` (zeros on first use), or the adopted array. */
  private slot(r: WeightRecipe, sample: number, adopt: Arr | null, like: Arr): { key: string; p: Pending; adopted: boolean } {
    const key = slotKey(sample, r.from);
    let p = this.pending.get(key);
    if (p) return { key, p, adopted: false };
    const total = this.contributions.get(r.from)!;
    const n = r.storedShape.reduce((a, b) => a * b, 1);
    p = { grad: adopt ?? (this.pool ? this.pool.take(like, n, true) : allocLike(like, n)), left: total };
    this.pending.set(key, p);
    return { key, p, adopted: adopt !== null };
  }

  private done(key: string, p: Pending, from: string, sample: number, parts = 1): void {
    if ((p.left -= parts) > 0) return;
    this.pending.delete(key);
    this.sink(from, sample, p.grad);
    this.pool?.give(p.grad);
  }

  /** A consumed contribution (added into a slot, not adopted) goes back to the pool. */
  private consumed(grad: Arr, adopted: boolean): void {
    if (!adopted) this.pool?.give(grad);
  }

  /**
   * For a transposed recipe taking a column range of its stored tensor (GPT-2's c_attn → W_Q, W_K, W_V):
   * the stored tensor, the range, and how many canonical tensors the stored one feeds; null otherwise.
   */
  columnRange(canonical: string): { from: string; start: number; count: number; columns: number; parts: number } | null {
    const r = this.recipe(canonical);
    if (!r.transpose || !r.rows || r.rows instanceof Int32Array || r.storedShape.length !== 2) return null;
    return { from: r.from, start: r.rows.start, count: r.rows.count, columns: r.storedShape[1]!, parts: this.contributions.get(r.from)! };
  }

  /**
   * The whole stored gradient of a transposed tensor at once ([S0, S1], stored layout), standing for `parts`
   * of its contributions (the canonical tensors whose column ranges tile it, see columnRange).
   */
  addStoredTransposed(from: string, sample: number, grad: Arr, parts: number): void {
    const key = slotKey(sample, from);
    let p = this.pending.get(key);
    if (!p) this.pending.set(key, (p = { grad, left: this.contributions.get(from)! }));
    else {
      const g = p.grad;
      for (let i = 0; i < g.length; i++) g[i] += grad[i];
      this.pool?.give(grad);
    }
    this.done(key, p, from, sample, parts);
  }

  /** One canonical tensor's gradient for `sample` (-1 = batch sum). `grad` is fresh and may be kept. */
  add(canonical: string, sample: number, grad: Arr): void {
    const r = this.recipe(canonical);
    const plain = !r.transpose && !r.rows;
    const { key, p, adopted } = this.slot(r, sample, plain ? grad : null, grad);
    if (!adopted) {
      if (plain) {
        const g = p.grad;
        for (let i = 0; i < g.length; i++) g[i] += grad[i];
      } else scatterToStored(r, grad, p.grad);
    }
    this.consumed(grad, adopted);
    this.done(key, p, r.from, sample);
  }

  /** Like `add` with the gradient given transposed ([in, out], the stored layout of a transposed recipe). */
  addTransposed(canonical: string, sample: number, gradT: Arr): void {
    const r = this.recipe(canonical);
    const whole = !r.rows;
    const { key, p, adopted } = this.slot(r, sample, whole ? gradT : null, gradT);
    if (!adopted) {
      // stored [S0, S1]; canonical row i is stored column rowOf(i): stored[c, rowOf(i)] += gradT[c, i]
      const [S0, S1] = r.storedShape;
      const out = gradT.length / S0;
      const rows = r.rows;
      const g = p.grad;
      for (let c = 0; c < S0; c++) {
        const so = c * S1;
        const go = c * out;
        if (!rows) for (let i = 0; i < out; i++) g[so + i] += gradT[go + i];
        else if (rows instanceof Int32Array) for (let i = 0; i < out; i++) g[so + rows[i]] += gradT[go + i];
        else for (let i = 0, o = so + rows.start; i < out; i++) g[o + i] += gradT[go + i];
      }
    }
    this.consumed(gradT, adopted);
    this.done(key, p, r.from, sample);
  }

  /**
   * A sparse gradient: rows `rows[k]` of a [·, width] canonical table get `values[k·width ..]` (embedding
   * and position scatters), added in place when the stored tensor is the table itself.
   */
  addRows(canonical: string, sample: number, rows: ArrayLike<number>, values: Arr, width: number, shape: number[]): void {
    const r = this.recipe(canonical);
    if (r.transpose || r.rows) {
      const dense = allocLike(values, shape.reduce((a, b) => a * b, 1));
      for (let k = 0; k < rows.length; k++) for (let j = 0, o = rows[k] * width; j < width; j++) dense[o + j] += values[k * width + j];
      this.add(canonical, sample, dense);
      return;
    }
    const { key, p } = this.slot(r, sample, null, values);
    const g = p.grad;
    for (let k = 0; k < rows.length; k++) for (let j = 0, o = rows[k] * width; j < width; j++) g[o + j] += values[k * width + j];
    this.done(key, p, r.from, sample);
  }

  /** Throws when a stored tensor did not receive all its contributions (an engine bug, not bad input). */
  finish(): void {
    if (this.pending.size > 0) throw new Error(`StoredGradientRouter: incomplete gradients for ${[...this.pending.keys()].map((k) => k.replace('\u0000', ' ')).join(', ')}`);
  }
}
