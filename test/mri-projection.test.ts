import test from 'node:test';
import assert from 'node:assert/strict';
import { averageClusteringDirected, collaborationProjection, degreeByLayer, projectionMetrics } from '../src/mri/projection.ts';
import { jsonFixture } from './ref-fixtures.ts';

interface Fixture {
  nodes: string[];
  edges: [string, string, number][];
  projections: Record<'even' | 'odd', { edges: [string, string, number][]; meanDegree: number; varDegree: number | null; meanStrength: number; varStrength: number | null; averageClustering: number; assortativity: number | null; density: number; averageShortestPath: number | null }>;
  degreeByLayer: { layer: number; mean: number | null; variance: number | null }[];
  clusteringGraph: { nodes: string[]; edges: [string, string, number][]; averageClustering: number };
}
const fx = jsonFixture<Fixture>('mri', 'projection.json');
const graph = {
  directed: true,
  nodes: fx.nodes.map((id) => ({ id, layer: Number(id.split('_')[0]) })),
  edges: fx.edges.map(([source, target, weight]) => ({ source, target, weight })),
};
const close = (a: number | null, b: number | null, what: string): void => {
  if (b === null) { assert.ok(a === null || Number.isNaN(a), `${what}: ${a} vs null`); return; }
  assert.ok(a !== null && Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
};

test('collaboration-weighted projections onto even / odd layers equal networkx, edge by edge', () => {
  for (const side of ['even', 'odd'] as const) {
    const keep = graph.nodes.filter((v) => v.layer % 2 === (side === 'even' ? 0 : 1)).map((v) => v.id);
    const p = collaborationProjection(graph, keep);
    const got = p.edges.map((e) => [e.source, e.target, e.weight] as [string, string, number]).sort();
    const want = fx.projections[side].edges;
    assert.equal(got.length, want.length, side);
    got.forEach((e, i) => {
      assert.equal(`${e[0]}→${e[1]}`, `${want[i]![0]}→${want[i]![1]}`);
      close(e[2], want[i]![2], `${side} weight ${e[0]}→${e[1]}`);
    });
  }
});

test('projection metrics and degree by layer equal networkx / pandas', () => {
  for (const m of projectionMetrics(graph)) {
    const want = fx.projections[m.side];
    for (const k of ['meanDegree', 'varDegree', 'meanStrength', 'varStrength', 'averageClustering', 'assortativity', 'density', 'averageShortestPath'] as const) close(m[k], want[k], `${m.side}.${k}`);
  }
  const layers = [0, 1, 2, 3, 4];
  degreeByLayer(graph, layers).forEach((r, i) => {
    close(r.mean, fx.degreeByLayer[i]!.mean, `layer ${i} mean`);
    close(r.variance, fx.degreeByLayer[i]!.variance, `layer ${i} variance`);
  });
});

test('weighted directed clustering equals networkx on a digraph with triangles', () => {
  const c = fx.clusteringGraph;
  const got = averageClusteringDirected(c.nodes, c.edges.map(([source, target, weight]) => ({ source, target, weight })));
  assert.ok(c.averageClustering > 0.05, 'the fixture graph has triangles');
  close(got, c.averageClustering, 'average clustering');
});
