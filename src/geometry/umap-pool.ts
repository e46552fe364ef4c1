import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/workers.ts';
import { GEN_SHIFT, claimOf } from './tsne-pool.ts';
import { sgdEpoch, tauState, type Schedule, type SgdParams } from './umap-sgd.ts';

/**
 * Multi-threaded UMAP SGD (the `sgdThreads` option of umap.ts), as umap-learn's parallel mode: every epoch the
 * edges are handed out in chunks from one shared atomic word (t-SNE's protocol, tsne-pool.ts: a thread the OS
 * does not schedule costs at most its chunk in flight), and each thread runs the same epoch kernel (sgdEpoch)
 * on its chunks with its own Tausworthe generator, writing the shared float32 embedding without locks
 * ("Hogwild": the updates of one edge touch two points out of n, so collisions are rare and harmless). The
 * interleaving of the threads' writes is up to the OS, so unlike the one-thread path the result is not
 * reproducible bit for bit, as umap-learn's (which therefore runs one thread when seeded).
 *
 * Shared control (Int32): word 0 = (generation mod 2¹¹) << 20 | next chunk; word 1 = chunks in flight; word 2 =
 * 1 when a worker failed; word 3 = 1 to stop; word 4 = the epoch. `alpha` holds the epoch's learning rate.
 */
export interface SgdTask {
  y: SharedArrayBuffer;
  head: SharedArrayBuffer;
  tail: SharedArrayBuffer;
  epochsPerSample: SharedArrayBuffer;
  epochsPerNegative: SharedArrayBuffer;
  nextSample: SharedArrayBuffer;
  nextNegative: SharedArrayBuffer;
  alpha: SharedArrayBuffer;
  ctrl: SharedArrayBuffer;
  params: SgdParams;
  chunk: number;
  /** This worker's generator words. */
  rng: Int32Array;
}

const GEN_MASK = 0x7ff;

/** The shared views of a task: the embedding and the schedule. */
export function taskViews(t: SgdTask): { y: Float32Array; s: Schedule } {
  return {
    y: new Float32Array(t.y),
    s: {
      head: new Int32Array(t.head), tail: new Int32Array(t.tail),
      epochsPerSample: new Float64Array(t.epochsPerSample), epochsPerNegative: new Float64Array(t.epochsPerNegative),
      nextSample: new Float64Array(t.nextSample), nextNegative: new Float64Array(t.nextNegative),
    },
  };
}

/** Chunk `index` of epoch `epoch`: edges [index·chunk, (index + 1)·chunk). */
export function runChunk(y: Float32Array, s: Schedule, chunk: number, index: number, epoch: number, alpha: number, p: SgdParams, rng: Int32Array): void {
  sgdEpoch(y, s, index * chunk, Math.min(s.head.length, (index + 1) * chunk), epoch, alpha, p, rng);
}

/** All epochs of the SGD on `threads` threads (this one and threads − 1 workers); `y` receives the result. */
export async function optimizeLayoutThreaded(y: Float32Array, s: Schedule, nEpochs: number, initialAlpha: number, p: SgdParams, draw: () => number, threads: number): Promise<void> {
  const shared = (a: Int32Array | Float64Array | Float32Array): SharedArrayBuffer => {
    const b = new SharedArrayBuffer(a.byteLength);
    new Uint8Array(b).set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength));
    return b;
  };
  const m = s.head.length;
  // ~16 chunks per thread and epoch: small enough to balance a busy machine, large enough that claiming is free.
  const chunk = Math.max(256, Math.ceil(m / (16 * threads)));
  const chunks = Math.ceil(m / chunk);
  const base = {
    y: shared(y), head: shared(s.head), tail: shared(s.tail), epochsPerSample: shared(s.epochsPerSample), epochsPerNegative: shared(s.epochsPerNegative),
    nextSample: shared(s.nextSample), nextNegative: shared(s.nextNegative), alpha: new SharedArrayBuffer(8), ctrl: new SharedArrayBuffer(4 * 5), params: p, chunk,
  };
  const ctrl = new Int32Array(base.ctrl);
  const alpha = new Float64Array(base.alpha);
  // Generation 0 with every chunk taken: the workers sleep until the first epoch.
  ctrl[0] = chunks;
  const workers: Worker[] = [];
  const ready: Promise<void>[] = [];
  for (let w = 1; w < threads; w++) {
    const worker = startWorker(new URL('./umap-worker.ts', import.meta.url), { ...base, rng: tauState(draw) } satisfies SgdTask);
    workers.push(worker);
    ready.push(new Promise((resolve, reject) => {
      worker.once('message', () => resolve());
      worker.once('error', reject);
    }));
  }
  try {
    await Promise.all(ready);
    const { y: sy, s: ss } = taskViews({ ...base, rng: new Int32Array(0) });
    const rng = tauState(draw);
    for (let epoch = 0; epoch < nEpochs; epoch++) {
      const gen = epoch + 1;
      alpha[0] = initialAlpha * (1 - epoch / nEpochs);
      Atomics.store(ctrl, 4, epoch);
      Atomics.store(ctrl, 0, (gen & GEN_MASK) << GEN_SHIFT);
      Atomics.notify(ctrl, 0);
      for (;;) {
        const { index } = claimOf(Atomics.add(ctrl, 0, 1));
        if (index >= chunks) break;
        runChunk(sy, ss, chunk, index, epoch, alpha[0], p, rng);
      }
      for (;;) {
        const active = Atomics.load(ctrl, 1);
        if (active === 0) break;
        Atomics.wait(ctrl, 1, active, 100);
      }
      if (Atomics.load(ctrl, 2) !== 0) throw new Error('UMAP SGD worker failed');
    }
    y.set(sy);
  } finally {
    Atomics.store(ctrl, 3, 1);
    Atomics.store(ctrl, 0, -1);
    Atomics.notify(ctrl, 0);
    await Promise.all(workers.map((w) => w.terminate()));
  }
}
