/**
 * Neural Region Activation Graphs (NRAGs), built as the reference tool (LLM-MRI) builds them; see
 * ../shared/spec/llm-mri.md. Two modes:
 *
 * Grid mode (2 components): node "{layer}_{x}_{y}" = a grid cell of one layer; every counted text adds 1 to the
 * edge from its cell at layer l to its cell at layer l+1 (edge attribute `level` = l). Only cells some counted
 * text falls in become nodes (networkx adds nodes with their edges), so for every pair of consecutive layers
 * the weights sum to the number of counted texts. Every edge also carries per-class counts and `label` = the
 * class that uses it most (ties: lowest class index), so edges can be coloured by label; with a category
 * selected only that class's texts count and `label` = that class.
 *
 * Spearman mode (> 2 components, one category at a time, reduced on that category's texts): node
 * "{layer}_{component}"; edge {l}_{i} → {l+1}_{j} when Spearman's ρ between component i of layer l and
 * component j of layer l+1 (across the category's texts) passes the threshold. Ranks are AVERAGE ranks (the
 * reference's double argsort breaks ties by position; with continuous reduced values there are no ties).
 * `threshold: 'signed'` (default, the reference) keeps ρ > t; 'absolute' keeps |ρ| > t. Weight = |ρ|, and
 * `rho` keeps the signed value. A constant component (ρ undefined, NaN in scipy) makes no edge.
 *
 * Two categories: the two graphs are composed as networkx.compose (the second's attributes win on shared
 * nodes/edges) and every edge gets `overlap` = whether both graphs have it.
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { averageRanks, pearson } from '../geometry/quality.ts';
import { cellId, type LayerGrid } from './grid.ts';

export interface NragNode {
  id: string;
  /** Hidden-state index (0 = embeddings). */
  layer: number;
  /** Grid mode: column (x bin) and y bin. */
  x?: number;
  y?: number;
  /** Spearman mode: component index. */
  component?: number;
  /** Grid mode: counted texts in this cell. */
  count?: number;
}

export interface NragEdge {
  source: string;
  target: string;
  /** Grid: texts making this transition; Spearman: |ρ|. */
  weight: number;
  /** Layer of the source node. */
  level: number;
  /** Class index the edge is coloured by (see module comment). Absent for unlabelled data. */
  label?: number;
  /** Grid mode: texts per class making this transition (unlabelled data: one entry). */
  counts?: number[];
  /** Spearman mode: signed correlation. */
  rho?: number;
  /** Two-category graphs: whether both categories' graphs have this edge. */
  overlap?: boolean;
}

export interface Nrag {
  mode: 'grid' | 'spearman';
  directed: true;
  /** Hidden-state indices in order; consecutive entries are linked. */
  layers: number[];
  /** Number of hidden-state arrays of the model (the reference's `layers` graph attribute). */
  nLayers: number;
  gridsize?: number;
  nComponents?: number;
  /** Spearman mode: which correlation an edge carries (see SpearmanNragInput.orientation). */
  orientation?: 'ours' | 'upstream';
  /** Class indices the graph was restricted to (empty = all texts). */
  categories: number[];
  classNames: string[];
  nodes: NragNode[];
  edges: NragEdge[];
}

export interface GridNragInput {
  /** Grid placement of every text, one entry per layer (same order as `layers`). */
  grids: LayerGrid[];
  layers: number[];
  nLayers: number;
  gridsize: number;
  /** Class index per text, or null (unlabelled). */
  labels: readonly number[] | null;
  classNames: string[];
  /** At most two class indices; empty = all texts. */
  categories?: number[];
}

/** Validates a category list against the classes (at most two, known, distinct). */
export function checkCategories(categories: readonly number[], classNames: readonly string[], labelled: boolean): void {
  if (categories.length > 2) throw new AtlasError(`at most two categories can be compared at once, got ${categories.length}`, { field: 'labels' });
  if (categories.length && !labelled) throw new AtlasError('the dataset has no labels, so no category can be selected', { field: 'labels' });
  for (const c of categories) {
    if (!Number.isInteger(c) || c < 0 || c >= classNames.length) {
      throw new AtlasError(`unknown category ${c}`, { field: 'labels', hint: `categories: ${classNames.map((n, i) => `${i}=${n}`).join(', ')}` });
    }
  }
  if (categories.length === 2 && categories[0] === categories[1]) throw new AtlasError('the two categories are the same', { field: 'labels' });
}

/** Grid NRAG of all texts, of one category, or of two categories composed. */
export function buildGridNrag(input: GridNragInput): Nrag {
  const categories = input.categories ?? [];
  checkCategories(categories, input.classNames, input.labels !== null);
  if (input.grids.length !== input.layers.length) throw new AtlasError(`${input.grids.length} layer grids for ${input.layers.length} layers`, { field: 'grids' });
  const base = { mode: 'grid' as const, directed: true as const, layers: input.layers, nLayers: input.nLayers, gridsize: input.gridsize, categories, classNames: input.classNames };
  if (categories.length === 2) {
    const a = gridGraph(input, categories[0]!);
    const b = gridGraph(input, categories[1]!);
    return { ...base, ...compose(a, b) };
  }
  return { ...base, ...gridGraph(input, categories[0]) };
}

function gridGraph(input: GridNragInput, category: number | undefined): { nodes: NragNode[]; edges: NragEdge[] } {
  const { grids, layers, labels } = input;
  const n = grids[0]?.x.length ?? 0;
  const nClasses = labels ? Math.max(1, input.classNames.length) : 1;
  const nodes = new Map<string, NragNode>();
  const edges = new Map<string, NragEdge>();
  const counted = (i: number): boolean => category === undefined || labels![i] === category;
  for (let li = 0; li < layers.length; li++) {
    const g = grids[li]!;
    for (let i = 0; i < n; i++) {
      if (!counted(i)) continue;
      const id = cellId(layers[li]!, g.x[i]!, g.y[i]!);
      const node = nodes.get(id);
      if (node) node.count!++;
      else nodes.set(id, { id, layer: layers[li]!, x: g.x[i]!, y: g.y[i]!, count: 1 });
    }
  }
  for (let li = 0; li + 1 < layers.length; li++) {
    const g0 = grids[li]!;
    const g1 = grids[li + 1]!;
    for (let i = 0; i < n; i++) {
      if (!counted(i)) continue;
      const s = cellId(layers[li]!, g0.x[i]!, g0.y[i]!);
      const t = cellId(layers[li + 1]!, g1.x[i]!, g1.y[i]!);
      const key = `${s}>${t}`;
      let e = edges.get(key);
      if (!e) {
        e = { source: s, target: t, weight: 0, level: layers[li]!, counts: new Array<number>(nClasses).fill(0) };
        edges.set(key, e);
      }
      e.weight++;
      e.counts![labels ? labels[i]! : 0]!++;
    }
  }
  for (const e of edges.values()) {
    if (!labels) continue;
    if (category !== undefined) e.label = category;
    else {
      let best = 0;
      e.counts!.forEach((c, k) => {
        if (c > e.counts![best]!) best = k;
      });
      e.label = best;
    }
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

/** networkx.compose(a, b): union; b's attributes win on shared nodes and edges; `overlap` marks shared edges. */
function compose(a: { nodes: NragNode[]; edges: NragEdge[] }, b: { nodes: NragNode[]; edges: NragEdge[] }): { nodes: NragNode[]; edges: NragEdge[] } {
  const nodes = new Map<string, NragNode>();
  for (const x of a.nodes) nodes.set(x.id, x);
  for (const x of b.nodes) nodes.set(x.id, { ...nodes.get(x.id), ...x });
  const edges = new Map<string, NragEdge>();
  for (const e of a.edges) edges.set(`${e.source}>${e.target}`, { ...e, overlap: false });
  for (const e of b.edges) {
    const key = `${e.source}>${e.target}`;
    edges.set(key, { ...edges.get(key), ...e, overlap: edges.has(key) });
  }
  return { nodes: [...nodes.values()], edges: [...edges.values()] };
}

export interface SpearmanNragInput {
  /**
   * Per category (one or two entries): the category's reduced activations, one n_c × k matrix per layer (same
   * order as `layers`), reduced on that category's texts only. category null = all texts (one entry only; an
   * extension: the reference always selects a category).
   */
  reduced: { category: number | null; layers: Matrix[] }[];
  layers: number[];
  nLayers: number;
  classNames: string[];
  /** Default 0.3 (the reference's). */
  threshold?: number;
  /** 'signed' (default, reference): ρ > threshold; 'absolute': |ρ| > threshold. */
  thresholdMode?: 'signed' | 'absolute';
  /** 'ours' (default): edge i → j carries ρ(l_i, (l+1)_j); 'upstream': the reference's transposed ρ(l_j, (l+1)_i). */
  orientation?: 'ours' | 'upstream';
}

/** Spearman NRAG of one category, or of two composed. */
export function buildSpearmanNrag(input: SpearmanNragInput): Nrag {
  const threshold = input.threshold ?? 0.3;
  const mode = input.thresholdMode ?? 'signed';
  if (!Number.isFinite(threshold)) throw new AtlasError(`threshold must be a finite number, got ${threshold}`, { field: 'threshold' });
  if (input.reduced.length === 0 || input.reduced.length > 2) throw new AtlasError(`the Spearman NRAG takes one or two categories, got ${input.reduced.length}`, { field: 'labels' });
  if (input.reduced.length === 2 && input.reduced.some((r) => r.category === null)) throw new AtlasError('two-category Spearman NRAGs need two named categories', { field: 'labels' });
  const categories = input.reduced.flatMap((r) => (r.category === null ? [] : [r.category]));
  checkCategories(categories, input.classNames, true);
  const graphs = input.reduced.map((r) => spearmanGraph(r.category, r.layers, input.layers, threshold, mode, input.orientation ?? 'ours'));
  const k = input.reduced[0]!.layers[0]!.cols;
  const g = graphs.length === 2 ? compose(graphs[0]!, graphs[1]!) : graphs[0]!;
  return { mode: 'spearman', directed: true, layers: input.layers, nLayers: input.nLayers, nComponents: k, categories, classNames: input.classNames, orientation: input.orientation ?? 'ours', ...g };
}

function spearmanGraph(category: number | null, reduced: Matrix[], layers: number[], threshold: number, mode: 'signed' | 'absolute', orientation: 'ours' | 'upstream'): { nodes: NragNode[]; edges: NragEdge[] } {
  if (reduced.length !== layers.length) throw new AtlasError(`${reduced.length} reduced layers for ${layers.length} layers`, { field: 'reduced' });
  const n = reduced[0]!.rows;
  if (n < 3) throw new AtlasError(`category ${category ?? 'all'} has ${n} texts; Spearman correlations need at least 3`, { field: 'labels' });
  // Average ranks of every component of every layer, computed once.
  const ranks = reduced.map((m) => {
    if (m.rows !== n) throw new AtlasError(`layer matrices of category ${category ?? 'all'} have different row counts`, { field: 'reduced' });
    return Array.from({ length: m.cols }, (_, c) => {
      const col = new Float64Array(n);
      for (let i = 0; i < n; i++) col[i] = m.data[i * m.cols + c]!;
      return averageRanks(col);
    });
  });
  const nodes: NragNode[] = [];
  const edges: NragEdge[] = [];
  layers.forEach((layer, li) => ranks[li]!.forEach((_, c) => nodes.push({ id: `${layer}_${c}`, layer, component: c })));
  for (let li = 0; li + 1 < layers.length; li++) {
    ranks[li]!.forEach((_ra, i) => {
      ranks[li + 1]!.forEach((_rb, j) => {
        // 'upstream': the reference's edge i → j carries the transposed entry ρ(l_j, (l+1)_i) (its correlation
        // matrix is indexed the other way round); 'ours': ρ(l_i, (l+1)_j). Equal when both layers share a basis.
        const [a, b] = orientation === 'upstream' ? [j, i] : [i, j];
        const ra = ranks[li]![a], rb = ranks[li + 1]![b];
        if (!ra || !rb) return;
        let rho: number;
        try {
          rho = pearson(ra, rb);
        } catch {
          return; // a constant component: ρ undefined (NaN in scipy), which passes no threshold
        }
        const pass = mode === 'signed' ? rho > threshold : Math.abs(rho) > threshold;
        if (pass) {
          const e: NragEdge = { source: `${layers[li]}_${i}`, target: `${layers[li + 1]}_${j}`, weight: Math.abs(rho), rho, level: layers[li]! };
          if (category !== null) e.label = category;
          edges.push(e);
        }
      });
    });
  }
  return { nodes, edges };
}
