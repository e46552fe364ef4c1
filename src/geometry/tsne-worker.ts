import { parentPort, workerData } from 'node:worker_threads';
import { QuadTree, repulsion } from './tsne.ts';
import type { RepulsionTask } from './tsne-pool.ts';

/** Worker half of the t-SNE repulsion (see tsne-pool.ts): waits for a step, computes its range, reports. */
const t = workerData as RepulsionTask;
const y = new Float64Array(t.y);
const neg = new Float64Array(t.neg);
const q = new Float64Array(t.q);
const ctrl = new Int32Array(t.ctrl);
const tree = new QuadTree(t.n);
parentPort!.postMessage('ready');
let last = 0;
for (;;) {
  Atomics.wait(ctrl, 0, last);
  const gen = Atomics.load(ctrl, 0);
  if (gen < 0) break;
  if (gen === last) continue;
  try {
    tree.build(y, t.n);
    repulsion(tree, y, t.start, t.end, t.theta, neg, q);
    Atomics.store(ctrl, t.slot, gen);
  } catch {
    Atomics.store(ctrl, t.slot, -1);
  }
  Atomics.notify(ctrl, t.slot);
  last = gen;
}
