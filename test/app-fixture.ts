/**
 * A synthetic output folder for the app tests and the screenshot script: maps written the way
 * src/geometry/map-output.ts writes them (.npy + JSON sidecar), a Fisher output the way src/fisher/pipeline.ts
 * writes it (fisher-mds/euclidean-mds .npy, ellipses.json, comparison.json) plus the optional points.json and
 * fisher-edges.npy the app reads, a plot, a table and a node-link graph. Deterministic (seeded).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeNpy } from '../src/data/npy.ts';
import { Rng } from '../src/geometry/rng.ts';
import { lineSvg } from '../src/plot/index.ts';

export const CLASS_NAMES = ['alpha', 'beta', 'gamma', 'delta'];

export interface Fixture {
  n: number;
  texts: string[];
  labels: number[];
  maps: { path: string; layer: number; k: number; coords: Float32Array }[];
  fisherN: number;
  fisherTexts: string[];
  edges: number[];
}

/** Text i: unique, and one of them tries to close a <script> tag (the report must survive it). */
const textOf = (i: number, cls: number) => (i === 3 ? `text 3 </script><b>not markup</b> ${CLASS_NAMES[cls]}` : `text number ${i} about ${CLASS_NAMES[cls]}`);

export function writeFixture(root: string, opts: { n?: number; fisherN?: number } = {}): Fixture {
  const n = opts.n ?? 400;
  const fisherN = opts.fisherN ?? 120;
  const rng = new Rng(7);
  const labels = Array.from({ length: n }, (_, i) => i % CLASS_NAMES.length);
  const texts = labels.map((c, i) => textOf(i, c));
  mkdirSync(join(root, 'maps'), { recursive: true });
  const maps: Fixture['maps'] = [];
  for (const [layer, k] of [[1, 2], [2, 3]] as const) {
    const coords = new Float32Array(n * k);
    for (let i = 0; i < n; i++) for (let a = 0; a < k; a++) coords[i * k + a] = (a === 0 ? 4 * Math.cos(labels[i] * 1.57) : a === 1 ? 4 * Math.sin(labels[i] * 1.57) : labels[i]) * layer * 0.5 + rng.normal();
    const base = `maps/map-layer${layer}-pca`;
    writeNpy(join(root, `${base}.npy`), coords, [n, k]);
    writeFileSync(join(root, `${base}.json`), JSON.stringify({
      title: `layer ${layer} · PCA`, layer, method: 'pca', nComponents: k, rows: n, diagnostics: { explainedVarianceRatio: [0.4, 0.2] },
      classNames: CLASS_NAMES, labels, texts,
    }));
    maps.push({ path: `${base}.npy`, layer, k, coords });
  }
  // Fisher output (a ring of points with small ellipses, and a k-NN edge list).
  const fdir = join(root, 'fisher');
  mkdirSync(fdir, { recursive: true });
  const fl = Array.from({ length: fisherN }, (_, i) => i % CLASS_NAMES.length);
  const fisherTexts = fl.map((c, i) => `fisher point ${i} (${CLASS_NAMES[c]})`);
  const mds = new Float64Array(fisherN * 2);
  for (let i = 0; i < fisherN; i++) {
    const t = (2 * Math.PI * i) / fisherN;
    mds[2 * i] = Math.cos(t) + 0.05 * rng.normal();
    mds[2 * i + 1] = Math.sin(t) + 0.05 * rng.normal();
  }
  writeNpy(join(fdir, 'fisher-mds.npy'), mds, [fisherN, 2]);
  writeNpy(join(fdir, 'euclidean-mds.npy'), mds.map((v) => v * 2), [fisherN, 2]);
  const ellipses = Array.from({ length: fisherN }, (_, i) => ({ cx: mds[2 * i], cy: mds[2 * i + 1], rx: 0.06, ry: 0.02, angle: i * 0.1, metric: [1, 0, 1] }));
  writeFileSync(join(fdir, 'ellipses.json'), JSON.stringify({ radius: 0.03, ellipses }));
  const edges: number[] = [];
  for (let i = 0; i < fisherN; i++) edges.push(i, (i + 1) % fisherN, i, (i + 2) % fisherN);
  writeNpy(join(fdir, 'fisher-edges.npy'), Int32Array.from(edges), [edges.length / 2, 2]);
  writeFileSync(join(fdir, 'points.json'), JSON.stringify({ texts: fisherTexts, labels: fl, classNames: CLASS_NAMES }));
  writeFileSync(join(fdir, 'comparison.json'), JSON.stringify({ n: fisherN, d: 8, layer: 2, lambda: 1e-4, k: 2, rule: 'mean', candidates: 'euclidean', comparison: { spearman: 0.9, pearson: 0.95, embeddings: [{ name: 'fisher-mds', trustworthiness: 0.97, labelOverlap: 0.5 }] } }));
  writeFileSync(join(fdir, 'geodesic-scatter.svg'), lineSvg({ title: 'Geodesic distances', series: [{ name: 'pairs', x: [0, 1, 2], y: [0, 1.1, 2.3] }] }));
  // A profile-like plot and table, and a node-link graph.
  mkdirSync(join(root, 'profile'), { recursive: true });
  writeFileSync(join(root, 'profile', 'profile-id.svg'), lineSvg({ title: 'Intrinsic dimension by layer', xLabel: 'layer', yLabel: 'ID', series: [{ name: 'TwoNN', x: [0, 1, 2], y: [5, 3, 4] }] }));
  writeFileSync(join(root, 'profile', 'profile.csv'), 'layer,twonn_id,label_overlap\n0,5.1,0.25\n1,3.2,0.5\n2,4.0,"0.75"\n');
  writeFileSync(join(root, 'graph.json'), JSON.stringify({ directed: false, multigraph: false, graph: {}, nodes: [{ id: 0 }, { id: 1 }], links: [{ source: 0, target: 1 }] }));
  return { n, texts, labels, maps, fisherN, fisherTexts, edges };
}
