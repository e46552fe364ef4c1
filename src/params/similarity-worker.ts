/** Worker half of the similarity analyzer's threads (see similarity-pool.ts): claims chunks of a tensor. */
import { parentPort } from 'node:worker_threads';
import { RowReader } from './tensor-stream.ts';
import { ADDING, CLAIMED, DONE, FREE, accumulateChunk, type ChunkTask } from './similarity-pool.ts';
import { slotsPerColumn } from './similarity-kernel.ts';

const readers: RowReader[] = [];
const xs: Float32Array[] = [];
// one chunk's sums, private (reused: fresh memory costs page faults), added to the shared accumulators when done
let scratch = new Float64Array(0);
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
  if (scratch.length < len) scratch = new Float64Array(len);
  const sums = scratch.subarray(0, len);
  const parts = new Array<Float64Array>(t.nParts).fill(sums); // a chunk writes one part; the scratch stands in for it
  const acc = new Float64Array(t.accs, 8 * t.worker * t.nParts * len, t.nParts * len);
  for (let c = Atomics.add(state, 0, 1); c < nChunks; c = Atomics.add(state, 0, 1)) {
    // the main thread may already have taken the chunk back
    if (Atomics.compareExchange(state, 1 + c, FREE, CLAIMED) !== FREE) continue;
    sums.fill(0);
    accumulateChunk(mine, t.chunks, c, t.cols, parts, xs);
    // taken back meanwhile: drop it; else the main thread waits for the add (never takes an 'adding' chunk)
    if (Atomics.compareExchange(state, 1 + c, CLAIMED, ADDING) !== CLAIMED) continue;
    const o = t.chunks[3 * c + 2] * len;
    for (let i = 0; i < len; i++) acc[o + i] += sums[i];
    Atomics.store(state, 1 + c, DONE);
    Atomics.notify(state, 1 + c);
  }
  Atomics.notify(state, 0);
});
