/**
 * The JSON the client draws from: one map (embedding + labels + texts) or one Fisher output (embeddings,
 * ellipses, k-NN edges). The server sends these from /api/map and /api/fisher; the static report embeds the
 * same objects, so the client has one code path for both.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readNpy } from '../data/npy.ts';
import { HttpError, resolveInside } from './safe-path.ts';
import { fisherGraphDir } from './scan.ts';

export interface PointsInfo {
  labels: number[] | null;
  classNames: string[];
  texts: string[] | null;
}

export interface MapPayload extends PointsInfo {
  path: string;
  title: string;
  method: string;
  layer: number | null;
  n: number;
  k: number;
  /** Row-major n × k, rounded to 7 significant digits (float32 precision); null where a value is NaN/±Inf. */
  coords: (number | null)[];
  /** Points with a NaN/Inf coordinate: not drawn (shown as missing, with this count). */
  missing: number;
  notes: string[];
  diagnostics: Record<string, unknown>;
}

export interface FisherEllipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  angle: number;
}

export interface FisherPayload extends PointsInfo {
  dir: string;
  n: number;
  /** name → row-major n × 2 coordinates (null where NaN/±Inf). Ellipses are in fisher-mds coordinates. */
  embeddings: Record<string, (number | null)[]>;
  /** name → points with a NaN/Inf coordinate (not drawn). */
  missing: Record<string, number>;
  ellipses: FisherEllipse[];
  radius: number | null;
  /** Flat [i0, j0, i1, j1, ...] undirected Fisher k-NN edges (i < j), or null when not found. */
  edges: number[] | null;
  comparison: Record<string, unknown> | null;
  notes: string[];
}

// NaN/Inf become null (JSON has no NaN): the client leaves such points out and says how many. Drawing them at
// 0 would put a cluster of fake points at the origin.
const round7 = (v: number): number | null => (Number.isFinite(v) ? Number(v.toPrecision(7)) : null);

/** Points (rows of `cols` values) with at least one null coordinate. */
function countMissing(coords: (number | null)[], cols: number): number {
  let missing = 0;
  for (let i = 0; i < coords.length; i += cols) {
    for (let a = 0; a < cols; a++) if (coords[i + a] === null) { missing++; break; }
  }
  return missing;
}

const missingNote = (what: string, missing: number, n: number): string =>
  `${what}: ${missing} of ${n} points have NaN/Inf coordinates and are not drawn`;
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJsonFile(abs: string, rel: string): unknown {
  try {
    return JSON.parse(readFileSync(abs, 'utf8'));
  } catch (e) {
    throw new HttpError(422, `'${rel}' is not valid JSON: ${(e as Error).message}`);
  }
}

function floatMatrix(abs: string, rel: string): { rows: number; cols: number; data: ArrayLike<number> } {
  let a;
  try {
    a = readNpy(abs);
  } catch (e) {
    throw new HttpError(422, `'${rel}' cannot be read: ${(e as Error).message}`);
  }
  if (a.shape.length !== 2 || a.dtype === '<f2' || a.dtype === '<i4') throw new HttpError(422, `'${rel}' must be a 2-D float32/float64 array, got ${a.dtype} of shape (${a.shape.join(', ')})`);
  return { rows: a.shape[0], cols: a.shape[1], data: a.data };
}

/** Labels/texts/class names from a sidecar-like object, each kept only when it has one entry per point. */
function pointsInfo(meta: Record<string, unknown>, n: number, notes: string[]): PointsInfo {
  const classNames = Array.isArray(meta.classNames) ? meta.classNames.map(String) : [];
  let labels: number[] | null = Array.isArray(meta.labels) ? meta.labels.map((v) => (Number.isInteger(v) ? Number(v) : -1)) : null;
  if (labels && labels.length !== n) {
    notes.push(`labels ignored: ${labels.length} labels for ${n} points`);
    labels = null;
  }
  if (labels && labels.some((l) => l >= classNames.length)) {
    notes.push('labels ignored: a label index has no class name');
    labels = null;
  }
  let texts: string[] | null = Array.isArray(meta.texts) ? meta.texts.map(String) : null;
  if (texts && texts.length !== n) {
    notes.push(`texts ignored: ${texts.length} texts for ${n} points`);
    texts = null;
  }
  return { labels, classNames, texts };
}

/** The map whose embedding is `rel` (a .npy with a JSON sidecar that has a `method` field). */
export function mapPayload(rootReal: string, rel: string): MapPayload {
  if (!rel.endsWith('.npy')) throw new HttpError(400, `path must name a map's .npy file, got '${rel}'`);
  const abs = resolveInside(rootReal, rel);
  const sidecarRel = rel.slice(0, -4) + '.json';
  const sidecar = resolveInside(rootReal, sidecarRel, { what: 'map sidecar' });
  const meta = parseJsonFile(sidecar, sidecarRel);
  if (!isRecord(meta) || typeof meta.method !== 'string') throw new HttpError(422, `'${sidecarRel}' is not a map sidecar (no 'method' field)`);
  const m = floatMatrix(abs, rel);
  if (m.cols < 2) throw new HttpError(422, `'${rel}' has ${m.cols} column(s); a map needs at least 2`);
  const notes: string[] = [];
  const info = pointsInfo(meta, m.rows, notes);
  const coords = Array.from(m.data, round7);
  const missing = countMissing(coords, m.cols);
  if (missing) notes.push(missingNote(rel, missing, m.rows));
  return {
    path: rel, title: typeof meta.title === 'string' ? meta.title : rel, method: meta.method, layer: typeof meta.layer === 'number' ? meta.layer : null,
    n: m.rows, k: m.cols, coords, missing, notes, diagnostics: isRecord(meta.diagnostics) ? meta.diagnostics : {}, ...info,
  };
}

/** Undirected edges (i < j) of a CSR graph stored as indptr/indices .npy files. */
function csrEdges(dir: string, prefix: string, n: number): number[] {
  const indptr = readNpy(join(dir, `${prefix}-indptr.npy`)).data;
  const indices = readNpy(join(dir, `${prefix}-indices.npy`)).data;
  if (indptr.length !== n + 1) throw new HttpError(422, `cached ${prefix} graph has ${indptr.length - 1} nodes for ${n} points`);
  const out: number[] = [];
  for (let i = 0; i < n; i++) for (let o = indptr[i]; o < indptr[i + 1]; o++) if (indices[o] > i) out.push(i, indices[o]);
  return out;
}

/** The Fisher output in folder `dir` (relative; '.' for the root). */
export function fisherPayload(rootReal: string, dir: string): FisherPayload {
  const dirAbs = dir === '.' ? rootReal : resolveInside(rootReal, dir, { what: 'dir', directory: true });
  const at = (f: string) => (dir === '.' ? f : `${dir}/${f}`);
  const ellRel = at('ellipses.json');
  const ell = parseJsonFile(resolveInside(rootReal, ellRel, { what: 'ellipses' }), ellRel);
  if (!isRecord(ell) || !Array.isArray(ell.ellipses)) throw new HttpError(422, `'${ellRel}' has no 'ellipses' array`);
  const fisher = floatMatrix(resolveInside(rootReal, at('fisher-mds.npy')), at('fisher-mds.npy'));
  const n = fisher.rows;
  const notes: string[] = [];
  const embeddings: Record<string, (number | null)[]> = {};
  const missing: Record<string, number> = {};
  for (const name of ['fisher-mds', 'euclidean-mds', 'tsne']) {
    if (!existsSync(join(dirAbs, `${name}.npy`))) continue;
    const m = name === 'fisher-mds' ? fisher : floatMatrix(resolveInside(rootReal, at(`${name}.npy`)), at(`${name}.npy`));
    if (m.rows !== n || m.cols < 2) {
      notes.push(`${name} ignored: shape (${m.rows}, ${m.cols}) for ${n} points`);
      continue;
    }
    const c: (number | null)[] = new Array(n * 2);
    for (let i = 0; i < n; i++) { c[2 * i] = round7(m.data[i * m.cols]); c[2 * i + 1] = round7(m.data[i * m.cols + 1]); }
    embeddings[name] = c;
    missing[name] = countMissing(c, 2);
    if (missing[name]) notes.push(missingNote(name, missing[name], n));
  }
  const ellipses: FisherEllipse[] = ell.ellipses.flatMap((e: unknown) => {
    if (!isRecord(e)) return [];
    const v = [e.cx, e.cy, e.rx, e.ry, e.angle].map(Number);
    return v.every(Number.isFinite) ? [{ cx: v[0], cy: v[1], rx: v[2], ry: v[3], angle: v[4] }] : [];
  });
  let edges: number[] | null = null;
  const edgeFile = join(dirAbs, 'fisher-edges.npy');
  if (existsSync(edgeFile)) {
    const e = readNpy(resolveInside(rootReal, at('fisher-edges.npy')));
    if (e.shape.length === 2 && e.shape[1] === 2 && Array.from(e.data).every((v) => Number.isInteger(v) && v >= 0 && v < n)) edges = Array.from(e.data);
    else notes.push('fisher-edges.npy ignored: expected an m × 2 array of point indices');
  } else {
    const g = fisherGraphDir(rootReal, dir);
    if (g) edges = csrEdges(g, 'fisher', n);
    else notes.push('no k-NN edges found (fisher-edges.npy or the step cache next to this folder)');
  }
  let info: PointsInfo = { labels: null, classNames: [], texts: null };
  if (existsSync(join(dirAbs, 'points.json'))) {
    const p = parseJsonFile(resolveInside(rootReal, at('points.json')), at('points.json'));
    if (isRecord(p)) info = pointsInfo(p, n, notes);
  } else notes.push('no points.json: hover shows point numbers only');
  const cmpRel = at('comparison.json');
  const comparison = existsSync(join(dirAbs, 'comparison.json')) ? parseJsonFile(resolveInside(rootReal, cmpRel), cmpRel) : null;
  return {
    dir, n, embeddings, missing, ellipses, radius: typeof ell.radius === 'number' ? ell.radius : null, edges,
    comparison: isRecord(comparison) ? comparison : null, notes, ...info,
  };
}
