import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/workers.ts';

/**
 * Worker threads for the Barnes–Hut repulsion of t-SNE (tsne.ts). Every gradient step the points are handed
 * out in chunks from one shared atomic word, to the main thread and the workers alike, so a worker that the
 * OS does not schedule (a busy machine) costs at most its chunk in flight instead of stalling every step.
 *
 * Shared control (Int32): word 0 = (generation mod 2¹¹) << 20 | next chunk (claimed by Atomics.add); word 1 =
 * chunks being computed right now (a worker announces itself before claiming, and retires after writing);
 * word 2 = 1 when a worker failed; word 3 = 1 to stop; word 4 = the step number (not wrapped). A chunk of a new
 * step makes its worker rebuild its quadtree from the
 * shared embedding, which the main thread changes only between steps (after word 1 has drained to 0). The
 * results are per point, so any split gives bit-identical sums.
 */
export interface RepulsionTask {
  y: SharedArrayBuffer;
  neg: SharedArrayBuffer;
  q: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  n: number;
  theta: number;
  chunk: number;
}

export const GEN_SHIFT = 20;
const GEN_MASK = 0x7ff;

/** Splits a claimed word into (generation, chunk index). */
export function claimOf(v: number): { gen: number; index: number } {
  return { gen: (v >>> GEN_SHIFT) & GEN_MASK, index: v & ((1 << GEN_SHIFT) - 1) };
}

export class RepulsionPool {
  readonly y: Float64Array;
  readonly neg: Float64Array;
  readonly q: Float64Array;
  private readonly ctrl: Int32Array;
  private generation = 0;

  private constructor(private readonly workers: Worker[], y: SharedArrayBuffer, neg: SharedArrayBuffer, q: SharedArrayBuffer, ctrl: SharedArrayBuffer, readonly n: number, readonly chunk: number) {
    this.y = new Float64Array(y);
    this.neg = new Float64Array(neg);
    this.q = new Float64Array(q);
    this.ctrl = new Int32Array(ctrl);
  }

  /** Starts threads − 1 workers over n points and waits until each is ready. */
  static async create(n: number, theta: number, threads: number): Promise<RepulsionPool> {
    const y = new SharedArrayBuffer(16 * n);
    const neg = new SharedArrayBuffer(16 * n);
    const q = new SharedArrayBuffer(8 * n);
    const ctrl = new SharedArrayBuffer(4 * 5);
    const chunk = Math.max(16, Math.ceil(n / 256));
    // Generation 0 with every chunk taken: nothing to do until the first step.
    new Int32Array(ctrl)[0] = Math.ceil(n / chunk);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let w = 1; w < threads; w++) {
      const task: RepulsionTask = { y, neg, q, ctrl, n, theta, chunk };
      const worker = startWorker(new URL('./tsne-worker.ts', import.meta.url), task);
      workers.push(worker);
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      }));
    }
    const pool = new RepulsionPool(workers, y, neg, q, ctrl, n, chunk);
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** One step: `range(start, end)` on this thread for the chunks it claims, the rest on the workers. */
  run(range: (start: number, end: number) => void): void {
    const { ctrl, n, chunk } = this;
    this.generation++;
    Atomics.store(ctrl, 4, this.generation);
    Atomics.store(ctrl, 0, (this.generation & GEN_MASK) << GEN_SHIFT);
    Atomics.notify(ctrl, 0);
    const chunks = Math.ceil(n / chunk);
    for (;;) {
      const { index } = claimOf(Atomics.add(ctrl, 0, 1));
      if (index >= chunks) break;
      range(index * chunk, Math.min(n, (index + 1) * chunk));
    }
    for (;;) {
      const active = Atomics.load(ctrl, 1);
      if (active === 0) break;
      Atomics.wait(ctrl, 1, active, 100);
    }
    if (Atomics.load(ctrl, 2) !== 0) throw new Error('t-SNE repulsion worker failed (non-finite embedding?)');
  }

  async close(): Promise<void> {
    Atomics.store(this.ctrl, 3, 1); // stop
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
