/**
 * Reusable gradient buffers for a backward whose sink only reads each array during its call
 * (BackwardOptions.reuse). Per-sample gradients of GPT-2 small are ~2 GB of arrays per batch of 4; fresh
 * arrays cost a page fault per 4 KiB page plus the garbage collector, reused ones cost neither. Buffers are
 * pooled by precision and length; only whole arrays (not views into a larger buffer) are taken back.
 */
import { allocLike, type Arr } from './ops.ts';

export class BufferPool {
  private readonly free = new Map<string, Arr[]>();

  private static key(f64: boolean, n: number): string {
    return `${f64 ? 'd' : 'f'}${n}`;
  }

  /** An array of `n` elements in `like`'s precision: a pooled one (zeroed when `zero`) or a fresh one (zeros). */
  take(like: Arr, n: number, zero: boolean): Arr {
    const list = this.free.get(BufferPool.key(like instanceof Float64Array, n));
    const a = list?.pop();
    if (!a) return allocLike(like, n);
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
  }
}
