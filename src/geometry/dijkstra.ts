/**
 * Single-source shortest paths on a CSR graph with non-negative lengths: Dijkstra with an indexed binary
 * heap (decrease-key), O((V + E) log V). Shared by the main thread and the geodesic workers, so it takes plain
 * typed arrays and preallocated scratch space.
 */
export interface DijkstraScratch {
  heap: Int32Array;
  pos: Int32Array;
  dist: Float64Array;
}

export function dijkstraScratch(n: number): DijkstraScratch {
  return { heap: new Int32Array(n), pos: new Int32Array(n), dist: new Float64Array(n) };
}

/** Fills scratch.dist with the distances from `source` (Infinity where unreachable). */
export function dijkstra(n: number, indptr: Int32Array, indices: Int32Array, weights: Float64Array, source: number, s: DijkstraScratch): Float64Array {
  const { heap, pos, dist } = s;
  dist.fill(Infinity);
  pos.fill(-1); // -1: never seen; -2: settled; ≥ 0: index in heap
  let size = 0;
  const up = (i: number) => {
    const v = heap[i];
    const dv = dist[v];
    while (i > 0) {
      const p = (i - 1) >> 1;
      const u = heap[p];
      if (dist[u] <= dv) break;
      heap[i] = u;
      pos[u] = i;
      i = p;
    }
    heap[i] = v;
    pos[v] = i;
  };
  const down = (i: number) => {
    const v = heap[i];
    const dv = dist[v];
    for (;;) {
      let c = 2 * i + 1;
      if (c >= size) break;
      if (c + 1 < size && dist[heap[c + 1]] < dist[heap[c]]) c++;
      const u = heap[c];
      if (dist[u] >= dv) break;
      heap[i] = u;
      pos[u] = i;
      i = c;
    }
    heap[i] = v;
    pos[v] = i;
  };
  dist[source] = 0;
  heap[0] = source;
  pos[source] = 0;
  size = 1;
  while (size > 0) {
    const u = heap[0];
    pos[u] = -2;
    size--;
    if (size > 0) {
      heap[0] = heap[size];
      down(0);
    }
    const du = dist[u];
    for (let o = indptr[u]; o < indptr[u + 1]; o++) {
      const v = indices[o];
      const p = pos[v];
      if (p === -2) continue;
      const nd = du + weights[o];
      if (nd < dist[v]) {
        dist[v] = nd;
        if (p === -1) {
          heap[size] = v;
          size++;
          up(size - 1);
        } else up(p);
      }
    }
  }
  return dist;
}
