/**
 * The Latent Atlas client: one page with tabs (Map, Fisher, Plots, Tables, Files) over whatever the output
 * folder holds (see src/app/scan.ts). No framework: a handful of DOM helpers and two WebGL scatters.
 *
 * Test hooks: body[data-ready] once the first view is drawn, #map-plot[data-map|data-layer] for the map shown,
 * window.atlas.{map, fisher} (ScatterGL instances: screenPosition(i)), #tooltip for hover text.
 */
import { categoricalColors } from '../../src/plot/palette.ts';
import { ScatterGL, type ScatterData } from './scatter-gl.ts';
import { dataSource, type AtlasIndex, type FisherPayload, type MapPayload } from './data.ts';
import { parseDelimited, toCsv } from './table.ts';
import type { Explorer } from './explorer.ts';
import { initExplorer } from './layers-pair.ts';
import { initJobs, type JobsUi } from './jobs.ts';

let explorer: Explorer | null = null;

const src = dataSource();
const $ = <T extends HTMLElement = HTMLElement>(id: string): T => {
  const el = document.getElementById(id);
  if (!el) throw new Error(`missing #${id}`);
  return el as T;
};

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

function showError(e: unknown): void {
  const box = $('error');
  box.textContent = e instanceof Error ? e.message : String(e);
  box.hidden = false;
}

/** A view that loaded fine replaces the error of the one before it. */
function clearError(): void {
  $('error').hidden = true;
}

function download(name: string, content: string | Blob): void {
  const url = typeof content === 'string' ? content : URL.createObjectURL(content);
  const a = h('a', { href: url, download: name });
  document.body.append(a);
  a.click();
  a.remove();
  if (typeof content !== 'string') setTimeout(() => URL.revokeObjectURL(url), 1000);
}

const hexToRgb = (hex: string): [number, number, number] => [1, 3, 5].map((o) => parseInt(hex.slice(o, o + 2), 16) / 255) as [number, number, number];
const baseName = (path: string) => path.split('/').pop()!.replace(/\.[^.]+$/, '');

interface PanelPoints {
  title: string;
  labels: number[] | null;
  classNames: string[];
  texts: string[] | null;
}

/** A scatter with its legend, tooltip, selection list and export buttons (used by the Map and Fisher tabs). */
class ScatterPanel {
  readonly scatter: ScatterGL;
  private points: PanelPoints | null = null;
  private hidden = new Set<number>();
  private colours: string[] = [];
  private colourBy: 'label' | 'none' = 'label';
  selection: number[] = [];
  private coords: { dim: number; coords: Float32Array } | null = null;

  constructor(private prefix: string) {
    this.scatter = new ScatterGL($(`${prefix}-plot`), {
      onHover: (i, x, y) => this.hover(i, x, y),
      onSelect: (sel) => this.select(sel),
    });
    $(`${prefix}-export-png`).addEventListener('click', () => {
      this.scatter.toPngFigure(this.points?.title ?? '', this.names()).then((url) => download(`${this.fileBase()}.png`, url), showError);
    });
    $(`${prefix}-export-svg`).addEventListener('click', () => download(`${this.fileBase()}.svg`, new Blob([this.scatter.toSvg(this.points?.title ?? '', this.names())], { type: 'image/svg+xml' })));
    $(`${prefix}-export-csv`).addEventListener('click', () => download(`${this.fileBase()}.csv`, new Blob([this.csv(null)], { type: 'text/csv' })));
    $(`${prefix}-mode`).addEventListener('change', (e) => { this.scatter.mode = (e.target as HTMLSelectElement).value as 'pan'; });
    $(`${prefix}-size`).addEventListener('input', (e) => { this.scatter.pointSize = Number((e.target as HTMLInputElement).value); this.scatter.requestDraw(); });
    $(`${prefix}-fit`).addEventListener('click', () => this.scatter.fit());
  }

  private fileBase(): string {
    return (this.points?.title ?? 'scatter').replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^_+|_+$/g, '') || 'scatter';
  }

  private names(): string[] {
    return this.colourBy === 'label' && this.points?.labels ? this.points.classNames : ['all points'];
  }

  setColourBy(c: 'label' | 'none'): void {
    this.colourBy = c;
    this.hidden.clear();
    this.redraw(false);
  }

  /** Shows points (dim 2 or 3, row-major `coords`); keeps the view unless `resetView`. */
  show(p: PanelPoints, coords: Float32Array, dim: 2 | 3, resetView = true): void {
    this.points = p;
    this.coords = { dim, coords };
    this.hidden.clear();
    this.selection = [];
    this.colours = categoricalColors(Math.max(1, p.classNames.length));
    this.redraw(resetView);
    this.renderSelection();
  }

  private redraw(resetView: boolean): void {
    const p = this.points, c = this.coords;
    if (!p || !c) return;
    const n = c.coords.length / c.dim;
    const useLabels = this.colourBy === 'label' && p.labels !== null;
    const labels = useLabels ? Int32Array.from(p.labels!) : new Int32Array(n);
    const data: ScatterData = { n, dim: c.dim as 2 | 3, coords: c.coords, labels, palette: (useLabels ? this.colours : ['#1f77b4']).map(hexToRgb) };
    this.scatter.setData(data, resetView);
    this.scatter.setHiddenClasses(this.hidden);
    this.renderLegend(labels);
  }

  private renderLegend(labels: Int32Array): void {
    const box = $(`${this.prefix}-legend`);
    box.replaceChildren();
    const names = this.names();
    const counts = new Array(names.length).fill(0);
    for (const l of labels) if (l >= 0 && l < counts.length) counts[l]++;
    const palette = this.colourBy === 'label' && this.points?.labels ? this.colours : ['#1f77b4'];
    names.forEach((name, k) => {
      const item = h('button', { class: `legend-item${this.hidden.has(k) ? ' off' : ''}`, title: 'click to show/hide', 'data-class': String(k) },
        h('span', { class: 'swatch', style: `background:${palette[k % palette.length]}` }), `${name} (${counts[k]})`);
      item.addEventListener('click', () => {
        if (this.hidden.has(k)) this.hidden.delete(k); else this.hidden.add(k);
        item.classList.toggle('off');
        this.scatter.setHiddenClasses(this.hidden);
        if (this.selection.length) this.select(this.selection); // hidden points leave the selection
      });
      box.append(item);
    });
  }

  private hover(i: number | null, x: number, y: number): void {
    const tip = $('tooltip');
    if (i === null || !this.points) { tip.hidden = true; return; }
    const p = this.points;
    const label = p.labels && p.labels[i] >= 0 ? p.classNames[p.labels[i]] : null;
    tip.replaceChildren(h('b', {}, label ?? `point ${i}`), h('div', { class: 'tip-text' }, p.texts ? p.texts[i] : `point ${i}`));
    tip.hidden = false;
    tip.style.left = `${Math.min(x + 14, window.innerWidth - tip.offsetWidth - 8)}px`;
    tip.style.top = `${Math.min(y + 14, window.innerHeight - tip.offsetHeight - 8)}px`;
  }

  /** Whether point i is drawn: its label is not hidden. */
  private shown(i: number): boolean {
    const labels = this.points?.labels;
    return !(this.colourBy === 'label' && labels && this.hidden.has(labels[i]));
  }

  private select(sel: number[]): void {
    sel = sel.filter((i) => this.shown(i));
    this.selection = sel;
    this.scatter.setSelection(sel.length ? sel : null);
    this.renderSelection();
  }

  private csv(only: number[] | null): string {
    const p = this.points, c = this.coords;
    if (!p || !c) return '';
    const n = c.coords.length / c.dim;
    const rows: (string | number)[][] = [['index', ...Array.from({ length: c.dim }, (_, a) => `c${a + 1}`), 'label', 'text']];
    for (const i of only ?? Array.from({ length: n }, (_, k) => k)) {
      rows.push([i, ...Array.from(c.coords.subarray(i * c.dim, i * c.dim + c.dim)), p.labels && p.labels[i] >= 0 ? p.classNames[p.labels[i]] : '', p.texts?.[i] ?? '']);
    }
    return toCsv(rows);
  }

  private renderSelection(): void {
    const box = $(`${this.prefix}-selection`);
    box.replaceChildren();
    if (!this.selection.length) {
      box.append(h('p', { class: 'hint' }, 'Select points with box or lasso (mode above, or shift-drag for a box) to list their texts.'));
      return;
    }
    const p = this.points!;
    const dl = h('button', {}, 'CSV');
    dl.addEventListener('click', () => download(`${this.fileBase()}-selection.csv`, new Blob([this.csv(this.selection)], { type: 'text/csv' })));
    box.append(h('p', { class: 'sel-count' }, `${this.selection.length} selected `, dl));
    const list = h('ol', { class: 'sel-list' });
    for (const i of this.selection.slice(0, 300)) {
      const label = p.labels && p.labels[i] >= 0 ? p.classNames[p.labels[i]] : '';
      list.append(h('li', { value: String(i) }, label ? h('b', {}, `${label}: `) : '', p.texts?.[i] ?? `point ${i}`));
    }
    box.append(list);
    if (this.selection.length > 300) box.append(h('p', { class: 'hint' }, `… and ${this.selection.length - 300} more (download the CSV)`));
  }
}

// ---------------------------------------------------------------- Map tab

let index: AtlasIndex;
let mapPanel: ScatterPanel | null = null;
let fisherPanel: ScatterPanel | null = null;
let currentMap: MapPayload | null = null;
let mapRequest = 0;

function fillSelect(sel: HTMLSelectElement, options: [string, string][], value?: string): void {
  sel.replaceChildren(...options.map(([v, text]) => h('option', { value: v }, text)));
  if (value !== undefined && options.some(([v]) => v === value)) sel.value = value;
}

function mapsOfGroup(group: string) {
  return index.maps.filter((m) => m.group === group);
}

function layerKey(layer: number | null): string {
  return layer === null ? 'none' : String(layer);
}

/** Fills layer/method selects for the current group, keeping the chosen values when they still exist. */
function syncMapSelects(prefer?: { layer?: string; method?: string }): string | null {
  const group = $<HTMLSelectElement>('map-group').value;
  const maps = mapsOfGroup(group);
  const layers = [...new Set(maps.map((m) => layerKey(m.layer)))];
  const layerSel = $<HTMLSelectElement>('map-layer');
  fillSelect(layerSel, layers.map((l) => [l, l === 'none' ? '–' : `layer ${l}`]), prefer?.layer ?? layerSel.value);
  const atLayer = maps.filter((m) => layerKey(m.layer) === layerSel.value);
  const methodSel = $<HTMLSelectElement>('map-method');
  fillSelect(methodSel, atLayer.map((m) => [m.path, `${m.method.toUpperCase()}${m.nComponents >= 3 ? ` (${m.nComponents}D)` : ''}`]),
    atLayer.find((m) => m.method === (prefer?.method ?? currentMap?.method))?.path ?? methodSel.value);
  return methodSel.value || null;
}

async function loadMap(path: string): Promise<void> {
  const req = ++mapRequest;
  const plot = $('map-plot');
  plot.dataset.loading = '1';
  try {
    const m = await src.map(path);
    clearError();
    if (req !== mapRequest) return;
    currentMap = m;
    const dimSel = $<HTMLSelectElement>('map-dim');
    dimSel.disabled = m.k < 3;
    if (m.k < 3) dimSel.value = '2';
    drawMap();
    plot.dataset.map = m.path;
    plot.dataset.layer = layerKey(m.layer);
    const diag = Object.entries(m.diagnostics).filter(([, v]) => typeof v !== 'object' || (Array.isArray(v) && v.length <= 10))
      .map(([k, v]) => `${k}: ${Array.isArray(v) ? v.map((x) => (typeof x === 'number' ? formatNumber(x, 3) : x)).join(', ') : typeof v === 'number' ? formatNumber(v, 4) : String(v)}`);
    $('map-info').replaceChildren(h('b', {}, m.title), h('br'), `${m.n} points · ${m.method.toUpperCase()} · ${m.k} components`,
      ...(m.missing ? [h('div', { class: 'hint', id: 'map-missing' }, `${m.missing} point${m.missing === 1 ? '' : 's'} not drawn: NaN/Inf coordinates`)] : []),
      ...diag.map((d) => h('div', { class: 'diag' }, d)), ...(m.notes ?? []).filter((n) => !/NaN\/Inf/.test(n)).map((n) => h('p', { class: 'hint' }, n)));
    const q = new URLSearchParams(location.search);
    q.set('map', m.path);
    if (!src.static) history.replaceState(null, '', `?${q}`);
  } catch (e) {
    showError(e);
  } finally {
    if (req === mapRequest) delete plot.dataset.loading;
  }
}

function drawMap(resetView = true): void {
  const m = currentMap;
  if (!m || !mapPanel) return;
  const dim = m.k >= 3 && $<HTMLSelectElement>('map-dim').value === '3' ? 3 : 2;
  const coords = new Float32Array(m.n * dim);
  for (let i = 0; i < m.n; i++) for (let a = 0; a < dim; a++) coords[i * dim + a] = m.coords[i * m.k + a] ?? NaN;
  mapPanel.show({ title: m.title, labels: m.labels, classNames: m.classNames, texts: m.texts }, coords, dim as 2 | 3, resetView);
}

async function initMapTab(): Promise<void> {
  const skipped = (index.skipped ?? []).map((s) => h('p', { class: 'hint skipped' }, `left out: ${s}`));
  if (!index.maps.length) {
    $('tab-map').replaceChildren(h('p', { class: 'empty' }, 'No maps in this folder. Maps are written by `latent-atlas map` and `latent-atlas demo`.'), ...skipped);
    return;
  }
  $('map-info').after(...skipped);
  mapPanel = new ScatterPanel('map');
  const groups = [...new Set(index.maps.map((m) => m.group))];
  const wanted = new URLSearchParams(location.search).get('map');
  const first = index.maps.find((m) => m.path === wanted) ?? index.maps[index.maps.length - 1];
  fillSelect($<HTMLSelectElement>('map-group'), groups.map((g) => [g, g === '.' ? '(top folder)' : g]), first.group);
  $('map-group').closest('label')!.hidden = groups.length < 2;
  const path = syncMapSelects({ layer: layerKey(first.layer), method: first.method });
  $('map-group').addEventListener('change', () => { const p = syncMapSelects(); if (p) void loadMap(p); });
  $('map-layer').addEventListener('change', () => { const p = syncMapSelects(); if (p) void loadMap(p); });
  $('map-method').addEventListener('change', () => void loadMap($<HTMLSelectElement>('map-method').value));
  $('map-dim').addEventListener('change', () => drawMap());
  $('map-colour').addEventListener('change', (e) => mapPanel!.setColourBy((e.target as HTMLSelectElement).value as 'label'));
  if (path) await loadMap(path);
}

// ---------------------------------------------------------------- Fisher tab

let currentFisher: FisherPayload | null = null;
let jobsUi: JobsUi | null = null;

function drawFisher(resetView = true): void {
  const f = currentFisher;
  if (!f || !fisherPanel) return;
  const emb = $<HTMLSelectElement>('fisher-embedding').value;
  const coords = Float32Array.from(f.embeddings[emb] ?? [], (v) => v ?? NaN);
  fisherPanel.show({ title: `${f.dir} · ${emb}`, labels: f.labels, classNames: f.classNames, texts: f.texts }, coords, 2, resetView);
  const ellipsesBox = $<HTMLInputElement>('fisher-ellipses');
  // Ellipses are pulled back into the Fisher MDS coordinates, so they only belong on that embedding.
  ellipsesBox.disabled = emb !== 'fisher-mds';
  $<HTMLInputElement>('fisher-edges').disabled = !f.edges;
  fisherPanel.scatter.setLayers({
    edges: f.edges, ellipses: emb === 'fisher-mds' ? f.ellipses : null,
    showEdges: $<HTMLInputElement>('fisher-edges').checked, showEllipses: ellipsesBox.checked && emb === 'fisher-mds',
  });
}

async function loadFisher(dir: string): Promise<void> {
  try {
    const f = await src.fisher(dir);
    clearError();
    currentFisher = f;
    $('fisher-plot').dataset.edges = String(f.edges ? f.edges.length / 2 : 0);
    jobsUi?.fisherLoaded(f);
    const embSel = $<HTMLSelectElement>('fisher-embedding');
    fillSelect(embSel, Object.keys(f.embeddings).map((e) => [e, e]), embSel.value || 'fisher-mds');
    drawFisher();
    const c = f.comparison as Record<string, any> | null;
    const rows: [string, string][] = [];
    if (c) {
      for (const k of ['n', 'd', 'layer', 'point', 'method', 'lambda', 'k', 'rule']) if (c[k] !== undefined) rows.push([k, String(c[k])]);
      const cmp = c.comparison;
      if (cmp) {
        rows.push(['Spearman (geodesics)', Number(cmp.spearman).toFixed(4)], ['Pearson (geodesics)', Number(cmp.pearson).toFixed(4)]);
        for (const e of cmp.embeddings ?? []) rows.push([`trustworthiness ${e.name}`, Number(e.trustworthiness).toFixed(4)]);
      }
    }
    $('fisher-info').replaceChildren(
      h('table', { class: 'kv' }, ...rows.map(([k, v]) => h('tr', {}, h('th', {}, k), h('td', {}, v)))),
      ...f.notes.map((n) => h('p', { class: 'hint' }, n)),
    );
    const figs = $('fisher-figures');
    figs.replaceChildren();
    for (const p of index.plots.filter((p) => p.group === dir && /geodesic|scatter/.test(p.title))) figs.append(figure(p));
  } catch (e) {
    showError(e);
  }
}

async function initFisherTab(): Promise<void> {
  if (!index.fisher.length) return;
  $('tab-button-fisher').hidden = false;
  fisherPanel = new ScatterPanel('fisher');
  fillSelect($<HTMLSelectElement>('fisher-dir'), index.fisher.map((f) => [f.dir, `${f.dir} (${f.n} points)`]));
  $('fisher-dir').closest('label')!.hidden = index.fisher.length < 2;
  $('fisher-dir').addEventListener('change', (e) => void loadFisher((e.target as HTMLSelectElement).value));
  $('fisher-embedding').addEventListener('change', () => drawFisher());
  for (const id of ['fisher-edges', 'fisher-ellipses']) $(id).addEventListener('change', () => drawFisher(false));
  $('fisher-colour').addEventListener('change', (e) => fisherPanel!.setColourBy((e.target as HTMLSelectElement).value as 'label'));
  await loadFisher(index.fisher[0].dir);
}

// ---------------------------------------------------------------- Plots, tables, files

function figure(p: AtlasIndex['plots'][number]): HTMLElement {
  const main = p.svg ?? p.png!;
  const url = src.fileUrl(main);
  const links = h('div', { class: 'fig-links' });
  for (const f of [p.svg, p.png]) {
    if (!f) continue;
    const u = src.fileUrl(f);
    if (u) links.append(h('a', { href: u, download: f.split('/').pop()! }, f.endsWith('.svg') ? 'SVG' : 'PNG'));
  }
  return h('figure', { class: 'plot' }, url ? h('img', { src: url, alt: p.title, loading: 'lazy' }) : h('p', { class: 'hint' }, 'not embedded'), h('figcaption', {}, p.title, links));
}

function initPlotsTab(): void {
  const box = $('tab-plots');
  box.replaceChildren();
  if (!index.plots.length) { box.append(h('p', { class: 'empty' }, 'No plots in this folder.')); return; }
  const groups = [...new Set(index.plots.map((p) => p.group))];
  for (const g of groups) {
    const grid = h('div', { class: 'plot-grid' });
    for (const p of index.plots.filter((x) => x.group === g)) grid.append(figure(p));
    box.append(h('section', { class: 'group' }, h('h2', {}, g === '.' ? 'top folder' : g), grid));
  }
}

async function initTablesTab(): Promise<void> {
  const box = $('tab-tables');
  box.replaceChildren();
  if (!index.tables.length) { box.append(h('p', { class: 'empty' }, 'No tables in this folder.')); return; }
  for (const t of index.tables) {
    const sec = h('section', { class: 'group' }, h('h2', {}, t.path));
    box.append(sec);
    try {
      const text = await src.fileText(t.path);
      const rows = parseDelimited(text, t.path.toLowerCase().endsWith('.tsv') ? '\t' : ',');
      const dl = h('button', {}, 'Download CSV');
      dl.addEventListener('click', () => download(`${baseName(t.path)}.csv`, new Blob([toCsv(rows)], { type: 'text/csv' })));
      const shown = rows.slice(0, 201);
      const table = h('table', { class: 'data' }, ...shown.map((r, i) => h('tr', {}, ...r.map((c) => h(i === 0 ? 'th' : 'td', {}, formatCell(c))))));
      sec.append(dl, h('div', { class: 'table-wrap' }, table));
      if (rows.length > 201) sec.append(h('p', { class: 'hint' }, `first 200 of ${rows.length - 1} rows`));
    } catch (e) {
      sec.append(h('p', { class: 'error-inline' }, String((e as Error).message)));
    }
  }
}

function formatCell(c: string): string {
  const v = Number(c);
  return c !== '' && Number.isFinite(v) && !Number.isInteger(v) && /\d\.\d{5,}/.test(c) ? v.toPrecision(5) : c;
}

function initFilesTab(): void {
  const box = $('tab-files');
  box.replaceChildren();
  const list = (title: string, items: { path: string }[], note: string) => {
    if (!items.length) return;
    const ul = h('ul');
    for (const it of items) {
      const u = src.fileUrl(it.path);
      ul.append(h('li', {}, u ? h('a', { href: u, target: '_blank', rel: 'noopener', download: it.path.split('/').pop()! }, it.path) : it.path));
    }
    box.append(h('section', { class: 'group' }, h('h2', {}, title), h('p', { class: 'hint' }, note), ul));
  };
  list('Graphs', index.graphs, 'GraphML and node-link JSON (networkx, Gephi, Cytoscape).');
  list('Pages', index.pages, src.static ? 'Stand-alone HTML pages in the output folder (not embedded in this report).' : 'Stand-alone HTML pages written next to the results.');
  list('Profiles', index.profiles, 'Per-layer intrinsic dimension and overlap (JSON).');
  if (!box.children.length) box.append(h('p', { class: 'empty' }, 'No other files.'));
}

// ---------------------------------------------------------------- start

function selectTab(name: string): void {
  for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) b.classList.toggle('active', b.dataset.tab === name);
  for (const s of document.querySelectorAll<HTMLElement>('main > section')) s.hidden = s.id !== `tab-${name}`;
  // A scatter laid out while hidden has no size: redraw it now that it is visible.
  if (name === 'map') mapPanel?.scatter.requestDraw();
  if (name === 'fisher') fisherPanel?.scatter.requestDraw();
  if (name === 'layers') explorer?.scatter.requestDraw();
}

async function start(): Promise<void> {
  for (const b of document.querySelectorAll<HTMLButtonElement>('nav button')) b.addEventListener('click', () => selectTab(b.dataset.tab!));
  $('error').addEventListener('click', () => { $('error').hidden = true; });
  index = await src.index();
  const run = index.run as Record<string, unknown> | null;
  $('title').textContent = `Latent Atlas — ${index.name}`;
  const sub: string[] = [];
  if (run?.model) sub.push(`model ${String(run.model).split('/').pop()}`);
  if (run?.dataset) sub.push(`data ${String(run.dataset)}${run.texts ? ` (${String(run.texts)} texts)` : ''}`);
  sub.push(`${index.maps.length} maps, ${index.fisher.length} Fisher, ${index.plots.length} plots, ${index.tables.length} tables`);
  $('subtitle').textContent = sub.join(' · ');
  if (run?.randomModel === true) $('warning').hidden = false;
  const empty = !index.maps.length && !index.fisher.length && !index.plots.length && !index.tables.length && !index.profiles.length && !index.graphs.length && !index.layerBundles?.length;
  if (empty) {
    // A folder with no results at all: say what this app expects instead of five empty tabs.
    const box = $('warning');
    box.textContent = `No Latent Atlas results in '${index.name}'. Serve the output folder of a run: e.g. \`latent-atlas demo --out atlas-demo\` then \`latent-atlas serve atlas-demo\`, or the --out folder of map, profile, fisher, mri, fim, similarity or task-vector.`;
    box.hidden = false;
  }
  const view = new URLSearchParams(location.search).get('view');
  selectTab(view === 'fisher' && index.fisher.length ? 'fisher' : index.maps.length ? 'map' : 'plots');
  initPlotsTab();
  initFilesTab();
  await initMapTab();
  jobsUi = await initJobs({ selectTab, fisherDir: () => (index.fisher.length ? $<HTMLSelectElement>('fisher-dir').value : null), reloadFisher: loadFisher }, showError);
  await initFisherTab();
  explorer = await initExplorer(src, index, selectTab);
  if (explorer && (view === 'layers' || !index.maps.length)) selectTab('layers'); // a folder of bundles only opens on them
  await initTablesTab();
  (window as unknown as { atlas: unknown }).atlas = { map: mapPanel?.scatter ?? null, fisher: fisherPanel?.scatter ?? null, layers: explorer?.scatter ?? null, explorer, index };
  requestAnimationFrame(() => requestAnimationFrame(() => { document.body.dataset.ready = '1'; }));
}

start().catch(showError);

/** Integers as integers (500, not 500.0); other numbers to a few significant digits. */
function formatNumber(v: number, digits: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(digits);
}
