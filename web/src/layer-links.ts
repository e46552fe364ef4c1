/**
 * Views linked to the explorer's layer slider: the per-layer profile (profile.json: one row per layer) as a
 * clickable table, and each layer × layer similarity matrix (compare.json of `latent-atlas compare`) as a
 * clickable heatmap. A click on a profile row or on a matrix cell (row layer) moves the slider to that layer.
 * Test hooks: #layers-links tr[data-layer], .cmp-cell[data-layer].
 */
import { colormapRgb } from '../../src/plot/colormap.ts';
import type { AtlasIndex, DataSource } from './data.ts';

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function el(tag: string, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

export async function renderLayerLinks(src: DataSource, index: AtlasIndex, box: HTMLElement, go: (layer: number) => boolean): Promise<void> {
  const fmt = (v: unknown) => (typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(3)) : '');
  for (const prof of index.profiles.filter((p) => p.path.endsWith('.json')).slice(0, 1)) {
    try {
      const j = JSON.parse(await src.fileText(prof.path)) as unknown;
      if (!isRecord(j) || !Array.isArray(j.layers)) continue;
      const rows = j.layers.filter(isRecord);
      // The columns that vary over the layers (constants such as n say nothing about a layer).
      const keys = Object.keys(rows[0] ?? {}).filter((k) => k !== 'layer' && typeof rows[0][k] === 'number' && rows.some((r) => r[k] !== rows[0][k])).slice(0, 3);
      const table = el('table', { class: 'data' }, el('tr', {}, el('th', {}, 'layer'), ...keys.map((k) => el('th', {}, k))));
      for (const r of rows) {
        const tr = el('tr', { 'data-layer': String(r.layer), title: 'click: show this layer', style: 'cursor:pointer' }, el('td', {}, String(r.layer)), ...keys.map((k) => el('td', {}, fmt(r[k]))));
        tr.addEventListener('click', () => go(Number(r.layer)));
        table.append(tr);
      }
      box.append(el('h3', {}, `Profile (${prof.path})`), el('div', { class: 'table-wrap' }, table));
    } catch { /* a profile that does not parse is shown in the Tables/Files tabs instead */ }
  }
  for (const cmp of index.compares ?? []) {
    try {
      const j = JSON.parse(await src.fileText(cmp.path)) as unknown;
      if (!isRecord(j) || !isRecord(j.matrices) || !Array.isArray(j.layersA)) continue;
      const layersA = j.layersA.map(Number);
      const [measure, mat] = Object.entries(j.matrices)[0] ?? [];
      if (!Array.isArray(mat)) continue;
      const grid = el('div', { class: 'cmp-grid', style: `display:grid;grid-template-columns:repeat(${(mat[0] as number[]).length},14px);gap:1px` });
      mat.forEach((row: number[], i: number) => row.forEach((v, jj) => {
        const t = Math.max(0, Math.min(1, Number(v)));
        const c = el('div', { class: 'cmp-cell', 'data-layer': String(layersA[i]), title: `${measure} layer ${layersA[i]} × ${jj}: ${fmt(v)} (click: show layer ${layersA[i]})`,
          style: `width:14px;height:14px;cursor:pointer;background:rgb(${colormapRgb('viridis', Number.isFinite(t) ? t : 0).map(Math.round).join(',')})` });
        c.addEventListener('click', () => go(layersA[i]));
        grid.append(c);
      }));
      box.append(el('h3', {}, `${measure} (${cmp.path})`), grid);
    } catch { /* as above */ }
  }
}
