/**
 * The Layers tab: follows texts through the layers of a run over a layers bundle (src/geometry/layer-bundle.ts,
 * written by `latent-atlas map --align`). A slider picks the layer and the points glide to their new places
 * (interpolated over ANIMATION_MS); a substring search highlights the matching texts; a click on a point lists
 * its k nearest neighbours in that layer's ORIGINAL space (stored offline in the bundle) and highlights them;
 * points are coloured by label, or by any per-point column (numbers → viridis, strings → palette).
 *
 * The tab builds its own DOM (a nav button and a section) so main.ts only calls initExplorer and redraws it.
 * Test hooks: #layers-plot[data-layer] (the layer drawn once the animation ends; data-animating while it
 * runs), [data-highlight] (number of highlighted points), [data-colour] (colouring in use),
 * #layers-search-count, #layers-neighbours li[data-index], window.atlas.layers (the ScatterGL).
 */
import { categoricalColors } from '../../src/plot/palette.ts';
import { colormapRgb } from '../../src/plot/colormap.ts';
import { renderLayerLinks } from './layer-links.ts';
import { ScatterGL, type ScatterData } from './scatter-gl.ts';
import type { DataSource, LayersPayload } from './data.ts';
import type { AtlasIndex } from './data.ts';

export const ANIMATION_MS = 450;
const NUMERIC_BINS = 64;

const hexToRgb = (hex: string): [number, number, number] => [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16) / 255) as [number, number, number];

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

/** Class index per point and the palette for a colouring ('label', 'none' or a column name). */
export function colouring(p: LayersPayload, by: string): { labels: Int32Array; palette: [number, number, number][]; legend: { name: string; colour: string }[] } {
  const n = p.n;
  if (by === 'label' && p.classNames.length) {
    const pal = categoricalColors(p.classNames.length);
    return { labels: Int32Array.from(p.labels), palette: pal.map(hexToRgb), legend: p.classNames.map((name, k) => ({ name, colour: pal[k] })) };
  }
  const col = p.columns[by];
  if (!col) return { labels: new Int32Array(n), palette: [hexToRgb('#1f77b4')], legend: [{ name: 'all points', colour: '#1f77b4' }] };
  if (typeof col[0] === 'number' || col.every((v) => typeof v === 'number')) {
    const v = col as number[];
    let lo = Infinity, hi = -Infinity;
    for (const x of v) if (Number.isFinite(x)) { lo = Math.min(lo, x); hi = Math.max(hi, x); }
    const span = hi > lo ? hi - lo : 1;
    const labels = Int32Array.from(v, (x) => (Number.isFinite(x) ? Math.min(NUMERIC_BINS - 1, Math.floor(((x - lo) / span) * NUMERIC_BINS)) : -1));
    const palette = Array.from({ length: NUMERIC_BINS }, (_, b) => colormapRgb('viridis', (b + 0.5) / NUMERIC_BINS).map((c) => c / 255) as [number, number, number]);
    const hex = (t: number) => `rgb(${colormapRgb('viridis', t).map(Math.round).join(',')})`;
    const fmt = (x: number) => (Number.isFinite(x) ? x.toPrecision(3) : '–');
    return { labels, palette, legend: [{ name: `${fmt(lo)} (low)`, colour: hex(0) }, { name: fmt((lo + hi) / 2), colour: hex(0.5) }, { name: `${fmt(hi)} (high)`, colour: hex(1) }] };
  }
  const values = [...new Set(col.map(String))];
  const pal = categoricalColors(Math.min(values.length, 20));
  const of = new Map(values.map((s, k) => [s, k % pal.length]));
  return { labels: Int32Array.from(col, (s) => of.get(String(s))!), palette: pal.map(hexToRgb), legend: values.slice(0, 20).map((name, k) => ({ name, colour: pal[k] })) };
}

export class Explorer {
  readonly scatter: ScatterGL;
  private p: LayersPayload | null = null;
  private layerIdx = 0;
  /** Coordinates drawn right now (n × dim), the start of the next animation. */
  private drawn: Float32Array = new Float32Array(0);
  private colour: { labels: Int32Array; palette: [number, number, number][] } = { labels: new Int32Array(0), palette: [] };
  private highlight: number[] | null = null;
  private anim = 0;
  private readonly plot: HTMLElement;

  constructor(private src: DataSource, private bundles: AtlasIndex['layerBundles'], section: HTMLElement) {
    const q = new URLSearchParams(location.search).get('layers');
    const first = bundles.find((b) => b.dir === q) ?? bundles[0];
    section.append(
      h('div', { class: 'controls' },
        h('label', {}, 'Bundle ', h('select', { id: 'layers-bundle' }, ...bundles.map((b) => h('option', { value: b.dir }, `${b.dir === '.' ? '(top folder)' : b.dir} · ${b.method.toUpperCase()}`)))),
        h('label', {}, 'Layer ', h('input', { id: 'layers-slider', type: 'range', min: '0', max: '0', step: '1', value: '0' }), h('span', { id: 'layers-label' })),
        h('label', {}, 'Search ', h('input', { id: 'layers-search', type: 'search', placeholder: 'substring of the texts' }), h('span', { id: 'layers-search-count', class: 'hint' })),
        h('label', {}, 'Colour ', h('select', { id: 'layers-colour' })),
        h('button', { id: 'layers-fit' }, 'Fit')),
      // A fixed-height view (the aside scrolls), so a long legend or profile never pushes the plot off screen.
      h('div', { class: 'view', style: 'height:calc(100vh - 150px);min-height:360px' },
        h('div', { id: 'layers-plot', class: 'plot-host' }),
        h('aside', { style: 'overflow-y:auto' }, h('div', { id: 'layers-info', class: 'info' }), h('h3', {}, 'Colours'), h('div', { id: 'layers-legend', class: 'legend' }),
          h('div', { id: 'layers-links' }), h('h3', {}, 'Nearest neighbours'), h('div', { id: 'layers-neighbours', class: 'selection' }, h('p', { class: 'hint' }, 'Click a point to list its nearest neighbours in this layer\'s original space.')))),
    );
    (section.querySelector('#layers-bundle') as HTMLSelectElement).value = first.dir;
    this.plot = section.querySelector('#layers-plot')!;
    this.scatter = new ScatterGL(this.plot, { onHover: (i, x, y) => this.hover(i, x, y) });
    const el = <T extends HTMLElement>(id: string) => section.querySelector(`#${id}`) as T;
    el<HTMLSelectElement>('layers-bundle').addEventListener('change', (e) => void this.load((e.target as HTMLSelectElement).value));
    el<HTMLInputElement>('layers-slider').addEventListener('input', (e) => this.setLayer(Number((e.target as HTMLInputElement).value)));
    el<HTMLInputElement>('layers-search').addEventListener('input', (e) => this.search((e.target as HTMLInputElement).value));
    el<HTMLSelectElement>('layers-colour').addEventListener('change', (e) => this.setColour((e.target as HTMLSelectElement).value));
    el('layers-fit').addEventListener('click', () => this.scatter.fit());
    // A click (not a drag) on a point lists its neighbours.
    let down: [number, number] | null = null;
    this.plot.addEventListener('pointerdown', (e) => { down = [e.clientX, e.clientY]; });
    this.plot.addEventListener('click', (e) => {
      if (!down || Math.hypot(e.clientX - down[0], e.clientY - down[1]) > 4) return;
      const r = this.plot.querySelector('canvas')!.getBoundingClientRect();
      this.showNeighbours(this.scatter.pick(e.clientX - r.left, e.clientY - r.top));
    });
  }

  /** Moves the slider to layer number `layer` when the bundle has it; false otherwise. */
  goToLayer(layer: number): boolean {
    const idx = this.p?.layers.indexOf(layer) ?? -1;
    if (idx < 0) return false;
    (document.getElementById('layers-slider') as HTMLInputElement).value = String(idx);
    this.setLayer(idx);
    return true;
  }

  async start(): Promise<void> {
    await this.load((document.getElementById('layers-bundle') as HTMLSelectElement).value);
  }

  private get dim(): 2 | 3 { return this.p!.dim === 3 ? 3 : 2; }

  private layerCoords(l: number): Float32Array {
    const p = this.p!, size = p.n * p.dim;
    return Float32Array.from(p.coords.slice(l * size, (l + 1) * size));
  }

  async load(dir: string): Promise<void> {
    const p = await this.src.layers(dir);
    this.p = p;
    const slider = document.getElementById('layers-slider') as HTMLInputElement;
    slider.max = String(p.layers.length - 1);
    slider.value = '0';
    const colSel = document.getElementById('layers-colour') as HTMLSelectElement;
    colSel.replaceChildren(...(p.classNames.length ? [h('option', { value: 'label' }, 'by label')] : []), h('option', { value: 'none' }, 'single'),
      ...Object.keys(p.columns).map((c) => h('option', { value: c }, `${c}${typeof p.columns[c][0] === 'number' ? ' (numeric)' : ''}`)));
    document.getElementById('layers-info')!.replaceChildren(h('b', {}, p.title), h('br'), `${p.n} points · ${p.layers.length} layers · ${p.method.toUpperCase()} · k = ${p.k}`,
      ...p.notes.map((n) => h('p', { class: 'hint' }, n)));
    this.layerIdx = 0;
    this.drawn = this.layerCoords(0);
    this.highlight = null;
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
    this.search((document.getElementById('layers-search') as HTMLInputElement).value);
    this.finishLayer();
  }

  private paint(resetView = false): void {
    const p = this.p!;
    const d: ScatterData = { n: p.n, dim: this.dim, coords: this.drawn, labels: this.colour.labels, palette: this.colour.palette };
    this.scatter.setData(d, resetView);
    if (this.highlight) this.scatter.setSelection(this.highlight);
    this.plot.dataset.highlight = String(this.highlight?.length ?? 0);
  }

  setColour(by: string, draw = true): void {
    const c = colouring(this.p!, by);
    this.colour = c;
    this.plot.dataset.colour = by;
    document.getElementById('layers-legend')!.replaceChildren(...c.legend.map((e) => h('div', { class: 'legend-item' }, h('span', { class: 'swatch', style: `background:${e.colour}` }), e.name)));
    if (draw) this.paint();
  }

  /** Moves to layer index `l`, gliding from the coordinates drawn now. */
  setLayer(l: number): void {
    const p = this.p!;
    if (!(l >= 0 && l < p.layers.length)) return;
    this.layerIdx = l;
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

  private finishLayer(): void {
    const p = this.p!;
    this.drawn = this.layerCoords(this.layerIdx);
    this.paint();
    delete this.plot.dataset.animating;
    this.plot.dataset.layer = String(p.layers[this.layerIdx]);
    document.getElementById('layers-label')!.textContent = ` layer ${p.layers[this.layerIdx]}`;
    const sel = this.plot.dataset.point;
    if (sel !== undefined) this.showNeighbours(Number(sel));
  }

  search(q: string): void {
    const p = this.p;
    if (!p) return;
    const needle = q.trim().toLowerCase();
    const box = document.getElementById('layers-search-count')!;
    if (!needle) { this.highlight = null; box.textContent = ''; this.paint(); return; }
    this.highlight = p.texts.flatMap((t, i) => (t.toLowerCase().includes(needle) ? [i] : []));
    box.textContent = ` ${this.highlight.length} match${this.highlight.length === 1 ? '' : 'es'}`;
    delete this.plot.dataset.point;
    this.paint();
  }

  /** Lists (and highlights) point i's k nearest neighbours at the current layer; null clears. */
  showNeighbours(i: number | null): void {
    const p = this.p!;
    const box = document.getElementById('layers-neighbours')!;
    if (i === null) {
      delete this.plot.dataset.point;
      this.highlight = null;
      box.replaceChildren(h('p', { class: 'hint' }, 'Click a point to list its nearest neighbours in this layer\'s original space.'));
      this.paint();
      return;
    }
    const off = (this.layerIdx * p.n + i) * p.k;
    const nn = p.knn.slice(off, off + p.k);
    this.plot.dataset.point = String(i);
    this.highlight = [i, ...nn];
    const name = (j: number) => (p.labels[j] >= 0 && p.classNames[p.labels[j]] ? `${p.classNames[p.labels[j]]}: ` : '');
    box.replaceChildren(
      h('p', { class: 'sel-count' }, h('b', {}, `#${i} `), name(i), p.texts[i]),
      h('p', { class: 'hint' }, `${p.k} nearest in the original space of layer ${p.layers[this.layerIdx]}:`),
      h('ol', { class: 'sel-list' }, ...nn.map((j) => h('li', { 'data-index': String(j) }, h('b', {}, name(j)), p.texts[j]))),
    );
    this.paint();
  }

  private hover(i: number | null, x: number, y: number): void {
    const tip = document.getElementById('tooltip')!;
    if (i === null || !this.p) { tip.hidden = true; return; }
    const p = this.p;
    tip.replaceChildren(h('b', {}, p.labels[i] >= 0 ? p.classNames[p.labels[i]] ?? `point ${i}` : `point ${i}`), h('div', { class: 'tip-text' }, p.texts[i]));
    tip.hidden = false;
    tip.style.left = `${Math.min(x + 14, window.innerWidth - tip.offsetWidth - 8)}px`;
    tip.style.top = `${Math.min(y + 14, window.innerHeight - tip.offsetHeight - 8)}px`;
  }
}

/** Adds the Layers tab when the folder holds bundles; returns the explorer (null when none). */
export async function initExplorer(src: DataSource, index: AtlasIndex, selectTab: (name: string) => void): Promise<Explorer | null> {
  if (!index.layerBundles?.length) return null;
  const nav = document.querySelector('nav')!;
  const button = h('button', { 'data-tab': 'layers', id: 'tab-button-layers' }, 'Layers');
  nav.insertBefore(button, nav.children[1] ?? null);
  button.addEventListener('click', () => selectTab('layers'));
  const section = h('section', { id: 'tab-layers' });
  section.hidden = true;
  document.querySelector('main')!.append(section);
  const ex = new Explorer(src, index.layerBundles, section);
  await ex.start();
  await renderLayerLinks(src, index, document.getElementById('layers-links')!, (l) => ex.goToLayer(l));
  return ex;
}
