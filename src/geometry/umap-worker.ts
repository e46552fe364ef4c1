import { parentPort, workerData } from 'node:worker_threads';
import { serveChunks } from './tsne-pool.ts';
import { runChunk, taskViews, type SgdTask } from './umap-pool.ts';

/** Worker half of the multi-threaded UMAP SGD (see umap-pool.ts): claims chunks of each epoch's edges. */
const t = workerData as SgdTask;
const { y, s } = taskViews(t);
const ctrl = new Int32Array(t.ctrl);
const alpha = new Float64Array(t.alpha);
const rng = Int32Array.from(t.rng);
const chunks = Math.ceil(s.head.length / t.chunk);
parentPort!.postMessage('ready');
// Word 4 is the epoch.
serveChunks(ctrl, chunks, (index, epoch) => runChunk(y, s, t.chunk, index, epoch, alpha[0], t.params, rng));
