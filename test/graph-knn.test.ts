import { test } from 'node:test';
import assert from 'node:assert/strict';
import { knnGraph, connectedComponents, euclideanEdgeLength, graphFromEdges } from '../src/geometry/graph.ts';
import { knn } from '../src/geometry/knn.ts';
import { isAtlasError } from '../src/errors.ts';
import { naiveKnn, randomMatrix, gaussianClusters } from './reduce-reference.ts';

test('union / mutual symmetrisation against a set-based reference', async () => {
  const x = randomMatrix(80, 4, 5);
  const table = await knn(x, { k: 5 });
  const ref = naiveKnn(x, 5);
  assert.deepEqual(table.indices, ref.indices);
  const nb = (i: number) => new Set(Array.from(ref.indices.subarray(i * 5, i * 5 + 5)));
  const union = knnGraph(table);
  const mutual = knnGraph(table, { symmetrize: 'mutual' });
  const directed = knnGraph(table, { symmetrize: 'none' });
  const len = euclideanEdgeLength(x);
  for (let i = 0; i < 80; i++) {
    const u = new Set<number>(), m = new Set<number>();
    for (let j = 0; j < 80; j++) {
      if (nb(i).has(j) || nb(j).has(i)) u.add(j);
      if (nb(i).has(j) && nb(j).has(i)) m.add(j);
    }
    const row = (g: typeof union) => Array.from(g.indices.subarray(g.indptr[i], g.indptr[i + 1]));
    assert.deepEqual(row(union), [...u].sort((a, b) => a - b));
    assert.deepEqual(row(mutual), [...m].sort((a, b) => a - b));
    assert.deepEqual(row(directed), [...nb(i)].sort((a, b) => a - b));
    for (let o = union.indptr[i]; o < union.indptr[i + 1]; o++) assert.ok(Math.abs(union.weights[o] - len(i, union.indices[o])) < 1e-12);
  }
});

test('pluggable edge length is evaluated once per undirected edge as (min, max)', async () => {
  const x = randomMatrix(30, 3, 1);
  const table = await knn(x, { k: 4 });
  const calls: [number, number][] = [];
  const g = knnGraph(table, { edgeLength: (i, j) => { calls.push([i, j]); return i * 1000 + j; } });
  assert.ok(calls.every(([i, j]) => i < j));
  for (let i = 0; i < 30; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) {
    const j = g.indices[o];
    assert.equal(g.weights[o], Math.min(i, j) * 1000 + Math.max(i, j));
  }
  assert.throws(() => knnGraph(table, { edgeLength: () => NaN }), isAtlasError);
  assert.throws(() => knnGraph(table, { edgeLength: () => -1 }), isAtlasError);
});

test('connected components: separated clusters, isolated nodes, label order', async () => {
  const { x, labels } = gaussianClusters(25, 3, 3, 7, 40);
  const g = knnGraph(await knn(x, { k: 5 }));
  const c = connectedComponents(g);
  assert.equal(c.count, 3);
  assert.deepEqual(Array.from(c.sizes), [25, 25, 25]);
  for (let i = 0; i < 75; i++) for (let j = 0; j < 75; j++) assert.equal(c.labels[i] === c.labels[j], labels[i] === labels[j]);
  const e = connectedComponents(graphFromEdges(6, [[4, 5, 1], [0, 2, 1]]));
  assert.deepEqual(Array.from(e.labels), [0, 1, 0, 2, 3, 3]);
  assert.equal(e.count, 4);
  await assert.rejects(knn(randomMatrix(5, 2, 1), { k: 5 }), isAtlasError); // N < k + 1
});
