/**
 * The Layers tab, and two runs side by side: a second explorer (two models, or two checkpoints, over the SAME
 * texts) next to the first, linked both ways —
 * - the layer sliders follow each other by relative depth (layer index ℓ of L ↔ round(ℓ/(L−1)·(L′−1))), so a
 *   12-layer and a 24-layer model move together;
 * - a click, a search or a box selection in one highlights the same texts in the other (same rows); a clicked
 *   point lists its neighbours in each run's own space, the ones both runs share in bold;
 * - runs whose texts differ (count or any text) are refused with a message naming the first difference: the
 *   link is by row, so it would pair unrelated texts.
 * Open with the 'Beside' menu, or ?view=layers&layers=A&beside=B.
 * Test hooks: #layers-beside, #layers-beside-error, #layers-b-* (the second explorer's elements),
 * window.atlas.explorer.beside (the second Explorer).
 */
import { Explorer, h } from './explorer.ts';
import { renderLayerLinks } from './layer-links.ts';
import type { AtlasIndex, DataSource, LayersPayload } from './data.ts';

/** Why two bundles cannot be linked row by row (null when they can). */
export function textsMismatch(a: LayersPayload, b: LayersPayload): string | null {
  if (a.n !== b.n) return `'${a.dir}' holds ${a.n} texts and '${b.dir}' ${b.n}`;
  for (let i = 0; i < a.n; i++) {
    if (a.texts[i] !== b.texts[i]) {
      const cut = (s: string) => JSON.stringify(s.length > 60 ? `${s.slice(0, 60)}…` : s);
      return `text #${i} is ${cut(a.texts[i])} in '${a.dir}' but ${cut(b.texts[i])} in '${b.dir}'`;
    }
  }
  return null;
}

/** Links x to y (one direction; call twice). */
function link(x: Explorer, y: Explorer): void {
  x.peer = {
    layerMoved: (frac) => y.followDepth(frac),
    highlighted: (indices, point) => y.setHighlight(indices, true, point),
    refresh: () => y.renderNeighbours(),
  };
  x.peerNeighbours = () => y.currentNeighbours();
}

function unlink(x: Explorer): void {
  x.peer = null;
  x.peerNeighbours = null;
  x.renderNeighbours();
}

/** Adds the Layers tab when the folder holds bundles; returns the first run's explorer (null when none). */
export async function initExplorer(src: DataSource, index: AtlasIndex, selectTab: (name: string) => void): Promise<Explorer | null> {
  const bundles = index.layerBundles ?? [];
  if (!bundles.length) return null;
  const nav = document.querySelector('nav')!;
  const button = h('button', { 'data-tab': 'layers', id: 'tab-button-layers' }, 'Layers');
  nav.insertBefore(button, nav.children[1] ?? null);
  const section = h('section', { id: 'tab-layers' });
  section.hidden = true;
  document.querySelector('main')!.append(section);
  const q = new URLSearchParams(location.search);
  const paneA = h('div', { class: 'layers-pane', id: 'layers-pane-a' });
  const paneB = h('div', { class: 'layers-pane', id: 'layers-pane-b' });
  paneB.hidden = true;
  const split = h('div', { class: 'layers-split', id: 'layers-split' }, paneA, paneB);
  const error = h('p', { class: 'error-inline', id: 'layers-beside-error' });
  error.hidden = true;
  section.append(error, split);
  const a = new Explorer(src, bundles, paneA, { prefix: 'layers', initial: q.get('layers') ?? undefined });
  let b: Explorer | null = null;

  const besideSel = h('select', { id: 'layers-beside', title: 'a second run over the same texts, linked to this one' },
    h('option', { value: '' }, '(none)'), ...bundles.map((x) => h('option', { value: x.dir }, `${x.dir === '.' ? '(top folder)' : x.dir} · ${x.method.toUpperCase()}`)));
  const besideLabel = h('label', {}, 'Beside ', besideSel);
  besideLabel.hidden = bundles.length < 2;
  paneA.querySelector('.controls')!.append(besideLabel);

  const close = (why: string | null) => {
    paneB.hidden = true;
    split.classList.remove('two');
    a.beside = null;
    unlink(a);
    besideSel.value = '';
    error.textContent = why ?? '';
    error.hidden = why === null;
    a.scatter.requestDraw();
  };
  /** Checks the texts of the two runs; links them or refuses. */
  const check = () => {
    if (!b || paneB.hidden || !a.payload || !b.payload) return;
    const why = textsMismatch(a.payload, b.payload);
    if (why) { close(`Cannot show '${b.payload.dir}' beside '${a.payload.dir}': ${why}. Side by side links the runs text by text, so both need the same texts in the same order (the same --data).`); return; }
    error.hidden = true;
    link(a, b);
    link(b, a);
    a.beside = b;
    b.followDepth(a.payload.layers.length > 1 ? a.layerIndex / (a.payload.layers.length - 1) : 0);
    const pa = a.el('plot').dataset.point;
    if (pa !== undefined) b.showNeighbours(Number(pa), true);
    a.renderNeighbours();
  };
  const open = async (dir: string) => {
    if (!dir) { close(null); return; }
    paneB.hidden = false;
    split.classList.add('two');
    besideSel.value = dir;
    if (!b) {
      b = new Explorer(src, bundles, paneB, { prefix: 'layers-b', initial: dir });
      b.onLoad = check;
      await b.start();
    } else await b.load(dir);
    a.scatter.requestDraw();
  };
  a.onLoad = check;
  besideSel.addEventListener('change', () => void open(besideSel.value));
  button.addEventListener('click', () => { selectTab('layers'); b?.scatter.requestDraw(); });
  await a.start();
  await renderLayerLinks(src, index, a.el('links'), (l) => a.goToLayer(l));
  const beside = q.get('beside');
  if (beside && bundles.some((x) => x.dir === beside)) await open(beside);
  return a;
}
