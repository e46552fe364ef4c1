/**
 * Single-source shortest paths on a CSR graph with non-negative lengths: Dijkstra with an indexed binary
 * heap (decrease-key), O((V + E) log V). Shared by the main thread and the geodesic workers, so it takes plain
 * typed arrays and preallocated scratch space.
 */
export interface DijkstraScratch {
  /** Heap slots: node ids and their keys side by side (no indirection through dist while sifting). */
  heap: Int32Array;
  keys: Float64Array;
  pos: Int32Array;
  dist: Float64Array;
}

export function dijkstraScratch(n: number): DijkstraScratch {
  return { heap: new Int32Array(n), keys: new Float64Array(n), pos: new Int32Array(n), dist: new Float64Array(n) };
}

/**
 * Fills scratch.dist with the distances from `source` (Infinity where unreachable). The heap operations are
 * written inline with every piece of state in locals: closures over a mutable heap size cost V8 a context
 * load/store per access, which dominated the inner loop. Any correct Dijkstra returns the same numbers bit
 * for bit (each distance is the minimum of the same candidate sums), so this matches the previous version.
 */
export function dijkstra(n: number, indptr: Int32Array, indices: Int32Array, weights: Float64Array, source: number, s: DijkstraScratch): Float64Array {
  const { heap, keys, pos, dist } = s;
  dist.fill(Infinity);
  pos.fill(-1); // -1: never seen; -2: settled; ≥ 0: slot in the heap
  dist[source] = 0;
  heap[0] = source;
  keys[0] = 0;
  pos[source] = 0;
  let size = 1;
  while (size > 0) {
    const u = heap[0];
    const du = keys[0];
    pos[u] = -2;
    size--;
    if (size > 0) {
      // Move the last slot to the root and sift it down.
      const v = heap[size];
      const kv = keys[size];
      let i = 0;
      for (;;) {
        let c = 2 * i + 1;
        if (c >= size) break;
        let kc = keys[c];
        if (c + 1 < size && keys[c + 1] < kc) {
          c++;
          kc = keys[c];
        }
        if (kc >= kv) break;
        const hc = heap[c];
        heap[i] = hc;
        keys[i] = kc;
        pos[hc] = i;
        i = c;
      }
      heap[i] = v;
      keys[i] = kv;
      pos[v] = i;
    }
    const end = indptr[u + 1];
    for (let o = indptr[u]; o < end; o++) {
      const v = indices[o];
      const nd = du + weights[o];
      // A settled v has dist[v] ≤ du ≤ nd (lengths ≥ 0), so this test alone also skips settled nodes.
      if (nd < dist[v]) {
        dist[v] = nd;
        let i = pos[v];
        if (i === -1) i = size++;
        // Sift up from slot i (a new slot at the end, or v's current slot after its key decreased).
        while (i > 0) {
          const p = (i - 1) >> 1;
          const kp = keys[p];
          if (kp <= nd) break;
          const hp = heap[p];
          heap[i] = hp;
          keys[i] = kp;
          pos[hp] = i;
          i = p;
        }
        heap[i] = v;
        keys[i] = nd;
        pos[v] = i;
      }
    }
  }
  return dist;
}
