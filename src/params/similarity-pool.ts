/**
 * Threads for the similarity analyzer's accumulation (similarity.ts). A tensor's rows are cut into chunks of
 * one read block; the main thread and the worker threads claim chunks from one shared atomic counter, each
 * reading its chunks straight from the files (its own file descriptors and buffers). A worker accumulates a
 * chunk into private scratch, then (compare-and-swap claimed → adding) adds it into its own per-worker
 * accumulators and marks the chunk done; the main thread adds each worker's accumulators into its own once per
 * tensor (a result differs from the one-thread sum by float64 rounding only). A chunk a worker has not
 * finished shortly after everything is claimed is taken back by the main thread (compare-and-swap claimed →
 * main) and computed there, so a worker the OS does not schedule (a busy machine) never stalls the analysis;
 * only the short add of a chunk already marked 'adding' is waited for. A late worker therefore never writes
 * after the main thread has left a tensor, so the per-worker accumulators are one buffer reused across
 * tensors (zeroed by the main thread before each): fresh shared buffers per tensor (one slot per chunk, the
 * earlier design) cost their page faults every time, ~60 ms of a ~0.3 s run on this machine.
 *
 * Shared state (Int32, per tensor): word 0 = next chunk to claim; word 1 + c = chunk c's state: 0 free,
 * 1 claimed by a worker, 2 done (added by the worker), 3 taken by the main thread, 4 being added by the worker.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../util/workers.ts';
import { accumulateColumns, slotsPerColumn } from './similarity-kernel.ts';
import { SimdKernel, simdKernel } from './similarity-simd.ts';
import type { RowReader, RowSource } from './tensor-stream.ts';

/** Row chunks as flat triples (start, end, part): rows [start, end) accumulate into part `part`. */
export type Chunks = Int32Array;

export interface ChunkTask {
  /** [next, state per chunk] (Int32). */
  state: SharedArrayBuffer;
  /** Per-worker float64 accumulators, nParts × S · cols each (worker w at w · nParts · S · cols), zeroed. */
  accs: SharedArrayBuffer;
  /** This worker's index into `accs`. */
  worker: number;
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
  for (const r of readers) bytes += n * r.rowBytes;
  const simd = SimdKernel.fits(cols) ? simdKernel(readers.length) : null;
  if (simd) {
    const ins = simd.inputs(n, cols);
    for (let t = 0; t < readers.length; t++) readers[t].readInto(r0, n, ins[t]);
    simd.addInto(n, cols, acc[chunks[3 * c + 2]]);
    return bytes;
  }
  for (let t = 0; t < readers.length; t++) xs[t] = readers[t].read(r0, n);
  accumulateColumns(xs, 0, n, cols, acc[chunks[3 * c + 2]]);
  return bytes;
}

/** Views of `nParts` accumulators for m models over one buffer (part p at p · S · cols). */
export function partViews(buf: ArrayBufferLike, nParts: number, m: number, cols: number): Float64Array[] {
  const len = slotsPerColumn(m) * cols;
  return Array.from({ length: nParts }, (_, p) => new Float64Array(buf, p * len * 8, len));
}

export const FREE = 0, CLAIMED = 1, DONE = 2, MAIN = 3, ADDING = 4;

export class SimilarityPool {
  private readonly xs: Float32Array[] = [];
  private accs = new SharedArrayBuffer(0);
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
   * thread reads through `readers`; workers read `sources`. `meanwhile` runs on the main thread once the
   * workers have the task, before it claims chunks (other work that overlaps theirs). Returns the bytes read by all.
   */
  run(readers: RowReader[], sources: RowSource[], rows: number, cols: number, chunks: Chunks, acc: Float64Array[], meanwhile?: () => void): number {
    const m = readers.length;
    const nChunks = chunks.length / 3;
    const len = slotsPerColumn(m) * cols;
    const state = new Int32Array(new SharedArrayBuffer(4 * (1 + nChunks)));
    const per = acc.length * len;
    const need = 8 * per * this.workers.length;
    if (this.accs.byteLength < need) this.accs = new SharedArrayBuffer(need);
    const accs = new Float64Array(this.accs, 0, per * this.workers.length);
    accs.fill(0); // no worker writes here now: every chunk of the previous tensor was done or taken back
    this.workers.forEach((w, k) => w.postMessage({ state: state.buffer, accs: this.accs, worker: k, sources, rows, cols, chunks, nParts: acc.length } satisfies ChunkTask));
    meanwhile?.();
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
    // chunks the workers claimed: wait a little for those in flight, then take back those not yet being added
    const deadline = performance.now() + 2;
    const rowBytes = readers.reduce((t, r) => t + r.rowBytes, 0);
    for (let c = 0; c < nChunks; c++) {
      if (own[c]) continue;
      for (;;) {
        const v = Atomics.load(state, 1 + c);
        if (v === DONE) {
          SimilarityPool.stats.worker++;
          bytes += (chunks[3 * c + 1] - chunks[3 * c]) * rowBytes;
          break;
        }
        if (v !== ADDING && performance.now() >= deadline) {
          if (Atomics.compareExchange(state, 1 + c, v, MAIN) !== v) continue; // the worker moved it on: look again
          SimilarityPool.stats.taken++;
          bytes += accumulateChunk(readers, chunks, c, cols, acc, this.xs);
          break;
        }
        Atomics.wait(state, 1 + c, v, 0.5);
      }
    }
    // every worker chunk is done or taken back: the workers' accumulators are final
    for (let k = 0; k < this.workers.length; k++) {
      for (let p = 0; p < acc.length; p++) {
        const a = acc[p], o = k * per + p * len;
        for (let i = 0; i < len; i++) a[i] += accs[o + i];
      }
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
