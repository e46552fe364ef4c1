import { parentPort, workerData } from 'node:worker_threads';
import { QuadTree, attraction, repulsion } from './tsne.ts';
import { serveChunks, type RepulsionTask } from './tsne-pool.ts';

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
serveChunks(ctrl, chunks, (index, step) => {
  if (step !== treeGen) {
    tree.build(y, t.n);
    treeGen = step;
  }
  const start = index * t.chunk;
  const end = Math.min(t.n, start + t.chunk);
  repulsion(tree, y, start, end, t.theta, neg, q);
  attraction(P, y, start, end, scale[0], attr);
});
