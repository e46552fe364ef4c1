/**
 * Grid binning of 2-D reduced activations, exactly as the reference tool does it with `pandas.cut(v, bins=g,
 * labels=False)` on each axis of each layer separately:
 *   edges = linspace(min, max, g + 1) (numpy: e_i = min + i·(max − min)/g, last edge = max exactly), then the
 *   first edge is lowered by 0.1 % of the range so the minimum falls in bin 0; bins are right-closed
 *   (e_i, e_{i+1}], i.e. bin = (number of edges strictly below v) − 1.
 *   A constant axis (min = max) gets edges linspace(min − 0.001·|min|, max + 0.001·|max|) (±0.001 when 0).
 * Cell id = "{layer}_{xbin}_{ybin}".
 */
import { AtlasError } from '../errors.ts';
import type { Matrix } from '../geometry/matrix.ts';

/** Checks gridsize is a positive integer (the error the CLI and API share). */
export function checkGridsize(gridsize: number): void {
  if (!Number.isInteger(gridsize) || gridsize < 1) {
    throw new AtlasError(`gridsize must be a positive integer, got ${gridsize}`, { field: 'gridsize', hint: 'the reference tool uses 10 (a 10 × 10 grid per layer)' });
  }
}

/** Bin edges of pandas.cut(values, bins=nbins) (right-closed). */
export function cutEdges(values: ArrayLike<number>, nbins: number): Float64Array {
  checkGridsize(nbins);
  if (values.length === 0) throw new AtlasError('cannot bin an empty set of values', { field: 'values' });
  let mn = Infinity;
  let mx = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (!Number.isFinite(v)) throw new AtlasError(`value ${i} is ${v}; reduced coordinates must be finite`, { field: 'values' });
    if (v < mn) mn = v;
    if (v > mx) mx = v;
  }
  if (mn === mx) {
    mn -= mn !== 0 ? 0.001 * Math.abs(mn) : 0.001;
    mx += mx !== 0 ? 0.001 * Math.abs(mx) : 0.001;
    return linspace(mn, mx, nbins + 1);
  }
  const edges = linspace(mn, mx, nbins + 1);
  edges[0] = edges[0]! - (mx - mn) * 0.001;
  return edges;
}

/** numpy.linspace(start, stop, num) with endpoint: start + i·step, and the last value exactly stop. */
function linspace(start: number, stop: number, num: number): Float64Array {
  const out = new Float64Array(num);
  const step = (stop - start) / (num - 1);
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  out[num - 1] = stop;
  return out;
}

/** Bin index of every value: searchsorted(edges, v, side='left') − 1, clamped to [0, nbins − 1]. */
export function cut(values: ArrayLike<number>, nbins: number): { bins: Int32Array; edges: Float64Array } {
  const edges = cutEdges(values, nbins);
  const bins = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    let lo = 0;
    let hi = edges.length; // first index with edges[idx] >= v
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (edges[mid]! < v) lo = mid + 1;
      else hi = mid;
    }
    // Every value lies in (edges[0], edges[nbins]], so lo is in 1..nbins; the clamp only guards rounding.
    bins[i] = Math.min(nbins - 1, Math.max(0, lo - 1));
  }
  return { bins, edges };
}

/** One layer's texts placed on the grid. */
export interface LayerGrid {
  /** X bin (column) of each text. */
  x: Int32Array;
  /** Y bin of each text (bin 0 = lowest values). */
  y: Int32Array;
  xEdges: Float64Array;
  yEdges: Float64Array;
}

/** Bins the two columns of an n × 2 matrix separately into gridsize bins each. */
export function gridLayer(coords: Matrix, gridsize: number): LayerGrid {
  if (coords.cols !== 2) throw new AtlasError(`grid mode needs 2 reduced components, got ${coords.cols}`, { field: 'nComponents', hint: 'use --components 2 for heatmaps and the grid NRAG' });
  const xs = new Float64Array(coords.rows);
  const ys = new Float64Array(coords.rows);
  for (let i = 0; i < coords.rows; i++) {
    xs[i] = coords.data[2 * i]!;
    ys[i] = coords.data[2 * i + 1]!;
  }
  const cx = cut(xs, gridsize);
  const cy = cut(ys, gridsize);
  return { x: cx.bins, y: cy.bins, xEdges: cx.edges, yEdges: cy.edges };
}

export function cellId(layer: number, x: number, y: number): string {
  return `${layer}_${x}_${y}`;
}

/**
 * Heatmap counts: counts[r][c] = number of selected texts with xbin = c and ybin = gridsize − 1 − r (Y bins
 * descending from the top row, as the reference's get_grid). `select(i)` chooses the texts (default: all).
 */
export function gridCounts(grid: LayerGrid, gridsize: number, select: (i: number) => boolean = () => true): number[][] {
  const counts = Array.from({ length: gridsize }, () => new Array<number>(gridsize).fill(0));
  for (let i = 0; i < grid.x.length; i++) {
    if (!select(i)) continue;
    counts[gridsize - 1 - grid.y[i]!]![grid.x[i]!]!++;
  }
  return counts;
}
