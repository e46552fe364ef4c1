/** Worker half of the similarity analyzer's threads (see similarity-pool.ts): claims chunks of a tensor. */
import { parentPort } from 'node:worker_threads';
import { RowReader } from './tensor-stream.ts';
import { CLAIMED, DONE, FREE, accumulateChunk, type ChunkTask } from './similarity-pool.ts';
import { slotsPerColumn } from './similarity-kernel.ts';

const readers: RowReader[] = [];
const xs: Float32Array[] = [];
parentPort!.postMessage('ready');
parentPort!.on('message', (t: ChunkTask) => {
  const state = new Int32Array(t.state);
  const nChunks = t.chunks.length / 3;
  if (Atomics.load(state, 0) >= nChunks) return; // nothing left: the tensor is done or nearly so
  const m = t.sources.length;
  while (readers.length < m) readers.push(new RowReader());
  t.sources.forEach((src, k) => readers[k].openSource(src, t.rows, t.cols));
  const mine = readers.slice(0, m);
  const len = slotsPerColumn(m) * t.cols;
  for (let c = Atomics.add(state, 0, 1); c < nChunks; c = Atomics.add(state, 0, 1)) {
    // the main thread may already have taken the chunk back
    if (Atomics.compareExchange(state, 1 + c, FREE, CLAIMED) !== FREE) continue;
    const slot = new Float64Array(t.slots, 8 * len * c, len);
    // a chunk writes one part; the slot stands in for it
    accumulateChunk(mine, t.chunks, c, t.cols, new Array<Float64Array>(t.nParts).fill(slot), xs);
    if (Atomics.compareExchange(state, 1 + c, CLAIMED, DONE) === CLAIMED) Atomics.notify(state, 1 + c);
  }
  Atomics.notify(state, 0);
});
