/**
 * The static report: the app's own page with its script, stylesheet and all data inlined, so the single HTML
 * file opens from disk (or e-mail) with no server and no network and shows the same views as `serve`.
 * Data goes in as <script type="application/json" id="atlas-data"> (jsonForScript escapes '<', so no text can
 * close the tag); plots as data: URLs (SVG preferred, PNG only when there is no SVG); tables as text.
 */
import { readFileSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { jsonForScript } from '../plot/index.ts';
import { scanOutputFolder } from './scan.ts';
import { fisherPayload, mapPayload, type FisherPayload, type MapPayload } from './payloads.ts';
import { layersPayload, type LayersPayload } from './layers-payload.ts';
import { clientAssets } from './client-assets.ts';

export interface ReportOptions {
  /** Files above this size are left out (listed, not embedded). Default 25 MB. */
  maxFileBytes?: number;
}

export interface ReportResult {
  html: string;
  maps: number;
  fisher: number;
  plots: number;
  tables: number;
  skipped: string[];
}

/** Builds the report of output folder `root`. */
export async function buildReport(root: string, o: ReportOptions = {}): Promise<ReportResult> {
  const rootReal = realpathSync(root);
  const maxBytes = o.maxFileBytes ?? 25 * 1024 * 1024;
  const index = scanOutputFolder(rootReal);
  const skipped: string[] = [];
  const maps: Record<string, MapPayload> = {};
  for (const m of index.maps) {
    try {
      maps[m.path] = mapPayload(rootReal, m.path);
    } catch (e) {
      skipped.push(`${m.path}: ${(e as Error).message}`);
    }
  }
  index.maps = index.maps.filter((m) => maps[m.path]);
  const fisher: Record<string, FisherPayload> = {};
  for (const f of index.fisher) {
    try {
      fisher[f.dir] = fisherPayload(rootReal, f.dir);
    } catch (e) {
      skipped.push(`${f.dir}: ${(e as Error).message}`);
    }
  }
  index.fisher = index.fisher.filter((f) => fisher[f.dir]);
  const layers: Record<string, LayersPayload> = {};
  for (const b of index.layerBundles) {
    try {
      layers[b.dir] = layersPayload(rootReal, b.dir, index.fisher.map((f) => f.dir));
    } catch (e) {
      skipped.push(`${b.dir}: ${(e as Error).message}`);
    }
  }
  index.layerBundles = index.layerBundles.filter((b) => layers[b.dir]);
  const files: Record<string, string> = {};
  const abs = (rel: string) => join(rootReal, ...rel.split('/'));
  const fits = (rel: string) => {
    if (statSync(abs(rel)).size <= maxBytes) return true;
    skipped.push(`${rel}: larger than ${maxBytes} bytes`);
    return false;
  };
  for (const p of index.plots) {
    if (p.svg && fits(p.svg)) files[p.svg] = `data:image/svg+xml;base64,${readFileSync(abs(p.svg)).toString('base64')}`;
    else if (p.png && fits(p.png)) files[p.png] = `data:image/png;base64,${readFileSync(abs(p.png)).toString('base64')}`;
  }
  for (const t of index.tables) if (fits(t.path)) files[t.path] = readFileSync(abs(t.path), 'utf8');
  // The explorer's linked views read these as text.
  for (const f of [...index.profiles.filter((p) => p.path.endsWith('.json')), ...index.compares]) if (fits(f.path)) files[f.path] = readFileSync(abs(f.path), 'utf8');
  const data = { index, maps, fisher, layers, files, generatedAt: new Date().toISOString() };
  const a = await clientAssets();
  // '</script' cannot occur inside the inline script: '<\/' means the same in JS strings and regexes.
  const js = a.js.replace(/<\/(script)/gi, '<\\/$1');
  const html = a.html
    .replace('<title>Latent Atlas</title>', `<title>Latent Atlas report — ${index.name.replace(/[<&>]/g, '')}</title>`)
    .replace('<link rel="stylesheet" href="style.css">', () => `<style>${a.css}</style>`)
    .replace('<script src="app.js"></script>', () => `<script type="application/json" id="atlas-data">${jsonForScript(data)}</script>\n<script>${js}</script>`);
  return { html, maps: index.maps.length, fisher: index.fisher.length, plots: index.plots.length, tables: index.tables.length, skipped };
}
