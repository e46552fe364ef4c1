import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/workers.ts';

/**
 * Worker threads for the Barnes–Hut repulsion of t-SNE (tsne.ts): every gradient step, each thread rebuilds
 * the same quadtree from the shared embedding and computes the repulsion of its own range of points into
 * shared arrays. The steps are synchronised with Atomics on a shared control array (no message round trips
 * per step): ctrl[0] is the step generation (−1: stop), ctrl[1 + w] the last generation worker w finished
 * (negative: it failed). The main thread computes the first range itself while the workers run.
 */
export interface RepulsionTask {
  y: SharedArrayBuffer;
  neg: SharedArrayBuffer;
  q: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  n: number;
  theta: number;
  start: number;
  end: number;
  /** Index of this worker's slot in ctrl (1 + w). */
  slot: number;
}

export class RepulsionPool {
  readonly y: Float64Array;
  readonly neg: Float64Array;
  readonly q: Float64Array;
  readonly mainEnd: number;
  private readonly ctrl: Int32Array;
  private generation = 0;

  private constructor(private readonly workers: Worker[], y: SharedArrayBuffer, neg: SharedArrayBuffer, q: SharedArrayBuffer, ctrl: SharedArrayBuffer, mainEnd: number) {
    this.y = new Float64Array(y);
    this.neg = new Float64Array(neg);
    this.q = new Float64Array(q);
    this.ctrl = new Int32Array(ctrl);
    this.mainEnd = mainEnd;
  }

  /** Starts threads − 1 workers over n points and waits until each is ready. */
  static async create(n: number, theta: number, threads: number): Promise<RepulsionPool> {
    const y = new SharedArrayBuffer(16 * n);
    const neg = new SharedArrayBuffer(16 * n);
    const q = new SharedArrayBuffer(8 * n);
    const ctrl = new SharedArrayBuffer(4 * (1 + threads));
    const bounds = Array.from({ length: threads + 1 }, (_, t) => Math.round((t * n) / threads));
    const workers: Worker[] = [];
    const ready: Promise<void>[] = [];
    for (let w = 1; w < threads; w++) {
      const task: RepulsionTask = { y, neg, q, ctrl, n, theta, start: bounds[w], end: bounds[w + 1], slot: w };
      const worker = startWorker(new URL('./tsne-worker.ts', import.meta.url), task);
      workers.push(worker);
      ready.push(new Promise((resolve, reject) => {
        worker.once('message', () => resolve());
        worker.once('error', reject);
      }));
    }
    const pool = new RepulsionPool(workers, y, neg, q, ctrl, bounds[1]);
    try {
      await Promise.all(ready);
    } catch (e) {
      await pool.close();
      throw e;
    }
    return pool;
  }

  /** One step: the workers' ranges in parallel with `main` (the first range) on this thread. */
  run(main: () => void): void {
    const gen = ++this.generation;
    Atomics.store(this.ctrl, 0, gen);
    Atomics.notify(this.ctrl, 0);
    main();
    for (let w = 1; w <= this.workers.length; w++) {
      for (;;) {
        const done = Atomics.load(this.ctrl, w);
        if (done === gen) break;
        if (done < 0) throw new Error('t-SNE repulsion worker failed (non-finite embedding?)');
        Atomics.wait(this.ctrl, w, done, 1000);
      }
    }
  }

  async close(): Promise<void> {
    Atomics.store(this.ctrl, 0, -1);
    Atomics.notify(this.ctrl, 0);
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
