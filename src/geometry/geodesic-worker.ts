import { parentPort, workerData } from 'node:worker_threads';
import { dijkstra, dijkstraScratch } from './dijkstra.ts';

/** Worker half of geodesicDistances: Dijkstra from sources [start, end) into the shared output matrix. */
export interface GeodesicTask {
  n: number;
  indptr: Int32Array;
  indices: Int32Array;
  weights: Float64Array;
  out: Float64Array | Float32Array;
  start: number;
  end: number;
}

const t = workerData as GeodesicTask;
const scratch = dijkstraScratch(t.n);
for (let src = t.start; src < t.end; src++) {
  const d = dijkstra(t.n, t.indptr, t.indices, t.weights, src, scratch);
  t.out.set(d, src * t.n);
}
parentPort!.postMessage(t.end - t.start);
