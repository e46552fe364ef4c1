/**
 * On-disk cache of extracted activations, resumable batch by batch.
 *
 * Layout:  <root>/<modelKey>/<datasetHash>/<optionsHash>/
 *            layer-<L>.npy     rows × hidden, float32 (or float16 on request), rows in dataset order
 *            row-text.npy      int32 text index per row     (only when a text has ≠ 1 row, e.g. aggregation 'all')
 *            row-token.npy     int32 token position per row (only when the caller gives token positions)
 *            meta.json         written last: its presence means the entry is complete
 *            parts/manifest.json, parts/batch-<i>.bin   while extraction is running
 *
 * Any change to the model, the dataset content, the options, the layer list or the stored dtype gives another
 * directory, so stale results are never read. Each finished batch is written atomically, so a killed run leaves
 * only whole batches; reopening reports them in `finishedBatches()` and the caller computes the rest. `finalize`
 * orders rows by text index, so the final files do not depend on how the work was split or interrupted.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { writeFileAtomic, writeJsonAtomic } from './atomic.ts';
import { ContentHasher, hashJson, safeName, stableStringify } from './hash.ts';
import { readNpyF32, writeNpy } from './npy.ts';

export const CACHE_VERSION = 1;

export type CacheDType = 'float32' | 'float16';

export interface ActivationCacheOptions {
  /** Cache root folder (e.g. ~/.cache/latent-atlas/activations). */
  root: string;
  /** From modelKeyFromId / modelKeyFromFolder. */
  modelKey: string;
  /** Dataset.hash. */
  datasetHash: string;
  /** Every other setting that changes the numbers (aggregation, normalisation, max length, …); JSON-able, key order irrelevant. */
  options: Record<string, unknown>;
  /** Layers stored, in the order of the per-layer arrays given to writeBatch. */
  layers: number[];
  /** Number of texts in the dataset: finalize checks that every text index 0..numTexts-1 was written exactly once. */
  numTexts: number;
  /** Stored dtype of the final files. Default 'float32' (batches are always kept as float32). */
  dtype?: CacheDType;
  /**
   * How texts are assigned to batch numbers (e.g. `{batchSize: 8, order: 'length'}`). Finished batches written under
   * another plan cannot be reused and are discarded on open.
   */
  plan?: unknown;
  /** Discard everything cached under this key first (recompute). Default false. */
  force?: boolean;
}

/** Which dataset rows one batch covers. By default each text gives one row (row r ↔ textIds[r]). */
export interface BatchRows {
  /** Dataset indices of the texts in this batch. */
  textIds: number[];
  /** Tokens per text (after truncation), same order as textIds. */
  tokenCounts: number[];
  /** Text index per row, when a text gives several rows (aggregation 'all'); every value must be in textIds. */
  rowText?: number[];
  /** Token position per row (aggregation 'all', or the matched token for 'match'). */
  rowToken?: number[];
}

export interface CachedLayer {
  data: Float32Array;
  rows: number;
  cols: number;
}

export interface CacheMeta {
  version: number;
  created: string;
  modelKey: string;
  datasetHash: string;
  options: Record<string, unknown>;
  layers: number[];
  dtype: CacheDType;
  rows: number;
  cols: number;
  numTexts: number;
  /** Tokens per text, by text index. */
  tokenCounts: number[];
  /** File name per layer ("layer-<L>.npy"). */
  files: Record<string, string>;
  /** Size and SHA-256 of every final file, written at finalisation; checked on open (size) and on read (hash). */
  checksums?: Record<string, { bytes: number; sha256: string }>;
  rowTextFile?: string;
  rowTokenFile?: string;
  /** Whatever the caller passed to finalize (labels, class names, texts, model config, …). */
  [extra: string]: unknown;
}

export interface ActivationCache {
  /** The entry's directory. */
  readonly dir: string;
  /** True when the final files and meta.json are present. */
  isComplete(): boolean;
  /** Batch numbers whose parts are already on disk. */
  finishedBatches(): Set<number>;
  /** Stores one finished batch atomically: perLayer[k] holds rows × hidden float32 values for layers[k]. */
  writeBatch(index: number, perLayer: Float32Array[], rows: BatchRows): void;
  /** Assembles the parts into the final files (atomically), writes meta.json last, removes the parts. Returns the file paths. */
  finalize(extraMeta?: Record<string, unknown>): string[];
  /** Reads one layer of a complete entry as float32. */
  readLayer(layer: number): CachedLayer;
  /** meta.json of a complete entry, else null. */
  meta(): CacheMeta | null;
  /** Removes the entry (final files and parts). */
  clear(): void;
  /** Why a complete-looking entry was discarded on open (a truncated or missing final file), else undefined. */
  discarded?: string;
}

function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** Size and checksum record of the final files (name → {bytes, sha256}). */
function checksumsOf(dir: string, names: string[]): Record<string, { bytes: number; sha256: string }> {
  return Object.fromEntries(names.map((n) => [n, { bytes: statSync(join(dir, n)).size, sha256: sha256File(join(dir, n)) }]));
}

const MAGIC = 'LATBATCH';

/** Cache key for a hub model: `<org>--<name>@<revision>`. */
export function modelKeyFromId(id: string, revision = 'main'): string {
  return safeName(`${id.replace(/\//g, '--')}@${revision}`);
}

const MODEL_FILE = /\.(safetensors|bin|onnx|pt|pth|gguf|msgpack|h5)$|^(tokenizer\.json|tokenizer_config\.json|vocab\.json|merges\.txt|special_tokens_map\.json|tokenizer\.model|generation_config\.json)$/;

/**
 * Cache key for a local model folder: its name plus a hash of config.json's content and the names, sizes and
 * modification times of the weight and tokenizer files (cheap: no need to read gigabytes of weights). Replacing
 * or touching a weight file changes the key.
 */
export function modelKeyFromFolder(dir: string): string {
  const h = new ContentHasher().string('latent-atlas-model-v1');
  const config = join(dir, 'config.json');
  h.string(existsSync(config) ? readFileSync(config, 'utf8') : '');
  for (const name of readdirSync(dir).sort()) {
    if (!MODEL_FILE.test(name)) continue;
    const st = statSync(join(dir, name));
    h.string(name).number(st.size).number(Math.floor(st.mtimeMs));
  }
  return `${safeName(basename(dir.replace(/[/\\]+$/, '')))}-${h.hex(16)}`;
}

/** The entry directory for a key (exposed so tools can list or clean caches). */
export function activationCacheDir(o: Pick<ActivationCacheOptions, 'root' | 'modelKey' | 'datasetHash' | 'options' | 'layers' | 'dtype'>): string {
  const optionsHash = hashJson({ version: CACHE_VERSION, options: o.options, layers: o.layers, dtype: o.dtype ?? 'float32' });
  return join(o.root, safeName(o.modelKey), safeName(o.datasetHash.slice(0, 16)), optionsHash);
}

interface BatchHeader {
  index: number;
  rows: number;
  cols: number;
  layers: number[];
  textIds: number[];
  tokenCounts: number[];
  rowText?: number[];
  rowToken?: number[];
}

interface BatchFile {
  header: BatchHeader;
  path: string;
  dataStart: number;
}

function encodeBatch(header: BatchHeader, perLayer: Float32Array[]): Uint8Array[] {
  const json = Buffer.from(JSON.stringify(header), 'utf8');
  const headLen = 16 + json.length;
  const pad = (8 - (headLen % 8)) % 8;
  const head = Buffer.alloc(headLen + pad, 0x20);
  head.write(MAGIC, 0, 'latin1');
  head.writeUInt32LE(CACHE_VERSION, 8);
  head.writeUInt32LE(json.length + pad, 12);
  json.copy(head, 16);
  return [head, ...perLayer.map((a) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength))];
}

/** Reads and checks a batch file's header; null when it is not a complete, valid batch. */
function readBatchHeader(path: string): BatchFile | null {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return null;
  }
  try {
    const pre = Buffer.alloc(16);
    if (readSync(fd, pre, 0, 16, 0) < 16 || pre.toString('latin1', 0, 8) !== MAGIC || pre.readUInt32LE(8) !== CACHE_VERSION) return null;
    const jsonLen = pre.readUInt32LE(12);
    const json = Buffer.alloc(jsonLen);
    if (readSync(fd, json, 0, jsonLen, 16) < jsonLen) return null;
    const header = JSON.parse(json.toString('utf8')) as BatchHeader;
    const dataStart = 16 + jsonLen;
    const size = statSync(path).size;
    if (size !== dataStart + header.layers.length * header.rows * header.cols * 4) return null;
    return { header, path, dataStart };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

function readFloats(fd: number, count: number, position: number, out: Float32Array, outOffset: number): void {
  const bytes = new Uint8Array(out.buffer, out.byteOffset + outOffset * 4, count * 4);
  let off = 0;
  while (off < bytes.length) {
    const n = readSync(fd, bytes, off, bytes.length - off, position + off);
    if (n === 0) throw new Error(`unexpected end of batch file at ${position + off}`);
    off += n;
  }
}

/** Removes temp files left by a write that was killed before its rename. */
function removeStaleTemps(dir: string): void {
  if (!existsSync(dir)) return;
  for (const name of readdirSync(dir)) if (name.startsWith('.') && name.includes('.tmp-')) rmSync(join(dir, name), { force: true });
}

export function openActivationCache(o: ActivationCacheOptions): ActivationCache {
  if (o.layers.length === 0) throw new AtlasError('no layers requested', { field: 'layers' });
  if (!Number.isInteger(o.numTexts) || o.numTexts < 1) throw new AtlasError(`numTexts must be a positive integer, got ${o.numTexts}`, { field: 'numTexts' });
  const dtype: CacheDType = o.dtype ?? 'float32';
  const dir = activationCacheDir(o);
  const partsDir = join(dir, 'parts');
  const manifestPath = join(partsDir, 'manifest.json');
  const metaPath = join(dir, 'meta.json');
  const layerFile = (layer: number) => `layer-${layer}.npy`;

  if (o.force) rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  removeStaleTemps(dir);
  removeStaleTemps(partsDir);

  const manifest = {
    version: CACHE_VERSION,
    modelKey: o.modelKey,
    datasetHash: o.datasetHash,
    options: o.options,
    layers: o.layers,
    dtype,
    numTexts: o.numTexts,
    plan: o.plan ?? null,
  };
  const readMeta = (): CacheMeta | null => {
    if (!existsSync(metaPath)) return null;
    try {
      const m = JSON.parse(readFileSync(metaPath, 'utf8')) as CacheMeta;
      return m.version === CACHE_VERSION ? m : null;
    } catch {
      return null;
    }
  };
  /** Why the final files do not match meta.json (missing, or another size than recorded), or undefined. */
  const damage = (m: CacheMeta): string | undefined => {
    const names = [...Object.values(m.files), ...(m.rowTextFile ? [m.rowTextFile] : []), ...(m.rowTokenFile ? [m.rowTokenFile] : [])];
    for (const f of names) {
      if (!existsSync(join(dir, f))) return `${f} is missing`;
      const want = m.checksums?.[f]?.bytes;
      const got = statSync(join(dir, f)).size;
      if (want !== undefined && got !== want) return `${f} has ${got} bytes, meta.json records ${want} (truncated or overwritten)`;
    }
    return undefined;
  };
  const isComplete = (): boolean => {
    const m = readMeta();
    return m !== null && damage(m) === undefined;
  };

  // A damaged complete entry is discarded (meta.json first, so it is never read again) and recomputed.
  let discarded: string | undefined;
  const existing = readMeta();
  if (existing) {
    discarded = damage(existing);
    if (discarded) rmSync(metaPath, { force: true });
  }

  if (!isComplete()) {
    // Parts from another plan (batch size, order) cannot be mixed with ours: drop them.
    let current = false;
    if (existsSync(manifestPath)) {
      try {
        const { created: _c, ...old } = JSON.parse(readFileSync(manifestPath, 'utf8'));
        current = stableStringify(old) === stableStringify(manifest);
      } catch {
        current = false;
      }
    }
    if (!current) {
      rmSync(partsDir, { recursive: true, force: true });
      mkdirSync(partsDir, { recursive: true });
      writeJsonAtomic(manifestPath, { ...manifest, created: new Date().toISOString() });
    }
  }

  const batchPath = (i: number) => join(partsDir, `batch-${i}.bin`);
  const listBatches = (): BatchFile[] => {
    if (!existsSync(partsDir)) return [];
    const out: BatchFile[] = [];
    for (const name of readdirSync(partsDir)) {
      const m = /^batch-(\d+)\.bin$/.exec(name);
      if (!m) continue;
      const b = readBatchHeader(join(partsDir, name));
      if (b && b.header.index === Number(m[1]) && stableStringify(b.header.layers) === stableStringify(o.layers)) out.push(b);
      else rmSync(join(partsDir, name), { force: true }); // not ours or damaged: it will be recomputed
    }
    return out.sort((a, b) => a.header.index - b.header.index);
  };

  const cache: ActivationCache = {
    dir,
    discarded,
    isComplete,
    finishedBatches: () => new Set(listBatches().map((b) => b.header.index)),

    writeBatch(index, perLayer, rows) {
      if (!Number.isInteger(index) || index < 0) throw new Error(`batch index must be a non-negative integer, got ${index}`);
      if (perLayer.length !== o.layers.length) throw new Error(`writeBatch: ${perLayer.length} layer arrays for ${o.layers.length} layers`);
      if (rows.tokenCounts.length !== rows.textIds.length) throw new Error('writeBatch: tokenCounts and textIds differ in length');
      const nRows = rows.rowText ? rows.rowText.length : rows.textIds.length;
      if (rows.rowToken && rows.rowToken.length !== nRows) throw new Error('writeBatch: rowToken length differs from the row count');
      if (nRows === 0 || perLayer[0].length % nRows !== 0) throw new Error(`writeBatch: ${perLayer[0].length} values are not ${nRows} whole rows`);
      const cols = perLayer[0].length / nRows;
      for (const a of perLayer) if (a.length !== nRows * cols) throw new Error('writeBatch: layer arrays differ in size');
      for (const t of rows.textIds) if (!Number.isInteger(t) || t < 0 || t >= o.numTexts) throw new Error(`writeBatch: text index ${t} outside 0..${o.numTexts - 1}`);
      if (rows.rowText) {
        const ids = new Set(rows.textIds);
        for (const t of rows.rowText) if (!ids.has(t)) throw new Error(`writeBatch: rowText ${t} is not one of the batch's textIds`);
      }
      const header: BatchHeader = { index, rows: nRows, cols, layers: o.layers, textIds: rows.textIds, tokenCounts: rows.tokenCounts };
      if (rows.rowText) header.rowText = rows.rowText;
      if (rows.rowToken) header.rowToken = rows.rowToken;
      mkdirSync(partsDir, { recursive: true });
      writeFileAtomic(batchPath(index), encodeBatch(header, perLayer));
    },

    finalize(extraMeta = {}) {
      const batches = listBatches();
      if (batches.length === 0) throw new Error(`finalize: no batches in ${partsDir}`);
      const cols = batches[0].header.cols;
      if (batches.some((b) => b.header.cols !== cols)) throw new Error('finalize: batches differ in hidden size');
      // Every text exactly once.
      const tokenCounts = new Array<number>(o.numTexts).fill(-1);
      for (const b of batches) {
        b.header.textIds.forEach((t, j) => {
          if (tokenCounts[t] !== -1) throw new Error(`finalize: text ${t} appears in more than one batch (batch ${b.header.index})`);
          tokenCounts[t] = b.header.tokenCounts[j];
        });
      }
      const missing = tokenCounts.findIndex((c) => c === -1);
      if (missing >= 0) throw new Error(`finalize: text ${missing} is in no finished batch (finished: ${batches.map((b) => b.header.index).join(', ')})`);

      // Final row order: by text index, keeping each batch's own order for the rows of one text.
      const entries: { text: number; batch: number; row: number; token: number }[] = [];
      let multiRow = false;
      let hasToken = false;
      batches.forEach((b, bi) => {
        const h = b.header;
        if (h.rowText) multiRow = true;
        if (h.rowToken) hasToken = true;
        for (let r = 0; r < h.rows; r++) entries.push({ text: h.rowText ? h.rowText[r] : h.textIds[r], batch: bi, row: r, token: h.rowToken ? h.rowToken[r] : -1 });
      });
      entries.sort((a, b) => a.text - b.text || a.batch - b.batch || a.row - b.row);
      if (!multiRow && entries.length !== o.numTexts) throw new Error('finalize: row count differs from the number of texts');
      const nRows = entries.length;

      const written: string[] = [];
      const files: Record<string, string> = {};
      const fds = batches.map((b) => openSync(b.path, 'r'));
      try {
        // Destination row of each (batch, row): batches are read whole, one layer block at a time.
        const dest = batches.map((b) => new Int32Array(b.header.rows));
        entries.forEach((e, i) => (dest[e.batch][e.row] = i));
        const block = new Float32Array(Math.max(...batches.map((b) => b.header.rows)) * cols);
        o.layers.forEach((layer, k) => {
          const out = new Float32Array(nRows * cols);
          batches.forEach((b, bi) => {
            const n = b.header.rows * cols;
            readFloats(fds[bi], n, b.dataStart + k * n * 4, block, 0);
            for (let r = 0; r < b.header.rows; r++) out.set(block.subarray(r * cols, (r + 1) * cols), dest[bi][r] * cols);
          });
          const name = layerFile(layer);
          writeNpy(join(dir, name), out, [nRows, cols], { dtype: dtype === 'float16' ? '<f2' : '<f4' });
          files[String(layer)] = name;
          written.push(join(dir, name));
        });
      } finally {
        for (const fd of fds) closeSync(fd);
      }
      const meta: CacheMeta = {
        ...extraMeta,
        version: CACHE_VERSION,
        created: new Date().toISOString(),
        modelKey: o.modelKey,
        datasetHash: o.datasetHash,
        options: o.options,
        layers: o.layers,
        dtype,
        rows: nRows,
        cols,
        numTexts: o.numTexts,
        tokenCounts,
        files,
      };
      if (multiRow) {
        writeNpy(join(dir, 'row-text.npy'), Int32Array.from(entries, (e) => e.text), [nRows]);
        meta.rowTextFile = 'row-text.npy';
        written.push(join(dir, 'row-text.npy'));
      }
      if (hasToken) {
        writeNpy(join(dir, 'row-token.npy'), Int32Array.from(entries, (e) => e.token), [nRows]);
        meta.rowTokenFile = 'row-token.npy';
        written.push(join(dir, 'row-token.npy'));
      }
      meta.checksums = checksumsOf(dir, written.map((p) => basename(p)));
      writeJsonAtomic(metaPath, meta); // last: from here on the entry is complete
      written.push(metaPath);
      rmSync(partsDir, { recursive: true, force: true });
      return written;
    },

    readLayer(layer) {
      const m = readMeta();
      if (!m) throw new AtlasError('the cache entry is not complete', { file: dir, hint: 'run the extraction first' });
      const name = m.files[String(layer)];
      if (!name) throw new AtlasError(`layer ${layer} is not in this cache entry`, { file: metaPath, field: 'layers', hint: `cached layers: ${m.layers.join(', ')}` });
      const want = m.checksums?.[name]?.sha256;
      if (want !== undefined && sha256File(join(dir, name)) !== want) {
        throw new AtlasError('the cached file does not match the checksum recorded in meta.json (damaged or modified after extraction)', { file: join(dir, name), hint: 'rerun with --force to recompute it' });
      }
      const { shape, data } = readNpyF32(join(dir, name));
      return { data, rows: shape[0], cols: shape[1] };
    },

    meta: readMeta,

    clear() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return cache;
}

/**
 * Copies the finished batches of `from` into `to` (both opened with the same key and plan, e.g. one shard of a
 * distributed extraction and the ordinary cache entry it is merged into). Each copy is written atomically and
 * checked first: a damaged or foreign batch file is an error, not a silent hole. Returns the batch numbers.
 */
export function copyFinishedBatches(from: ActivationCache, to: ActivationCache): number[] {
  const src = join(from.dir, 'parts');
  const copied: number[] = [];
  for (const name of existsSync(src) ? readdirSync(src).sort() : []) {
    const m = /^batch-(\d+)\.bin$/.exec(name);
    if (!m) continue;
    const b = readBatchHeader(join(src, name));
    if (!b || b.header.index !== Number(m[1])) throw new AtlasError('is not a complete batch file', { file: join(src, name), hint: 'recompute this shard' });
    writeFileAtomic(join(to.dir, 'parts', name), readFileSync(b.path));
    copied.push(b.header.index);
  }
  return copied.sort((a, b) => a - b);
}
