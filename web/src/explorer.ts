/**
 * The Layers tab: follows texts through the layers of a run over a layers bundle (src/geometry/layer-bundle.ts,
 * written by `latent-atlas map --align` or `serve --activations`). A slider picks the layer and the points glide
 * to their new places (interpolated over ANIMATION_MS); a substring search highlights the matching texts; a
 * click on a point lists its k nearest neighbours in that layer's ORIGINAL space (stored offline in the bundle)
 * and highlights them; shift-drag selects a box. Points are coloured by label, by any per-point column
 * (numbers → viridis, strings → palette) or by a per-layer column such as the logit lens's entropy or top
 * token, whose colours follow the slider (one scale / one palette over every layer, so layers compare).
 *
 * One Explorer per run: the tab shows one, or two side by side (web/src/layers-pair.ts links them). Element ids
 * carry the explorer's prefix ('layers' for the first run, 'layers-b' for the second).
 * Test hooks: #<prefix>-plot[data-layer] (the layer drawn once the animation ends; data-animating while it
 * runs), [data-highlight] (number of highlighted points), [data-point] (clicked point), [data-colour]
 * (colouring in use), #<prefix>-search-count, #<prefix>-neighbours li[data-index], window.atlas.layers (the
 * ScatterGL), window.atlas.explorer.pointColours() (the RGB of every point as sent to the colour buffer).
 */
import { categoricalColors } from '../../src/plot/palette.ts';
import { colormapRgb } from '../../src/plot/colormap.ts';
import { ScatterGL, type ScatterData } from './scatter-gl.ts';
import type { DataSource, LayersPayload } from './data.ts';
import type { AtlasIndex } from './data.ts';

export const ANIMATION_MS = 450;
const NUMERIC_BINS = 64;
/** Distinct values of a text column that get their own colour; the rest share 'other'. */
const MAX_CATEGORIES = 19;
const OTHER_COLOUR = '#b0b0b0';
const NEIGHBOURS_HINT = 'Click a point to list its nearest neighbours in this layer\'s original space (shift-drag: select a box).';

const hexToRgb = (hex: string): [number, number, number] => [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16) / 255) as [number, number, number];

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

export interface Colouring {
  labels: Int32Array;
  palette: [number, number, number][];
  legend: { name: string; colour: string }[];
}

const isNum = (v: unknown) => typeof v === 'number';

/** Numbers on viridis over [lo, hi] of `range` (all layers of a per-layer column); null/NaN → unlabelled grey. */
function numericColouring(values: readonly (number | null)[], range: Iterable<number | null>): Colouring {
  let lo = Infinity, hi = -Infinity;
  for (const x of range) if (x !== null && Number.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
  const span = hi > lo ? hi - lo : 1;
  const labels = Int32Array.from(values, (x) => (x !== null && Number.isFinite(x) ? Math.max(0, Math.min(NUMERIC_BINS - 1, Math.floor(((x - lo) / span) * NUMERIC_BINS))) : -1));
  const palette = Array.from({ length: NUMERIC_BINS }, (_, b) => colormapRgb('viridis', (b + 0.5) / NUMERIC_BINS).map((c) => c / 255) as [number, number, number]);
  const hex = (t: number) => `rgb(${colormapRgb('viridis', t).map(Math.round).join(',')})`;
  const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(3) : '–');
  return { labels, palette, legend: [{ name: `${fmt(lo)} (low)`, colour: hex(0) }, { name: fmt((lo + hi) / 2), colour: hex(0.5) }, { name: `${fmt(hi)} (high)`, colour: hex(1) }] };
}

/** Strings on a palette: the MAX_CATEGORIES most frequent values of `range` get a colour, the rest 'other'. */
function categoricalColouring(values: readonly (string | null)[], range: Iterable<string | null>): Colouring {
  const counts = new Map<string, number>();
  for (const v of range) if (v !== null && v !== undefined) counts.set(String(v), (counts.get(String(v)) ?? 0) + 1);
  const ranked = [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([v]) => v);
  const kept = ranked.slice(0, ranked.length > MAX_CATEGORIES + 1 ? MAX_CATEGORIES : ranked.length);
  const pal = categoricalColors(Math.max(1, kept.length));
  const of = new Map(kept.map((s, k) => [s, k]));
  const other = kept.length < ranked.length;
  const labels = Int32Array.from(values, (s) => (s === null || s === undefined ? -1 : of.get(String(s)) ?? kept.length));
  const palette = [...pal.map(hexToRgb), hexToRgb(OTHER_COLOUR)];
  const legend = [...kept.map((name, k) => ({ name, colour: pal[k] })), ...(other ? [{ name: `other (${ranked.length - kept.length} values)`, colour: OTHER_COLOUR }] : [])];
  return { labels, palette, legend };
}

/** Class index per point and the palette for a colouring ('label', 'none', a column or a per-layer column at layer index `layerIdx`). */
export function colouring(p: LayersPayload, by: string, layerIdx = 0): Colouring {
  const n = p.n;
  if (by === 'label' && p.classNames.length) {
    const pal = categoricalColors(p.classNames.length);
    return { labels: Int32Array.from(p.labels), palette: pal.map(hexToRgb), legend: p.classNames.map((name, k) => ({ name, colour: pal[k] })) };
  }
  const lc = p.layerColumns?.[by];
  if (lc) {
    const here = lc[Math.max(0, Math.min(lc.length - 1, layerIdx))] as (number | string | null)[];
    const all = (lc as (number | string | null)[][]).flat();
    return all.some(isNum) || all.every((v) => v === null)
      ? numericColouring(here as (number | null)[], all as (number | null)[])
      : categoricalColouring(here as (string | null)[], all as (string | null)[]);
  }
  const col = p.columns[by];
  if (!col) return { labels: new Int32Array(n), palette: [hexToRgb('#1f77b4')], legend: [{ name: 'all points', colour: '#1f77b4' }] };
  if ((col as unknown[]).some(isNum) || col.every((v) => v === null)) return numericColouring(col as (number | null)[], col as (number | null)[]);
  return categoricalColouring(col as string[], col as string[]);
}

/** A point's text; activations brought without texts show their row number. */
const textOf = (p: LayersPayload, i: number): string => p.texts[i] || `(row ${i}, no text)`;

const UNLABELLED_RGB: [number, number, number] = [0.45, 0.45, 0.45];

/** What one explorer tells the other (layers-pair.ts): layer moves (relative depth) and highlights. */
export interface ExplorerPeer {
  /** Layer index moved to `frac` ∈ [0, 1] of the depth. */
  layerMoved(frac: number): void;
  /** Highlight set changed (null: cleared); `point` is the clicked point, if any. */
  highlighted(indices: number[] | null, point: number | null): void;
  /** This side's clicked point has new neighbours (its layer moved): the other side re-marks the shared ones. */
  refresh(): void;
}

export interface ExplorerOptions {
  /** Prefix of every element id ('layers' for the first run). */
  prefix: string;
  /** The bundle to open first. */
  initial?: string;
  /** A caption above the controls (the side-by-side view names its runs). */
  caption?: string;
}

export class Explorer {
  readonly scatter: ScatterGL;
  readonly prefix: string;
  private p: LayersPayload | null = null;
  private layerIdx = 0;
  /** Coordinates drawn right now (n × dim), the start of the next animation. */
  private drawn: Float32Array = new Float32Array(0);
  private colour: Colouring = { labels: new Int32Array(0), palette: [], legend: [] };
  private colourBy = 'label';
  private highlight: number[] | null = null;
  private anim = 0;
  private readonly plot: HTMLElement;
  /** The linked explorer's side, when two runs are shown side by side. */
  peer: ExplorerPeer | null = null;
  /** The other run's neighbours of the clicked point (to mark those both runs share); null when none. */
  peerNeighbours: (() => number[] | null) | null = null;
  /** The second run shown beside this one (set by layers-pair.ts), for tests. */
  beside: Explorer | null = null;
  /** Called after every load (the pair checks the texts). */
  onLoad: (() => void) | null = null;

  constructor(private src: DataSource, bundles: AtlasIndex['layerBundles'], readonly root: HTMLElement, o: ExplorerOptions) {
    this.prefix = o.prefix;
    const id = (s: string) => `${o.prefix}-${s}`;
    const first = bundles.find((b) => b.dir === o.initial) ?? bundles[0];
    root.append(
      ...(o.caption ? [h('div', { class: 'pane-caption', id: id('caption') }, o.caption)] : []),
      h('div', { class: 'controls' },
        h('label', {}, 'Bundle ', h('select', { id: id('bundle') }, ...bundles.map((b) => h('option', { value: b.dir }, `${b.dir === '.' ? '(top folder)' : b.dir} · ${b.method.toUpperCase()}`)))),
        h('label', {}, 'Layer ', h('input', { id: id('slider'), type: 'range', min: '0', max: '0', step: '1', value: '0' }), h('span', { id: id('label') })),
        h('label', {}, 'Search ', h('input', { id: id('search'), type: 'search', placeholder: 'substring of the texts' }), h('span', { id: id('search-count'), class: 'hint' })),
        h('label', {}, 'Colour ', h('select', { id: id('colour') })),
        h('button', { id: id('fit') }, 'Fit')),
      // A fixed-height view (the aside scrolls), so a long legend or profile never pushes the plot off screen.
      h('div', { class: 'view layers-view' },
        h('div', { id: id('plot'), class: 'plot-host' }),
        h('aside', { style: 'overflow-y:auto' }, h('div', { id: id('info'), class: 'info' }), h('h3', {}, 'Colours'), h('div', { id: id('legend'), class: 'legend' }),
          h('div', { id: id('links') }), h('h3', {}, 'Nearest neighbours'), h('div', { id: id('neighbours'), class: 'selection' }, h('p', { class: 'hint' }, NEIGHBOURS_HINT)))),
    );
    this.el<HTMLSelectElement>('bundle').value = first.dir;
    this.plot = this.el('plot');
    this.scatter = new ScatterGL(this.plot, { onHover: (i, x, y) => this.hover(i, x, y), onSelect: (sel) => this.setHighlight(sel.length ? sel : null) });
    this.el<HTMLSelectElement>('bundle').addEventListener('change', (e) => void this.load((e.target as HTMLSelectElement).value));
    this.el<HTMLInputElement>('slider').addEventListener('input', (e) => this.setLayer(Number((e.target as HTMLInputElement).value)));
    this.el<HTMLInputElement>('search').addEventListener('input', (e) => this.search((e.target as HTMLInputElement).value));
    this.el<HTMLSelectElement>('colour').addEventListener('change', (e) => this.setColour((e.target as HTMLSelectElement).value));
    this.el('fit').addEventListener('click', () => this.scatter.fit());
    // A click (not a drag) on a point lists its neighbours.
    let down: [number, number] | null = null;
    this.plot.addEventListener('pointerdown', (e) => { down = [e.clientX, e.clientY]; });
    this.plot.addEventListener('click', (e) => {
      if (!down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4 || e.shiftKey) return;
      const r = this.plot.querySelector('canvas')!.getBoundingClientRect();
      this.showNeighbours(this.scatter.pick(e.clientX - r.left, e.clientY - r.top));
    });
  }

  el<T extends HTMLElement = HTMLElement>(name: string): T {
    return this.root.querySelector(`#${this.prefix}-${name}`) as T;
  }

  get payload(): LayersPayload | null { return this.p; }
  get layerIndex(): number { return this.layerIdx; }

  /** Moves the slider to layer number `layer` when the bundle has it; false otherwise. */
  goToLayer(layer: number): boolean {
    const idx = this.p?.layers.indexOf(layer) ?? -1;
    if (idx < 0) return false;
    this.setLayer(idx);
    return true;
  }

  async start(): Promise<void> {
    await this.load(this.el<HTMLSelectElement>('bundle').value);
  }

  private get dim(): 2 | 3 { return this.p!.dim === 3 ? 3 : 2; }

  private layerCoords(l: number): Float32Array {
    const p = this.p!, size = p.n * p.dim;
    return Float32Array.from(p.coords.slice(l * size, (l + 1) * size));
  }

  async load(dir: string): Promise<void> {
    const p = await this.src.layers(dir);
    this.p = p;
    this.el<HTMLSelectElement>('bundle').value = dir;
    const slider = this.el<HTMLInputElement>('slider');
    slider.max = String(p.layers.length - 1);
    slider.value = '0';
    const colSel = this.el<HTMLSelectElement>('colour');
    const layerCols = Object.keys(p.layerColumns ?? {});
    colSel.replaceChildren(...(p.classNames.length ? [h('option', { value: 'label' }, 'by label')] : []), h('option', { value: 'none' }, 'single'),
      ...layerCols.map((c) => h('option', { value: c }, `${c} (per layer)`)),
      ...Object.keys(p.columns).filter((c) => !layerCols.includes(c)).map((c) => h('option', { value: c }, `${c}${typeof p.columns[c][0] === 'number' ? ' (numeric)' : ''}`)));
    if ([...colSel.options].some((o) => o.value === this.colourBy)) colSel.value = this.colourBy;
    this.el('info').replaceChildren(h('b', {}, p.title), h('br'), `${p.n} points · ${p.layers.length} layers · ${p.method.toUpperCase()} · k = ${p.k}`,
      ...(layerCols.length ? [h('div', { class: 'hint' }, `per-layer colours: ${layerCols.join(', ')}`)] : []),
      ...p.notes.map((n) => h('p', { class: 'hint' }, n)));
    this.layerIdx = 0;
    this.drawn = this.layerCoords(0);
    this.highlight = null;
    delete this.plot.dataset.point;
    this.setColour(colSel.value, false);
    // Fit the view to every layer at once (2nd to 98th percentile per axis, so a few outlying texts do not
    // shrink the picture), so the slider rarely moves points out of the frame.
    const corners = new Float32Array(2 * p.dim);
    for (let a = 0; a < p.dim; a++) {
      const v = Float32Array.from({ length: p.n * p.layers.length }, (_, i) => p.coords[i * p.dim + a]).filter(Number.isFinite).sort();
      corners[a] = v[Math.floor(0.02 * (v.length - 1))] ?? 0;
      corners[p.dim + a] = v[Math.ceil(0.98 * (v.length - 1))] ?? 1;
    }
    this.scatter.setData({ n: 2, dim: this.dim, coords: corners, labels: new Int32Array(2), palette: [[0, 0, 0]] }, true);
    const q = this.el<HTMLInputElement>('search').value;
    if (q.trim()) this.search(q);
    this.finishLayer();
    this.onLoad?.();
  }

  private paint(resetView = false): void {
    const p = this.p!;
    const d: ScatterData = { n: p.n, dim: this.dim, coords: this.drawn, labels: this.colour.labels, palette: this.colour.palette };
    this.scatter.setData(d, resetView);
    if (this.highlight) this.scatter.setSelection(this.highlight);
    this.plot.dataset.highlight = String(this.highlight?.length ?? 0);
  }

  /** The RGB (0..1) of every point as sent to the colour buffer (a test hook; grey for missing values). */
  pointColours(): [number, number, number][] {
    const c = this.colour;
    return Array.from(c.labels, (l) => (l >= 0 ? c.palette[l % c.palette.length] : UNLABELLED_RGB));
  }

  setColour(by: string, draw = true): void {
    this.colourBy = by;
    this.el<HTMLSelectElement>('colour').value = by;
    this.recolour();
    if (draw) this.paint();
  }

  private recolour(): void {
    const c = colouring(this.p!, this.colourBy, this.layerIdx);
    this.colour = c;
    this.plot.dataset.colour = this.colourBy;
    const perLayer = this.p!.layerColumns?.[this.colourBy] !== undefined;
    this.el('legend').replaceChildren(...(perLayer ? [h('div', { class: 'hint' }, `at layer ${this.p!.layers[this.layerIdx]} (colours shared by all layers)`)] : []),
      ...c.legend.map((e) => h('div', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${e.colour}` }), e.name)));
  }

  /** Moves to layer index `l`, gliding from the coordinates drawn now; tells the peer unless `fromPeer`. */
  setLayer(l: number, fromPeer = false): void {
    const p = this.p;
    if (!p || !(l >= 0 && l < p.layers.length)) return;
    this.el<HTMLInputElement>('slider').value = String(l);
    this.layerIdx = l;
    if (p.layerColumns?.[this.colourBy]) this.recolour(); // the colour follows the slider
    if (!fromPeer) this.peer?.layerMoved(p.layers.length > 1 ? l / (p.layers.length - 1) : 0);
    const from = this.drawn.slice(), to = this.layerCoords(l);
    const id = ++this.anim;
    const t0 = performance.now();
    this.plot.dataset.animating = '1';
    const step = (now: number) => {
      if (id !== this.anim) return;
      const t = Math.min(1, (now - t0) / ANIMATION_MS);
      const e = t * t * (3 - 2 * t); // smoothstep
      for (let i = 0; i < to.length; i++) this.drawn[i] = from[i] + (to[i] - from[i]) * e;
      this.paint();
      if (t < 1) requestAnimationFrame(step);
      else this.finishLayer();
    };
    requestAnimationFrame(step);
  }

  /** The layer index at relative depth `frac` (the peer's slider moved). */
  followDepth(frac: number): void {
    const p = this.p;
    if (!p) return;
    const l = Math.round(frac * (p.layers.length - 1));
    if (l !== this.layerIdx) this.setLayer(l, true);
  }

  private finishLayer(): void {
    const p = this.p!;
    this.drawn = this.layerCoords(this.layerIdx);
    this.paint();
    delete this.plot.dataset.animating;
    this.plot.dataset.layer = String(p.layers[this.layerIdx]);
    this.el('label').textContent = ` layer ${p.layers[this.layerIdx]}${p.layers.length > 1 ? ` (${Math.round((100 * this.layerIdx) / (p.layers.length - 1))}% depth)` : ''}`;
    const sel = this.plot.dataset.point;
    if (sel !== undefined) { this.showNeighbours(Number(sel), true); this.peer?.refresh(); }
  }

  /** Highlights `indices` (a box selection here, or whatever the peer highlighted). */
  setHighlight(indices: number[] | null, fromPeer = false, point: number | null = null): void {
    if (!this.p) return;
    if (fromPeer && point !== null) { this.showNeighbours(point, true); return; }
    this.highlight = indices;
    if (this.plot.dataset.point !== undefined) {
      delete this.plot.dataset.point;
      this.el('neighbours').replaceChildren(h('p', { class: 'hint' }, NEIGHBOURS_HINT));
    }
    if (!fromPeer) this.peer?.highlighted(indices, null);
    this.paint();
  }

  /** Highlights the texts containing `q` (case-insensitive); the peer highlights the same texts. */
  search(q: string): void {
    const p = this.p;
    if (!p) return;
    const needle = q.trim().toLowerCase();
    const box = this.el('search-count');
    if (!needle) { box.textContent = ''; this.setHighlight(null); return; }
    const hits = p.texts.flatMap((t, i) => (t.toLowerCase().includes(needle) ? [i] : []));
    box.textContent = ` ${hits.length} match${hits.length === 1 ? '' : 'es'}`;
    this.setHighlight(hits);
  }

  /** Point i's k nearest neighbours at the current layer (original space). */
  neighboursOf(i: number): number[] {
    const p = this.p!;
    const off = (this.layerIdx * p.n + i) * p.k;
    return p.knn.slice(off, off + p.k);
  }

  /** The clicked point's current neighbours, or null when no point is clicked. */
  currentNeighbours(): number[] | null {
    const s = this.plot.dataset.point;
    return s === undefined || !this.p ? null : this.neighboursOf(Number(s));
  }

  /** Lists (and highlights) point i's k nearest neighbours at the current layer; null clears. */
  showNeighbours(i: number | null, fromPeer = false): void {
    const p = this.p!;
    const box = this.el('neighbours');
    if (i === null || !(i >= 0 && i < p.n)) {
      delete this.plot.dataset.point;
      this.highlight = null;
      box.replaceChildren(h('p', { class: 'hint' }, NEIGHBOURS_HINT));
      if (!fromPeer) this.peer?.highlighted(null, null);
      this.paint();
      return;
    }
    const nn = this.neighboursOf(i);
    this.plot.dataset.point = String(i);
    this.highlight = [i, ...nn];
    if (!fromPeer) this.peer?.highlighted(this.highlight, i);
    this.renderNeighbours();
    this.paint();
  }

  /** The neighbour list of the clicked point, marking those the other run shares (called again when the peer moves). */
  renderNeighbours(): void {
    const s = this.plot.dataset.point;
    if (s === undefined || !this.p) return;
    const p = this.p, i = Number(s);
    const nn = this.neighboursOf(i);
    const other = this.peerNeighbours?.() ?? null;
    const shared = other ? new Set(other.filter((j) => nn.includes(j))) : null;
    const name = (j: number) => (p.labels[j] >= 0 && p.classNames[p.labels[j]] ? `${p.classNames[p.labels[j]]}: ` : '');
    this.el('neighbours').replaceChildren(
      h('p', { class: 'sel-count' }, h('b', {}, `#${i} `), name(i), textOf(p, i)),
      h('p', { class: 'hint' }, `${p.k} nearest in the original space of layer ${p.layers[this.layerIdx]}:`),
      ...(shared ? [h('p', { class: 'hint', id: `${this.prefix}-shared`, 'data-shared': String(shared.size) }, `${shared.size} of ${p.k} also among the other run's neighbours (bold)`)] : []),
      h('ol', { class: 'sel-list' }, ...nn.map((j) => h('li', { 'data-index': String(j), ...(shared?.has(j) ? { class: 'shared', style: 'font-weight:bold' } : {}) }, h('b', {}, name(j)), textOf(p, j)))),
    );
  }

  private hover(i: number | null, x: number, y: number): void {
    const tip = document.getElementById('tooltip')!;
    if (i === null || !this.p) { tip.hidden = true; return; }
    const p = this.p;
    const fmt = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(3)) : v === null || v === undefined ? '–' : JSON.stringify(v));
    const perLayer = Object.entries(p.layerColumns ?? {}).map(([name, col]) => h('div', { class: 'hint', style: 'color:#c5cdd6' }, `${name}: ${fmt(col[this.layerIdx]?.[i])}`));
    tip.replaceChildren(h('b', {}, p.labels[i] >= 0 ? p.classNames[p.labels[i]] ?? `point ${i}` : `point ${i}`), h('div', { class: 'tip-text' }, textOf(p, i)), ...perLayer);
    tip.hidden = false;
    tip.style.left = `${Math.min(x + 14, window.innerWidth - tip.offsetWidth - 8)}px`;
    tip.style.top = `${Math.min(y + 14, window.innerHeight - tip.offsetHeight - 8)}px`;
  }
}
