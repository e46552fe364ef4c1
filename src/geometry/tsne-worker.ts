import { parentPort, workerData } from 'node:worker_threads';
import { QuadTree, attraction, repulsion } from './tsne.ts';
import { claimOf, type RepulsionTask } from './tsne-pool.ts';

/** Worker half of the t-SNE repulsion (see tsne-pool.ts): claims chunks, rebuilding its tree per generation. */
const t = workerData as RepulsionTask;
const y = new Float64Array(t.y);
const neg = new Float64Array(t.neg);
const q = new Float64Array(t.q);
const ctrl = new Int32Array(t.ctrl);
const attr = new Float64Array(t.attr);
const scale = new Float64Array(t.scale);
const P = { indptr: new Int32Array(t.indptr), indices: new Int32Array(t.indices), values: new Float64Array(t.values) };
const tree = new QuadTree(t.n);
const chunks = Math.ceil(t.n / t.chunk);
let treeGen = -1;
parentPort!.postMessage('ready');
while (Atomics.load(ctrl, 3) === 0) {
  Atomics.add(ctrl, 1, 1); // announce before claiming, so the main thread waits for this chunk
  const v = Atomics.add(ctrl, 0, 1);
  const { index } = claimOf(v);
  if (index < chunks && Atomics.load(ctrl, 3) === 0) {
    try {
      // The step cannot change while this chunk is announced (the main thread waits for it), so word 4 is its step.
      const step = Atomics.load(ctrl, 4);
      if (step !== treeGen) {
        tree.build(y, t.n);
        treeGen = step;
      }
      const start = index * t.chunk;
      const end = Math.min(t.n, start + t.chunk);
      repulsion(tree, y, start, end, t.theta, neg, q);
      attraction(P, y, start, end, scale[0], attr);
    } catch {
      Atomics.store(ctrl, 2, 1);
    }
    Atomics.sub(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
  } else {
    Atomics.sub(ctrl, 1, 1);
    Atomics.notify(ctrl, 1);
    // Nothing left in this generation: sleep until the main thread starts the next one.
    Atomics.wait(ctrl, 0, v + 1);
  }
}
