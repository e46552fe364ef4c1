/**
 * Where the client's data comes from: the server's JSON API, or — in a static report — the same objects
 * embedded in the page as <script type="application/json" id="atlas-data">.
 */
import type { AtlasIndex } from '../../src/app/scan.ts';
import type { FisherPayload, MapPayload } from '../../src/app/payloads.ts';
import type { LayersPayload } from '../../src/app/layers-payload.ts';

export type { AtlasIndex, FisherPayload, MapPayload, LayersPayload };

/** What the static report embeds. Files are data: URLs (images) or text (tables). */
export interface EmbeddedData {
  index: AtlasIndex;
  maps: Record<string, MapPayload>;
  fisher: Record<string, FisherPayload>;
  /** Layers bundles by folder (optional: reports built before the explorer have none). */
  layers?: Record<string, LayersPayload>;
  files: Record<string, string>;
  generatedAt: string;
}

export interface DataSource {
  readonly static: boolean;
  index(): Promise<AtlasIndex>;
  map(path: string): Promise<MapPayload>;
  fisher(dir: string): Promise<FisherPayload>;
  /** A layers bundle (the explorer's Layers tab). */
  layers(dir: string): Promise<LayersPayload>;
  /** URL of a file of the output folder (for <img>, links and downloads); null when not available. */
  fileUrl(path: string): string | null;
  fileText(path: string): Promise<string>;
}

async function getJson<T>(url: string): Promise<T> {
  const r = await fetch(url);
  const body = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
  if (!r.ok) throw new Error(`${body.error ?? `HTTP ${r.status}`}${body.hint ? ` (${body.hint})` : ''}`);
  return body as T;
}

const filesUrl = (path: string) => `files/${path.split('/').map(encodeURIComponent).join('/')}`;

class ServerSource implements DataSource {
  readonly static = false;
  index() { return getJson<AtlasIndex>('api/index'); }
  map(path: string) { return getJson<MapPayload>(`api/map?path=${encodeURIComponent(path)}`); }
  fisher(dir: string) { return getJson<FisherPayload>(`api/fisher?dir=${encodeURIComponent(dir)}`); }
  layers(dir: string) { return getJson<LayersPayload>(`api/layers?dir=${encodeURIComponent(dir)}`); }
  fileUrl(path: string) { return filesUrl(path); }
  async fileText(path: string) {
    const r = await fetch(filesUrl(path));
    if (!r.ok) throw new Error(`cannot read ${path}: HTTP ${r.status}`);
    return r.text();
  }
}

class EmbeddedSource implements DataSource {
  readonly static = true;
  constructor(private d: EmbeddedData) {}
  async index() { return this.d.index; }
  async map(path: string) {
    const m = this.d.maps[path];
    if (!m) throw new Error(`map '${path}' is not in this report`);
    return m;
  }
  async fisher(dir: string) {
    const f = this.d.fisher[dir];
    if (!f) throw new Error(`Fisher output '${dir}' is not in this report`);
    return f;
  }
  async layers(dir: string): Promise<LayersPayload> {
    const l = this.d.layers?.[dir];
    if (!l) throw new Error(`layers bundle '${dir}' is not in this report`);
    return l;
  }
  fileUrl(path: string) {
    const f = this.d.files[path];
    if (f === undefined) return null;
    return f.startsWith('data:') ? f : `data:text/plain;charset=utf-8,${encodeURIComponent(f)}`;
  }
  async fileText(path: string) {
    const f = this.d.files[path];
    if (f === undefined) throw new Error(`'${path}' is not in this report`);
    if (!f.startsWith('data:')) return f;
    const comma = f.indexOf(',');
    return f.slice(0, comma).endsWith(';base64') ? new TextDecoder().decode(Uint8Array.from(atob(f.slice(comma + 1)), (c) => c.charCodeAt(0))) : decodeURIComponent(f.slice(comma + 1));
  }
}

export function dataSource(): DataSource {
  const el = document.getElementById('atlas-data');
  return el ? new EmbeddedSource(JSON.parse(el.textContent ?? '{}') as EmbeddedData) : new ServerSource();
}
