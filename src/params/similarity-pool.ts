/**
 * Threads for the similarity analyzer's accumulation (similarity.ts). A tensor's rows are cut into chunks of
 * one read block; the main thread and the worker threads claim chunks from one shared atomic counter, each
 * reading its chunks straight from the files (its own file descriptors and buffers). A worker accumulates a
 * chunk into that chunk's own float64 slot and then marks it done; the main thread adds the done slots into
 * its accumulators (a result differs from the one-thread sum by float64 rounding only). A chunk a worker has
 * not finished shortly after everything is claimed is taken back by the main thread (compare-and-swap on the
 * chunk's state) and computed there, so a worker the OS does not schedule (a busy machine) never stalls the
 * analysis. Every tensor has its own state and slot buffers, so a late worker cannot touch the next tensor.
 *
 * Shared state (Int32, per tensor): word 0 = next chunk to claim; word 1 + c = chunk c's state: 0 free,
 * 1 claimed by a worker, 2 done by a worker (slot c holds it), 3 taken by the main thread.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/workers.ts';
import { accumulateColumns, slotsPerColumn } from './similarity-kernel.ts';
import type { RowReader, RowSource } from './tensor-stream.ts';

/** Row chunks as flat triples (start, end, part): rows [start, end) accumulate into part `part`. */
export type Chunks = Int32Array;

export interface ChunkTask {
  /** [next, state per chunk] (Int32). */
  state: SharedArrayBuffer;
  /** One float64 slot of S · cols per chunk, zeroed (a worker accumulates chunk c into slot c). */
  slots: SharedArrayBuffer;
  sources: RowSource[];
  rows: number;
  cols: number;
  chunks: Chunks;
  nParts: number;
}

/** Rows [start, end) as chunks of at most `blockRows` rows each. */
export function chunked(segments: readonly number[], blockRows: number): Chunks {
  const out: number[] = [];
  for (let s = 0; s < segments.length; s += 3) {
    for (let r = segments[s]; r < segments[s + 1]; r += blockRows) out.push(r, Math.min(segments[s + 1], r + blockRows), segments[s + 2]);
  }
  return Int32Array.from(out);
}

/** Accumulates chunk `c` (read through `readers`, one per model) into acc[part]; returns the bytes read. */
export function accumulateChunk(readers: RowReader[], chunks: Chunks, c: number, cols: number, acc: Float64Array[], xs: Float32Array[]): number {
  const r0 = chunks[3 * c], n = chunks[3 * c + 1] - r0;
  let bytes = 0;
  for (let t = 0; t < readers.length; t++) {
    xs[t] = readers[t].read(r0, n);
    bytes += n * readers[t].rowBytes;
  }
  accumulateColumns(xs, 0, n, cols, acc[chunks[3 * c + 2]]);
  return bytes;
}

/** Views of `nParts` accumulators for m models over one buffer (part p at p · S · cols). */
export function partViews(buf: ArrayBufferLike, nParts: number, m: number, cols: number): Float64Array[] {
  const len = slotsPerColumn(m) * cols;
  return Array.from({ length: nParts }, (_, p) => new Float64Array(buf, p * len * 8, len));
}

export const FREE = 0, CLAIMED = 1, DONE = 2, MAIN = 3;

export class SimilarityPool {
  private readonly xs: Float32Array[] = [];
  private readonly started: Promise<void>;
  /** Tests only: false leaves every chunk to the workers (so their code path is checked deterministically). */
  static mainClaims = true;
  /** Chunks computed by the main thread, by workers, and taken back from workers (for the benchmark's note). */
  static stats = { main: 0, worker: 0, taken: 0 };

  private constructor(private readonly workers: Worker[]) {
    this.started = Promise.all(workers.map((w) => new Promise<void>((ok) => w.once('message', () => ok())))).then(() => undefined);
    for (const w of workers) {
      w.on('error', (e) => process.stderr.write(`warning: a similarity worker thread failed (the main thread carries on): ${e.message}\n`));
      w.unref();
    }
  }

  /**
   * Accumulates every chunk into `acc` (nParts views), the main thread and the workers together; the main
   * thread reads through `readers`; workers read `sources`. Returns the bytes read by all.
   */
  run(readers: RowReader[], sources: RowSource[], rows: number, cols: number, chunks: Chunks, acc: Float64Array[]): number {
    const m = readers.length;
    const nChunks = chunks.length / 3;
    const len = slotsPerColumn(m) * cols;
    const state = new Int32Array(new SharedArrayBuffer(4 * (1 + nChunks)));
    const slots = new SharedArrayBuffer(8 * len * nChunks);
    for (const w of this.workers) w.postMessage({ state: state.buffer, slots, sources, rows, cols, chunks, nParts: acc.length } satisfies ChunkTask);
    const own = new Uint8Array(nChunks);
    let bytes = 0;
    if (SimilarityPool.mainClaims) {
      for (let c = Atomics.add(state, 0, 1); c < nChunks; c = Atomics.add(state, 0, 1)) {
        own[c] = 1;
        SimilarityPool.stats.main++;
        bytes += accumulateChunk(readers, chunks, c, cols, acc, this.xs);
      }
    } else {
      while (Atomics.load(state, 0) < nChunks) Atomics.wait(state, 0, Atomics.load(state, 0), 5);
      for (let c = 0; c < nChunks; c++) while (Atomics.load(state, 1 + c) !== DONE) Atomics.wait(state, 1 + c, Atomics.load(state, 1 + c), 5);
    }
    // chunks the workers claimed: add the done ones; wait a little for those in flight, then take them back
    const deadline = performance.now() + 2;
    for (let c = 0; c < nChunks; c++) {
      if (own[c]) continue;
      let v = Atomics.load(state, 1 + c);
      while (v !== DONE && performance.now() < deadline) {
        Atomics.wait(state, 1 + c, v, 0.5);
        v = Atomics.load(state, 1 + c);
      }
      if (v !== DONE && Atomics.compareExchange(state, 1 + c, v, MAIN) === v) {
        SimilarityPool.stats.taken++;
        bytes += accumulateChunk(readers, chunks, c, cols, acc, this.xs);
        continue;
      }
      SimilarityPool.stats.worker++;
      const slot = new Float64Array(slots, 8 * len * c, len);
      const a = acc[chunks[3 * c + 2]];
      for (let i = 0; i < len; i++) a[i] += slot[i];
      bytes += (chunks[3 * c + 1] - chunks[3 * c]) * readers.reduce((t, r) => t + r.rowBytes, 0);
    }
    return bytes;
  }

  /** Resolves once every worker has started (each posts one 'ready'). */
  ready(): Promise<void> {
    for (const w of this.workers) w.ref(); // idle workers are unref'd: keep the process alive while waiting
    return this.started.then(() => { for (const w of this.workers) w.unref(); });
  }

  private static pools = new Map<number, SimilarityPool>();

  /** The process's pool of `n` worker threads (started on first use; a worker still starting simply takes no chunks). */
  static get(n: number): SimilarityPool {
    let p = SimilarityPool.pools.get(n);
    if (!p) {
      p = new SimilarityPool(Array.from({ length: n }, () => startWorker(new URL('./similarity-worker.ts', import.meta.url), null)));
      SimilarityPool.pools.set(n, p);
    }
    return p;
  }
}
