/**
 * Labelled text datasets: loading (CSV, TSV, JSON Lines, plain text, Hugging Face save_to_disk folders, built-in
 * demo sets), validation with errors that name the file, the line/row, the column and the fix, per-label seeded
 * sampling, and a content hash that keys the activation cache.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { AtlasError } from '../errors.ts';
import { ContentHasher } from './hash.ts';
import { writeFileAtomic } from './atomic.ts';
import { decodeUtf8Strict, parsePlainText, type RawTable } from './formats/text.ts';
import { parseDelimited } from './formats/csv.ts';
import { parseJsonArray, parseJsonLines } from './formats/jsonl.ts';
import { isHuggingFaceFolder, readArrowFile, readHuggingFaceFolder } from './formats/arrow.ts';
import { builtinDatasetFile, BUILTIN_PREFIX } from './builtin.ts';

/** Character span [start, end) in UTF-16 code units (JavaScript string indices, as `text.slice(start, end)`). */
export interface CharSpan {
  start: number;
  end: number;
}

export interface Dataset {
  name: string;
  texts: string[];
  /** Index into `classNames` per text; null for unlabelled data (plain text). */
  labels: number[] | null;
  /** Class names in order of first appearance in the (sampled) data (a Hugging Face ClassLabel column gives the names, not the integer ids). */
  classNames: string[];
  /** Where it was loaded from (path or builtin:<name>). */
  source: string;
  /** sha256 (hex) over the (text, label, match span) content; equal content gives an equal hash wherever it lives. */
  hash: string;
  /** Span of the regex match per text (for 'match' aggregation), when the source has one. */
  matches?: CharSpan[];
  /** Problems that do not stop loading (e.g. a label with a single sample). */
  warnings: string[];
}

export type DatasetFormat = 'csv' | 'tsv' | 'jsonl' | 'json' | 'text' | 'hf' | 'arrow';

export interface LoadDatasetOptions {
  /** Column holding the text. Default 'text'. */
  textColumn?: string;
  /**
   * Column holding the label. Default 'label'; when the default column is absent the data is loaded unlabelled
   * (with a warning). null: ignore labels. A column named explicitly must exist.
   */
  labelColumn?: string | null;
  /** Default: from the extension (.csv .tsv .jsonl/.ndjson .json .txt .arrow; a folder = Hugging Face save_to_disk). */
  format?: DatasetFormat;
  /** Keep at most this many samples per label (all samples when unlabelled), chosen by a seeded shuffle. Default: all. */
  numSamples?: number;
  /** Seed for the sampling shuffle. Default 0. */
  seed?: number;
  /** Split of a Hugging Face DatasetDict folder. Default 'train' (else the first split). */
  split?: string;
  /**
   * Match span columns (character offsets, end exclusive). Default 'match_start' / 'match_end'; used when present.
   */
  matchStartColumn?: string;
  matchEndColumn?: string;
  /** Regex whose first match in each text gives the match span (overrides span columns). Every text must match. */
  matchRegex?: string;
  /** Rows without a text column are loaded with empty texts (label files for activations computed elsewhere). Default false. */
  textOptional?: boolean;
}

const EXTENSIONS: Record<string, DatasetFormat> = {
  '.csv': 'csv',
  '.tsv': 'tsv',
  '.tab': 'tsv',
  '.jsonl': 'jsonl',
  '.ndjson': 'jsonl',
  '.json': 'json',
  '.txt': 'text',
  '.text': 'text',
  '.arrow': 'arrow',
};

function detectFormat(path: string): DatasetFormat {
  if (statSync(path).isDirectory()) {
    if (isHuggingFaceFolder(path)) return 'hf';
    throw new AtlasError('a folder, but not a Hugging Face save_to_disk folder (no state.json / dataset_info.json)', {
      file: path,
      hint: 'point to a data file, or to the folder written by Dataset.save_to_disk',
    });
  }
  const format = EXTENSIONS[extname(path).toLowerCase()];
  if (!format) {
    throw new AtlasError(`cannot tell the format from the extension '${extname(path)}'`, {
      file: path,
      field: 'format',
      hint: 'use .csv, .tsv, .jsonl, .json, .txt or .arrow, or pass --format csv|tsv|jsonl|json|text|hf|arrow (format in the API)',
    });
  }
  return format;
}

function readRaw(path: string, format: DatasetFormat, wanted: string[], opts: LoadDatasetOptions, textColumn: string): RawTable {
  if (format === 'hf') return readHuggingFaceFolder(path, wanted, opts.split);
  if (format === 'arrow') return readArrowFile(path, wanted);
  const bytes = readFileSync(path);
  if (bytes.length === 0) throw new AtlasError('the file is empty (0 bytes)', { file: path });
  const text = decodeUtf8Strict(bytes, path);
  if (text.trim() === '') throw new AtlasError('the file is empty (only whitespace)', { file: path });
  switch (format) {
    case 'csv':
      return parseDelimited(text, ',', path);
    case 'tsv':
      return parseDelimited(text, '\t', path);
    case 'jsonl':
      return parseJsonLines(text, path);
    case 'json':
      return text.trimStart().startsWith('[') ? parseJsonArray(text, path) : parseJsonLines(text, path);
    case 'text':
      return parsePlainText(text, path, textColumn);
  }
}

/** Loads, validates and (optionally) samples a dataset. `source` is a path or `builtin:<name>`. */
export async function loadDataset(source: string, opts: LoadDatasetOptions = {}): Promise<Dataset> {
  let path = source;
  let name: string;
  if (source.startsWith(BUILTIN_PREFIX)) {
    name = source.slice(BUILTIN_PREFIX.length);
    path = builtinDatasetFile(name);
  } else {
    if (!existsSync(source)) throw new AtlasError('dataset not found', { file: source, hint: 'check the path, or use builtin:days, builtin:months, builtin:topics' });
    name = source.replace(/[/\\]+$/, '').split(/[/\\]/).pop()!.replace(/\.[^.]+$/, '');
  }
  const format = opts.format ?? detectFormat(path);
  const textColumn = opts.textColumn ?? 'text';
  const labelOption = opts.labelColumn === undefined ? 'label' : opts.labelColumn;
  const startCol = opts.matchStartColumn ?? 'match_start';
  const endCol = opts.matchEndColumn ?? 'match_end';
  const wanted = [textColumn, ...(labelOption ? [labelOption] : []), startCol, endCol];
  const raw = readRaw(path, format, wanted, opts, textColumn);
  const warnings = [...raw.warnings];

  const available = () => `available columns: ${raw.columns.join(', ') || '(none)'}`;
  const hasText = raw.columns.includes(textColumn);
  if (!hasText && !opts.textOptional) {
    throw new AtlasError(`no text column '${textColumn}'`, { file: path, field: 'textColumn', hint: `${available()}; choose one with --text-column (textColumn in the API)` });
  }
  let labelColumn: string | null = labelOption;
  if (labelColumn && !raw.columns.includes(labelColumn)) {
    if (format !== 'text' && opts.labelColumn !== undefined) {
      throw new AtlasError(`no label column '${labelColumn}'`, { file: path, field: 'labelColumn', hint: `${available()}; or set labelColumn to null for unlabelled data` });
    }
    if (format !== 'text') warnings.push(`${path}: no 'label' column (${available()}); loaded without labels`);
    labelColumn = null;
  }
  const hasSpanColumns = !opts.matchRegex && raw.columns.includes(startCol) && raw.columns.includes(endCol);
  const matchRegex = opts.matchRegex ? compileUserRegex(opts.matchRegex) : null;
  const classLabelNames = labelColumn ? raw.classLabels?.[labelColumn] : undefined;

  const texts: string[] = [];
  const labelNames: string[] = [];
  const matches: CharSpan[] = [];
  for (const rec of raw.records) {
    const t = hasText ? rec.values[textColumn] : '';
    if (!hasText) {
      texts.push('');
      if (labelColumn) labelNames.push(labelName(rec.values[labelColumn], rec.where, path, labelColumn, classLabelNames));
      continue;
    }
    if (t === undefined || t === null || (typeof t === 'string' && t.trim() === '')) {
      throw new AtlasError(`${rec.where}: empty or missing text in column '${textColumn}'`, { file: path, field: textColumn, hint: 'remove the row or fill in the text' });
    }
    if (typeof t !== 'string') {
      throw new AtlasError(`${rec.where}: text must be a string, found ${typeof t}`, { file: path, field: textColumn });
    }
    texts.push(t);
    if (labelColumn) labelNames.push(labelName(rec.values[labelColumn], rec.where, path, labelColumn, classLabelNames));
    if (matchRegex) {
      const m = matchRegex.exec(t);
      if (!m) throw new AtlasError(`${rec.where}: the text does not match ${matchRegex}`, { file: path, field: 'matchRegex', hint: 'every text needs a match for match aggregation' });
      matches.push({ start: m.index, end: m.index + m[0].length });
    } else if (hasSpanColumns) {
      matches.push(spanOf(rec.values[startCol], rec.values[endCol], t, rec.where, path, startCol));
    }
  }
  if (texts.length === 0) throw new AtlasError('the dataset has no samples', { file: path });

  const keep = sampleIndices(labelColumn ? labelNames : null, texts.length, opts.numSamples, opts.seed ?? 0);
  const dataset = assembleDataset({
    name,
    source,
    texts: keep.map((i) => texts[i]),
    labelNames: labelColumn ? keep.map((i) => labelNames[i]) : null,
    matches: matchRegex || hasSpanColumns ? keep.map((i) => matches[i]) : undefined,
    warnings,
  });
  if (opts.numSamples !== undefined && dataset.labels) {
    const counts = countPerClass(dataset);
    dataset.classNames.forEach((c, k) => {
      if (counts[k] < opts.numSamples!) dataset.warnings.push(`${path}: label '${c}' has only ${counts[k]} sample(s), fewer than numSamples=${opts.numSamples}`);
    });
  }
  return dataset;
}

function labelName(v: unknown, where: string, file: string, column: string, classNames?: string[]): string {
  if (v === undefined || v === null || (typeof v === 'string' && v.trim() === '') || (classNames && v === -1)) {
    throw new AtlasError(`${where}: empty or missing label in column '${column}'`, { file, field: column, hint: 'give every row a label, or drop unlabelled rows' });
  }
  if (classNames) {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= classNames.length) {
      throw new AtlasError(`${where}: label ${String(v)} is not a class index of the ClassLabel feature (0..${classNames.length - 1})`, { file, field: column });
    }
    return classNames[v];
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new AtlasError(`${where}: label must be a string or number, found ${Array.isArray(v) ? 'an array' : typeof v}`, { file, field: column });
}

function spanOf(s: unknown, e: unknown, text: string, where: string, file: string, field: string): CharSpan {
  const start = typeof s === 'string' ? Number(s) : s;
  const end = typeof e === 'string' ? Number(e) : e;
  if (typeof start !== 'number' || typeof end !== 'number' || !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end <= start || end > text.length) {
    throw new AtlasError(`${where}: match span [${String(s)}, ${String(e)}) is not inside the text (length ${text.length})`, {
      file,
      field,
      hint: 'spans are character offsets, start inclusive, end exclusive',
    });
  }
  return { start, end };
}

/**
 * Accepts `pattern` or `/pattern/flags` (--match-regex). A pattern that does not compile is one clear line naming
 * the flag; `g`/`y` are dropped because they make `exec` stateful (each text would start where the last match
 * of the previous text ended).
 */
export function compileUserRegex(source: string): RegExp {
  const lit = /^\/(.*)\/([a-z]*)$/s.exec(source);
  try {
    return lit ? new RegExp(lit[1], lit[2].replace(/[gy]/g, '')) : new RegExp(source);
  } catch (e) {
    throw new AtlasError(`--match-regex '${source}' is not a valid regular expression: ${(e as Error).message.replace(/^Invalid regular expression: /, '')}`, {
      field: 'match-regex', hint: 'JavaScript RegExp syntax, as `pattern` or `/pattern/flags` (flags i, m, s, u)',
    });
  }
}

/** splitmix32: a tiny, well-mixed seeded PRNG in [0, 1). Deterministic across platforms (pure 32-bit integer ops). */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 4294967296;
  };
}

/** Fisher–Yates with a seeded generator. */
export function seededShuffle<T>(items: T[], seed: number): T[] {
  const out = items.slice();
  const rand = seededRandom(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/**
 * Indices kept by per-label sampling, in original order: each label's rows are shuffled with the seed and the
 * first `numSamples` kept, so the choice depends only on (data, numSamples, seed).
 */
function sampleIndices(labels: string[] | null, count: number, numSamples: number | undefined, seed: number): number[] {
  const all = Array.from({ length: count }, (_, i) => i);
  if (numSamples === undefined) return all;
  if (!Number.isInteger(numSamples) || numSamples < 1) {
    throw new AtlasError(`numSamples must be a positive integer, got ${numSamples}`, { field: 'numSamples' });
  }
  const groups = new Map<string, number[]>();
  for (const i of all) {
    const key = labels ? labels[i] : '';
    let g = groups.get(key);
    if (!g) groups.set(key, (g = []));
    g.push(i);
  }
  const keep: number[] = [];
  for (const g of groups.values()) keep.push(...seededShuffle(g, seed).slice(0, numSamples));
  return keep.sort((a, b) => a - b);
}

export interface AssembleDatasetInput {
  name: string;
  source: string;
  texts: string[];
  /** Label name per text, or null when unlabelled. */
  labelNames: string[] | null;
  matches?: CharSpan[];
  warnings?: string[];
}

/** Builds a Dataset from texts and label names: class indices in order of first appearance, hash, warnings. */
export function assembleDataset(input: AssembleDatasetInput): Dataset {
  const warnings = [...(input.warnings ?? [])];
  let labels: number[] | null = null;
  const classNames: string[] = [];
  if (input.labelNames) {
    const index = new Map<string, number>();
    labels = input.labelNames.map((n) => {
      let k = index.get(n);
      if (k === undefined) {
        k = classNames.length;
        index.set(n, k);
        classNames.push(n);
      }
      return k;
    });
    const counts = new Array<number>(classNames.length).fill(0);
    for (const k of labels) counts[k]++;
    classNames.forEach((c, k) => {
      if (counts[k] === 1) warnings.push(`${input.source}: label '${c}' has only one sample (per-class statistics and probes need at least two)`);
    });
  }
  const dataset: Dataset = { name: input.name, texts: input.texts, labels, classNames, source: input.source, hash: '', warnings };
  if (input.matches) dataset.matches = input.matches;
  dataset.hash = datasetHash(dataset);
  return dataset;
}

/** sha256 over the content: each text with its label name and match span (not the name, path or format). */
export function datasetHash(d: Pick<Dataset, 'texts' | 'labels' | 'classNames' | 'matches'>): string {
  const h = new ContentHasher().string('latent-atlas-dataset-v1').number(d.texts.length);
  for (let i = 0; i < d.texts.length; i++) {
    h.string(d.texts[i]);
    h.string(d.labels ? d.classNames[d.labels[i]] : '');
    if (d.matches) h.number(d.matches[i].start).number(d.matches[i].end);
  }
  h.string(d.labels ? 'labelled' : 'unlabelled').string(d.matches ? 'spans' : 'no-spans');
  return h.hex();
}

export function countPerClass(d: Dataset): number[] {
  const counts = new Array<number>(d.classNames.length).fill(0);
  for (const k of d.labels ?? []) counts[k]++;
  return counts;
}

/** Writes a dataset as JSON Lines (text, label, match_start, match_end) that loadDataset reads back unchanged. */
export function writeDatasetJsonl(d: Dataset, path: string): void {
  const lines = d.texts.map((text, i) => {
    const row: Record<string, unknown> = { text };
    if (d.labels) row.label = d.classNames[d.labels[i]];
    if (d.matches) {
      row.match_start = d.matches[i].start;
      row.match_end = d.matches[i].end;
    }
    return JSON.stringify(row);
  });
  writeFileAtomic(path, `${lines.join('\n')}\n`);
}

/** One CSV field per RFC 4180: quoted when it holds a comma, a quote, CR or LF (quotes doubled). */
function csvField(v: string | number): string {
  const t = String(v);
  return /[",\r\n]/.test(t) ? `"${t.replace(/"/g, '""')}"` : t;
}

/**
 * Writes a dataset as CSV (text, label, match_start, match_end, then any extra columns given per row) that
 * loadDataset reads back unchanged (match spans included).
 */
export function writeDatasetCsv(d: Dataset, path: string, extra: Record<string, (string | number)[]> = {}): void {
  const cols = ['text', ...(d.labels ? ['label'] : []), ...(d.matches ? ['match_start', 'match_end'] : []), ...Object.keys(extra)];
  const lines = d.texts.map((text, i) => {
    const row: (string | number)[] = [text];
    if (d.labels) row.push(d.classNames[d.labels[i]!]!);
    if (d.matches) row.push(d.matches[i]!.start, d.matches[i]!.end);
    for (const v of Object.values(extra)) row.push(v[i]!);
    return row.map(csvField).join(',');
  });
  writeFileAtomic(path, `${cols.join(',')}\n${lines.join('\n')}\n`);
}
