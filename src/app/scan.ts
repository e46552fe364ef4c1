/**
 * Discovery of everything an output folder holds, by file kind rather than by which command wrote it, so new
 * analyses show up in the app without app changes:
 * - map: `X.npy` (n × k float, k ≥ 2) next to `X.json` whose `method` field is a string (src/geometry/map-output.ts)
 * - profile: `profile.json` with a `layers` array (src/geometry/profile-output.ts), plus its `profile.csv`
 * - fisher: a folder with `ellipses.json` and `fisher-mds.npy` (src/fisher/pipeline.ts); optional
 *   `euclidean-mds.npy`, `tsne.npy`, `comparison.json`, `points.json` ({texts, labels, classNames}) and
 *   `fisher-edges.npy` / `euclidean-edges.npy` (m × 2 int32); edges are otherwise read from the step cache
 * - plot: any `*.svg` / `*.png` (an SVG and PNG with the same name are one plot with two formats)
 * - table: any `*.csv` / `*.tsv`
 * - graph: any `*.graphml`, and `*.json` in networkx node-link form ({nodes, links})
 * - page: any `*.html`
 * Folders named `cache` and hidden entries are skipped (step caches hold intermediate arrays, not results).
 */
import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync } from 'node:fs';
import { basename, join, sep } from 'node:path';
import { LAYER_BUNDLE } from '../geometry/layer-bundle.ts';
import { COMPARE_FILES } from '../geometry/compare-output.ts';
import { layerBundleEntry, type LayerBundleEntry } from './layers-payload.ts';

export interface MapEntry {
  /** The embedding .npy, relative to the root (forward slashes); also the map's id. */
  path: string;
  sidecar: string;
  title: string;
  method: string;
  layer: number | null;
  nComponents: number;
  rows: number;
  group: string;
}

export interface FisherEntry {
  dir: string;
  n: number;
  /** Embeddings available for the Fisher view, by name (fisher-mds, euclidean-mds, tsne). */
  embeddings: string[];
  comparison: string | null;
  hasEdges: boolean;
  hasTexts: boolean;
}

export interface PlotEntry {
  title: string;
  group: string;
  svg: string | null;
  png: string | null;
}

export interface FileEntry {
  path: string;
  group: string;
  title: string;
}

export interface AtlasIndex {
  /** The output folder's name (not its absolute path). */
  name: string;
  /** run.json at the root, when present (written by `demo`). */
  run: Record<string, unknown> | null;
  maps: MapEntry[];
  /** Layers bundles (src/geometry/layer-bundle.ts) for the explorer's layer slider. */
  layerBundles: LayerBundleEntry[];
  /** Layer × layer similarity outputs of `latent-atlas compare` (compare.json). */
  compares: FileEntry[];
  profiles: FileEntry[];
  fisher: FisherEntry[];
  plots: PlotEntry[];
  tables: FileEntry[];
  graphs: FileEntry[];
  pages: FileEntry[];
  /** Results that look like maps but cannot be shown, each with the reason (shown in the app, not dropped silently). */
  skipped: string[];
}

const MAX_ENTRIES = 20000;
const MAX_DEPTH = 8;
/** JSON files above this size are not opened just to see whether they are graphs. */
const MAX_SNIFF_BYTES = 32 * 1024 * 1024;

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Shape of a .npy file from its header only (no data read); null when it is not a readable .npy. */
export function npyShape(path: string): number[] | null {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = Buffer.alloc(512);
    const got = readSync(fd, head, 0, 512, 0);
    if (got < 10 || head.toString('latin1', 1, 6) !== 'NUMPY') return null;
    const m = /'shape'\s*:\s*\(([^)]*)\)/.exec(head.toString('latin1', 10, got));
    if (!m) return null;
    const dims = m[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
    return dims.every((d) => Number.isInteger(d) && d >= 0) ? dims : null;
  } catch {
    return null;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Relative path with forward slashes whatever the platform. */
const relOf = (parts: string[]): string => parts.join('/');

/** Scans `root` (any folder) and returns what the app can show. */
export function scanOutputFolder(root: string): AtlasIndex {
  const rootReal = realpathSync(root);
  const files: string[][] = [];
  const walk = (dirParts: string[], depth: number): void => {
    if (depth > MAX_DEPTH || files.length >= MAX_ENTRIES) return;
    let names: string[];
    try {
      names = readdirSync(join(rootReal, ...dirParts)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (files.length >= MAX_ENTRIES) return;
      if (name.startsWith('.') || name === 'node_modules') continue;
      const parts = [...dirParts, name];
      const abs = join(rootReal, ...parts);
      let st = lstatSync(abs);
      if (st.isSymbolicLink()) {
        // Followed only when the target stays inside the root (the server enforces the same rule).
        try {
          const real = realpathSync(abs);
          if (!real.startsWith(rootReal + sep)) continue;
          st = lstatSync(real);
        } catch {
          continue;
        }
        if (st.isDirectory()) continue; // no symlinked folders: they could loop
      }
      if (st.isDirectory()) {
        if (name !== 'cache') walk(parts, depth + 1);
      } else if (st.isFile()) files.push(parts);
    }
  };
  walk([], 0);

  const index: AtlasIndex = { name: basename(rootReal), run: null, maps: [], layerBundles: [], compares: [], profiles: [], fisher: [], plots: [], tables: [], graphs: [], pages: [], skipped: [] };
  const run = readJson(join(rootReal, 'run.json'));
  if (isRecord(run)) index.run = run;
  const present = new Set(files.map(relOf));
  const claimed = new Set<string>();
  const groupOf = (parts: string[]) => relOf(parts.slice(0, -1)) || '.';
  const titleOf = (parts: string[]) => parts[parts.length - 1].replace(/\.[^.]+$/, '');

  for (const parts of files) {
    const rel = relOf(parts);
    const name = parts[parts.length - 1];
    if (name.endsWith('.npy')) {
      const sidecar = rel.slice(0, -4) + '.json';
      if (!present.has(sidecar)) continue;
      const shape = npyShape(join(rootReal, ...parts));
      const meta = readJson(join(rootReal, ...sidecar.split('/')));
      if (meta === undefined) { index.skipped.push(`${rel}: its sidecar ${sidecar} is not valid JSON`); continue; }
      if (!isRecord(meta) || typeof meta.method !== 'string') continue; // a JSON next to some other array: not a map
      if (!shape || shape.length !== 2 || shape[1] < 2) { index.skipped.push(`${rel}: not a readable n × 2 (or × 3) float array`); continue; }
      index.maps.push({
        path: rel, sidecar, title: typeof meta.title === 'string' ? meta.title : titleOf(parts), method: meta.method,
        layer: typeof meta.layer === 'number' ? meta.layer : null, nComponents: shape[1], rows: shape[0], group: groupOf(parts),
      });
      claimed.add(sidecar);
      const base = rel.slice(0, -4);
      for (const ext of ['.svg', '.png', '.html']) claimed.add(base + ext);
    } else if (name === COMPARE_FILES.json) {
      index.compares.push({ path: rel, group: groupOf(parts), title: titleOf(parts) });
      claimed.add(rel);
    } else if (name === LAYER_BUNDLE.manifest) {
      const e = layerBundleEntry(join(rootReal, ...parts), groupOf(parts));
      if (!e) continue;
      index.layerBundles.push(e);
      claimed.add(rel);
    } else if (name === 'ellipses.json' && present.has(relOf([...parts.slice(0, -1), 'fisher-mds.npy']))) {
      const dir = groupOf(parts);
      const at = (f: string) => (dir === '.' ? f : `${dir}/${f}`);
      const shape = npyShape(join(rootReal, ...at('fisher-mds.npy').split('/')));
      if (!shape || shape.length !== 2 || shape[1] < 2) continue;
      index.fisher.push({
        dir, n: shape[0],
        embeddings: ['fisher-mds', 'euclidean-mds', 'tsne'].filter((e) => present.has(at(`${e}.npy`))),
        comparison: present.has(at('comparison.json')) ? at('comparison.json') : null,
        hasEdges: present.has(at('fisher-edges.npy')) || fisherGraphDir(rootReal, dir) !== null,
        hasTexts: present.has(at('points.json')),
      });
      claimed.add(rel);
    } else if (name === 'profile.json') {
      const p = readJson(join(rootReal, ...parts));
      if (isRecord(p) && Array.isArray(p.layers)) index.profiles.push({ path: rel, group: groupOf(parts), title: typeof p.title === 'string' ? p.title : 'profile' });
    }
  }
  for (const parts of files) {
    const rel = relOf(parts);
    if (claimed.has(rel)) continue;
    const name = parts[parts.length - 1];
    const lower = name.toLowerCase();
    const entry = { path: rel, group: groupOf(parts), title: titleOf(parts) };
    if (lower.endsWith('.svg') || lower.endsWith('.png')) {
      const base = rel.replace(/\.(svg|png)$/i, '');
      if (index.plots.some((p) => (p.svg ?? p.png)!.replace(/\.(svg|png)$/i, '') === base)) continue;
      const svg = present.has(base + '.svg') ? base + '.svg' : null;
      const png = present.has(base + '.png') ? base + '.png' : null;
      index.plots.push({ title: entry.title, group: entry.group, svg, png });
    } else if (lower.endsWith('.csv') || lower.endsWith('.tsv')) {
      index.tables.push(entry);
    } else if (lower.endsWith('.graphml')) {
      index.graphs.push(entry);
    } else if (lower.endsWith('.html')) {
      index.pages.push(entry);
    } else if (lower.endsWith('.json') && !present.has(rel.slice(0, -5) + '.npy')) {
      const abs = join(rootReal, ...parts);
      if (lstatSync(abs).size > MAX_SNIFF_BYTES) continue;
      const g = readJson(abs);
      if (isRecord(g) && Array.isArray(g.nodes) && (Array.isArray(g.links) || Array.isArray(g.edges))) index.graphs.push(entry);
    }
  }
  index.maps.sort((a, b) => (a.layer ?? -1) - (b.layer ?? -1) || a.method.localeCompare(b.method) || a.path.localeCompare(b.path));
  return index;
}

/**
 * The step-cache folder holding the Fisher k-NN graph of the Fisher output in `dir` (src/fisher/pipeline.ts
 * writes outputs to OUT/fisher and caches steps in OUT/cache/<step>-<key>): the newest `graphs-*` step whose
 * recorded inputs (λ, k, rule, candidates) match comparison.json. Null when none matches.
 */
export function fisherGraphDir(rootReal: string, dir: string): string | null {
  const fisherAbs = join(rootReal, ...(dir === '.' ? [] : dir.split('/')));
  const cmp = readJson(join(fisherAbs, 'comparison.json'));
  if (!isRecord(cmp)) return null;
  const cacheAbs = join(fisherAbs, '..', 'cache');
  let names: string[];
  try {
    names = readdirSync(cacheAbs).filter((n) => n.startsWith('graphs-'));
  } catch {
    return null;
  }
  let best: { dir: string; at: string } | null = null;
  for (const n of names) {
    const done = readJson(join(cacheAbs, n, 'done.json'));
    if (!isRecord(done) || !isRecord(done.inputs)) continue;
    const inp = done.inputs;
    if (inp.lambda !== cmp.lambda || inp.k !== cmp.k || inp.rule !== cmp.rule || inp.candidates !== cmp.candidates) continue;
    const indptr = npyShape(join(cacheAbs, n, 'fisher-indptr.npy'));
    if (!indptr || indptr[0] !== Number(cmp.n) + 1) continue;
    const at = String(done.finishedAt ?? '');
    if (!best || at > best.at) best = { dir: join(cacheAbs, n), at };
  }
  if (!best) return null;
  // The cache must itself be inside the root (it is a sibling of the Fisher folder, so it is unless dir is '.').
  const real = realpathSync(best.dir);
  return real.startsWith(rootReal + sep) ? real : null;
}
