import { parentPort, workerData } from 'node:worker_threads';
import { claimOf } from './tsne-pool.ts';
import { runChunk, taskViews, type SgdTask } from './umap-pool.ts';

/** Worker half of the multi-threaded UMAP SGD (see umap-pool.ts): claims chunks of each epoch's edges. */
const t = workerData as SgdTask;
const { y, s } = taskViews(t);
const ctrl = new Int32Array(t.ctrl);
const alpha = new Float64Array(t.alpha);
const rng = Int32Array.from(t.rng);
const chunks = Math.ceil(s.head.length / t.chunk);
parentPort!.postMessage('ready');
while (Atomics.load(ctrl, 3) === 0) {
  Atomics.add(ctrl, 1, 1); // announce before claiming, so the main thread waits for this chunk
  const v = Atomics.add(ctrl, 0, 1);
  const { index } = claimOf(v);
  if (index < chunks && Atomics.load(ctrl, 3) === 0) {
    try {
      // The epoch cannot change while this chunk is announced (the main thread waits for it).
      runChunk(y, s, t.chunk, index, Atomics.load(ctrl, 4), alpha[0], t.params, rng);
    } catch {
      Atomics.store(ctrl, 2, 1);
    }
    Atomics.sub(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  } else {
    Atomics.sub(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
    // Nothing left in this epoch: sleep until the main thread starts the next one.
    Atomics.wait(ctrl, 0, v + 1);
  }
}
