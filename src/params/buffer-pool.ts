/**
 * Reusable buffers for the gradient engine: per-sample gradients handed to a sink that only reads each array
 * during its call (BackwardOptions.reuse), and a released tape's activations and logits
 * (BackwardOptions.release). Per-sample gradients of GPT-2 small are ~2 GB of arrays per batch of 4 and its
 * tape ~1 GB more; fresh arrays cost a page fault per 4 KiB page plus the garbage collector, reused ones cost
 * neither. Buffers are pooled by precision and length; only whole arrays (not views into a larger buffer) are
 * taken back.
 */
import { allocLike, type Arr } from './ops.ts';

export class BufferPool {
  private readonly free = new Map<string, Arr[]>();
  /** Arrays that sat in the pool through the last `trim` without being taken (see trim). */
  private stale = new Set<Arr>();

  private static key(f64: boolean, n: number): string {
    return `${f64 ? 'd' : 'f'}${n}`;
  }

  /** An array of `n` elements in `like`'s precision: a pooled one (zeroed when `zero`) or a fresh one (zeros). */
  take(like: Arr, n: number, zero: boolean): Arr {
    const list = this.free.get(BufferPool.key(like instanceof Float64Array, n));
    const a = list?.pop();
    if (!a) return allocLike(like, n);
    this.stale.delete(a);
    if (zero) a.fill(0);
    return a;
  }

  /** Hands `a` back for reuse; its contents are dead from here on. Views and foreign arrays are ignored. */
  give(a: Arr): void {
    if (a.byteOffset !== 0 || a.byteLength !== a.buffer.byteLength || a.buffer instanceof SharedArrayBuffer) return;
    const k = BufferPool.key(a instanceof Float64Array, a.length);
    let list = this.free.get(k);
    if (!list) this.free.set(k, (list = []));
    if (!list.includes(a)) list.push(a);
    this.stale.delete(a);
  }

  /**
   * Drops the arrays nobody took since the previous trim (shapes the work no longer has: another batch
   * shape, another model size), so a pool that lives across batches holds at most what one batch used.
   */
  trim(): void {
    for (const [k, list] of this.free) {
      const keep = list.filter((a) => !this.stale.has(a));
      if (keep.length) this.free.set(k, keep);
      else this.free.delete(k);
    }
    this.stale = new Set([...this.free.values()].flat());
  }
}
