import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/workers.ts';
import type { SparseP } from './tsne.ts';

/**
 * Worker threads for the Barnes–Hut gradient of t-SNE (tsne.ts): repulsion and attraction per point. Every gradient step the points are handed
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
  attr: SharedArrayBuffer;
  /** The joint probabilities (CSR) and the current exaggeration (one float64). */
  indptr: SharedArrayBuffer;
  indices: SharedArrayBuffer;
  values: SharedArrayBuffer;
  scale: SharedArrayBuffer;
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

/**
 * Worker side of the chunk protocol, shared by the t-SNE and UMAP pools. Control words: 0 claim counter
 * (generation << GEN_SHIFT | chunk), 1 chunks announced (the main thread waits for it to reach 0), 2 failure
 * flag, 3 stop, 4 the generation's step. `run(index, step)` does one chunk; the step cannot change while a
 * chunk is announced. When a generation has no chunks left the worker sleeps until the next one starts.
 */
export function serveChunks(ctrl: Int32Array, chunks: number, run: (index: number, step: number) => void): void {
  while (Atomics.load(ctrl, 3) === 0) {
    Atomics.add(ctrl, 1, 1); // announce before claiming, so the main thread waits for this chunk
    const v = Atomics.add(ctrl, 0, 1);
    const { index } = claimOf(v);
    const claimed = index < chunks && Atomics.load(ctrl, 3) === 0;
    if (claimed) {
      try {
        run(index, Atomics.load(ctrl, 4));
      } catch {
        Atomics.store(ctrl, 2, 1);
      }
    }
    Atomics.sub(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
    if (!claimed) Atomics.wait(ctrl, 0, v + 1);
  }
}

export class RepulsionPool {
  readonly y: Float64Array;
  readonly neg: Float64Array;
  readonly q: Float64Array;
  readonly attr: Float64Array;
  private readonly scale: Float64Array;
  private readonly ctrl: Int32Array;
  private generation = 0;

  private constructor(private readonly workers: Worker[], t: RepulsionTask) {
    this.n = t.n;
    this.chunk = t.chunk;
    this.y = new Float64Array(t.y);
    this.attr = new Float64Array(t.attr);
    this.scale = new Float64Array(t.scale);
    this.neg = new Float64Array(t.neg);
    this.q = new Float64Array(t.q);
    this.ctrl = new Int32Array(t.ctrl);
  }

  readonly n: number;
  readonly chunk: number;

  /** Starts threads − 1 workers over n points and waits until each is ready. */
  static async create(n: number, theta: number, threads: number, p: SparseP): Promise<RepulsionPool> {
    const shared = (a: Int32Array | Float64Array): SharedArrayBuffer => {
      const b = new SharedArrayBuffer(a.byteLength);
      new Uint8Array(b).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
      return b;
    };
    const y = new SharedArrayBuffer(16 * n);
    const attr = new SharedArrayBuffer(16 * n);
    const P = { indptr: shared(p.indptr), indices: shared(p.indices), values: shared(p.values), scale: new SharedArrayBuffer(8) };
    const neg = new SharedArrayBuffer(16 * n);
    const q = new SharedArrayBuffer(8 * n);
    const ctrl = new SharedArrayBuffer(4 * 5);
    const chunk = Math.max(16, Math.ceil(n / 256));
    // Generation 0 with every chunk taken: nothing to do until the first step.
    new Int32Array(ctrl)[0] = Math.ceil(n / chunk);
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    const task: RepulsionTask = { y, attr, ...P, neg, q, ctrl, n, theta, chunk };
    for (let w = 1; w < threads; w++) {
      const worker = startWorker(new URL('./tsne-worker.ts', import.meta.url), task);
      workers.push(worker);
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      }));
    }
    const pool = new RepulsionPool(workers, task);
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** One step at exaggeration `pScale`: `range(start, end)` here for the chunks this thread claims, the rest on the workers. */
  run(pScale: number, range: (start: number, end: number) => void): void {
    const { ctrl, n, chunk } = this;
    this.scale[0] = pScale;
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
