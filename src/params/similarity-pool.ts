/**
 * Threads for the similarity analyzer's accumulation (similarity.ts). A tensor's rows are cut into chunks of
 * one read block; the main thread and the worker threads claim chunks from one shared atomic counter, each
 * reading its chunks straight from the files (its own file descriptors and buffers) into its own float64
 * accumulators, which the main thread adds up at the end (a result differs from the one-thread sum by
 * float64 rounding only). A worker the OS does not schedule (a busy machine) costs at most the chunk it is
 * computing, never a stall: the main thread takes whatever is left.
 *
 * Shared control (Int32): word 0 = generation (the tensor being compared), word 1 = next chunk, word 2 =
 * workers inside the current generation. A worker announces itself (word 2) before reading the generation;
 * the main thread, once every chunk is claimed, bumps the generation and waits for word 2 to drain, so a
 * worker arriving late sees a new generation and leaves without touching anything.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/workers.ts';
import { accumulateColumns, slotsPerColumn } from './similarity-kernel.ts';
import type { RowReader, RowSource } from './tensor-stream.ts';

/** Row chunks as flat triples (start, end, part): rows [start, end) accumulate into part `part`. */
export type Chunks = Int32Array;

export interface ChunkTask {
  gen: number;
  ctrl: SharedArrayBuffer;
  /** This worker's accumulators (nParts · S · cols float64), zeroed by the main thread. */
  acc: SharedArrayBuffer;
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

export class SimilarityPool {
  private readonly ctrl = new Int32Array(new SharedArrayBuffer(12));
  private gen = 0;
  private readonly xs: Float32Array[] = [];
  private readonly started: Promise<void>;
  /** Tests only: false leaves every chunk to the workers (so their code path is checked deterministically). */
  static mainClaims = true;

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
    const nParts = acc.length;
    const gen = (this.gen = (this.gen + 1) & 0x3fffffff);
    Atomics.store(this.ctrl, 1, 0);
    Atomics.store(this.ctrl, 0, gen);
    const len = slotsPerColumn(m) * cols * nParts;
    const bufs = this.workers.map(() => new SharedArrayBuffer(8 * len + 8)); // last float64: the worker's bytes read
    this.workers.forEach((w, i) => w.postMessage({ gen, ctrl: this.ctrl.buffer, acc: bufs[i], sources, rows, cols, chunks, nParts } satisfies ChunkTask));
    const nChunks = chunks.length / 3;
    let bytes = 0;
    if (SimilarityPool.mainClaims) {
      for (let c = Atomics.add(this.ctrl, 1, 1); c < nChunks; c = Atomics.add(this.ctrl, 1, 1)) bytes += accumulateChunk(readers, chunks, c, cols, acc, this.xs);
    } else while (Atomics.load(this.ctrl, 1) < nChunks) Atomics.wait(this.ctrl, 2, 0, 5);
    // every chunk is claimed: close the generation, then wait for workers still inside it
    Atomics.store(this.ctrl, 0, (gen + 1) & 0x3fffffff);
    for (let active = Atomics.load(this.ctrl, 2); active !== 0; active = Atomics.load(this.ctrl, 2)) Atomics.wait(this.ctrl, 2, active, 50);
    for (const b of bufs) {
      const parts = partViews(b, nParts, m, cols);
      for (let p = 0; p < nParts; p++) for (let i = 0; i < parts[p].length; i++) acc[p][i] += parts[p][i];
      bytes += new Float64Array(b, 8 * len, 1)[0];
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
