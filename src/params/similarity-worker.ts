/** Worker half of the similarity analyzer's threads (see similarity-pool.ts): claims chunks of the current tensor. */
import { parentPort } from 'node:worker_threads';
import { RowReader } from './tensor-stream.ts';
import { accumulateChunk, partViews, type ChunkTask } from './similarity-pool.ts';
import { slotsPerColumn } from './similarity-kernel.ts';

const readers: RowReader[] = [];
const xs: Float32Array[] = [];
parentPort!.postMessage('ready');
parentPort!.on('message', (t: ChunkTask) => {
  const ctrl = new Int32Array(t.ctrl);
  Atomics.add(ctrl, 2, 1); // announce before reading the generation (see similarity-pool.ts)
  try {
    if (Atomics.load(ctrl, 0) !== t.gen) return; // a tensor already finished
    const m = t.sources.length;
    while (readers.length < m) readers.push(new RowReader());
    t.sources.forEach((src, k) => readers[k].openSource(src, t.rows, t.cols));
    const acc = partViews(t.acc, t.nParts, m, t.cols);
    const nChunks = t.chunks.length / 3;
    let bytes = 0;
    for (let c = Atomics.add(ctrl, 1, 1); c < nChunks; c = Atomics.add(ctrl, 1, 1)) bytes += accumulateChunk(readers.slice(0, m), t.chunks, c, t.cols, acc, xs);
    new Float64Array(t.acc, 8 * slotsPerColumn(m) * t.cols * t.nParts, 1)[0] = bytes;
  } finally {
    Atomics.sub(ctrl, 2, 1);
    Atomics.notify(ctrl, 2);
  }
});
