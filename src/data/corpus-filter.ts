/**
 * Corpus filtering: stream a large text corpus (a file, or a folder of .txt files read in sorted path order)
 * and keep the texts that match one of a set of labelled regular expressions, at most `maxPerLabel` per label,
 * recording the character span of the match (for 'match' aggregation). The corpus is never held in memory:
 * it is read in 1 MiB chunks, decoded strictly as UTF-8 and split into lines; reading stops as soon as every
 * label is full.
 */
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { assembleDataset, type CharSpan, type Dataset } from './dataset.ts';
import { BUILTIN_PATTERN_SETS, BUILTIN_PREFIX } from './builtin.ts';
import { invalidUtf8Error } from './formats/text.ts';

export interface LabelledPattern {
  label: string;
  regex: RegExp;
}

export interface CorpusFilterOptions {
  /**
   * The labelled patterns: a patterns file (JSON `{"label": "regex"}`, or TSV lines `label<TAB>regex`; a regex may
   * be written `/source/flags`), `builtin:days` / `builtin:months`, or an object label → regex source.
   */
  patterns: string | Record<string, string>;
  /** Keep at most this many texts per label. Default 100. */
  maxPerLabel?: number;
  /**
   * What one text is: 'line' (default) or 'sentence' (each line split after . ! ? followed by whitespace; sentences
   * do not continue across lines, so the corpus should hold one paragraph per line).
   */
  unit?: 'line' | 'sentence';
  /** Texts that match patterns of two or more labels: 'skip' them (default: the label would be ambiguous) or keep the 'first' label in pattern order. */
  ambiguous?: 'skip' | 'first';
  /** Drop repeated identical texts (boilerplate lines). Default true. */
  dedupe?: boolean;
  /** Ignore texts shorter / longer than this many characters (after trimming). Defaults 1 and Infinity. */
  minChars?: number;
  maxChars?: number;
  /** Lines that are not valid UTF-8: 'error' (default, naming file and line) or 'skip' them (counted in stats). */
  invalidUtf8?: 'error' | 'skip';
  /** Dataset name. Default 'corpus'. */
  name?: string;
  /**
   * How a match becomes a text. 'span' (default, ours): the whole text is kept and the match span recorded.
   * 'cut' (the seed-001 notebook's rule): patterns match case-insensitively, a match counts only when bounded by
   * non-word characters (or the text's ends), and the text is cut to end right after the keyword, so that the
   * final token is the keyword (aggregation 'final' then reads the keyword's state).
   */
  rule?: 'span' | 'cut';
  /** Called with the number of bytes read so far (progress). */
  onProgress?: (bytesRead: number) => void;
}

export interface CorpusFilterStats {
  filesRead: number;
  linesRead: number;
  keptPerLabel: Record<string, number>;
  skippedAmbiguous: number;
  skippedDuplicates: number;
  skippedInvalidUtf8: number;
  /** True when reading stopped early because every label reached maxPerLabel. */
  stoppedEarly: boolean;
}

export interface CorpusFilterResult {
  /** Labelled texts with `matches` set; warnings include labels whose pattern never matched. */
  dataset: Dataset;
  /** Where each kept text came from (file and 1-based line). */
  origins: { file: string; line: number }[];
  stats: CorpusFilterStats;
}

/** Compiles a pattern; `g`/`y` flags are dropped (they make `exec` stateful). */
function compile(source: string, label: string, file: string): RegExp {
  const lit = /^\/(.*)\/([a-z]*)$/s.exec(source);
  let regex: RegExp;
  try {
    regex = lit ? new RegExp(lit[1], lit[2].replace(/[gy]/g, '')) : new RegExp(source);
  } catch (e) {
    throw new AtlasError(`invalid regular expression for label '${label}': ${(e as Error).message}`, { file, field: label, hint: 'fix the pattern (JavaScript RegExp syntax)' });
  }
  if (regex.test('')) {
    throw new AtlasError(`the pattern for label '${label}' matches the empty string, so it would match every text`, { file, field: label, hint: 'require at least one character, e.g. \\bword\\b' });
  }
  return regex;
}

/** Reads the labelled patterns from a file, a built-in set, or an object (label order = file order). */
export function loadPatterns(spec: string | Record<string, string>): LabelledPattern[] {
  let entries: [string, string][];
  let file: string;
  if (typeof spec !== 'string') {
    file = '(patterns option)';
    entries = Object.entries(spec);
  } else if (spec.startsWith(BUILTIN_PREFIX)) {
    const set = BUILTIN_PATTERN_SETS[spec.slice(BUILTIN_PREFIX.length)];
    if (!set) throw new AtlasError(`unknown built-in pattern set '${spec}'`, { field: 'patterns', hint: `available: ${Object.keys(BUILTIN_PATTERN_SETS).map((k) => BUILTIN_PREFIX + k).join(', ')}` });
    file = spec;
    entries = Object.entries(set);
  } else {
    file = spec;
    if (!existsSync(spec)) throw new AtlasError('patterns file not found', { file: spec, field: 'patterns' });
    const text = readFileSync(spec, 'utf8');
    entries = extname(spec).toLowerCase() === '.json' ? jsonPatterns(text, spec) : tsvPatterns(text, spec);
  }
  if (entries.length === 0) throw new AtlasError('no patterns defined', { file, field: 'patterns' });
  const seen = new Set<string>();
  return entries.map(([label, source]) => {
    if (label.trim() === '') throw new AtlasError('a pattern has an empty label', { file, field: 'patterns' });
    if (seen.has(label)) throw new AtlasError(`label '${label}' is defined twice`, { file, field: label, hint: 'combine the patterns with |' });
    seen.add(label);
    return { label, regex: compile(source, label, file) };
  });
}

function jsonPatterns(text: string, file: string): [string, string][] {
  let obj: unknown;
  try {
    obj = JSON.parse(text);
  } catch (e) {
    throw new AtlasError(`not valid JSON (${(e as Error).message})`, { file, hint: 'expected {"label": "regex", ...}' });
  }
  if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new AtlasError('expected a JSON object {"label": "regex", ...}', { file });
  return Object.entries(obj).map(([label, v]) => {
    if (typeof v !== 'string') throw new AtlasError(`the pattern for label '${label}' must be a string`, { file, field: label });
    return [label, v];
  });
}

function tsvPatterns(text: string, file: string): [string, string][] {
  const out: [string, string][] = [];
  text.split(/\r?\n/).forEach((line, i) => {
    if (line.trim() === '' || line.startsWith('#')) return;
    const tab = line.indexOf('\t');
    if (tab < 0) throw new AtlasError(`line ${i + 1}: expected label<TAB>regex`, { file, hint: 'separate the label and the regex with a tab, or use a .json file' });
    out.push([line.slice(0, tab), line.slice(tab + 1)]);
  });
  return out;
}

/** Corpus files: the file itself, or every .txt file under the folder (recursively) in sorted path order. */
export function corpusFiles(corpus: string): string[] {
  if (!existsSync(corpus)) throw new AtlasError('corpus not found', { file: corpus, field: 'corpus' });
  if (!statSync(corpus).isDirectory()) return [corpus];
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.toLowerCase().endsWith('.txt')) out.push(p);
    }
  };
  walk(corpus);
  if (out.length === 0) throw new AtlasError('the folder holds no .txt files', { file: corpus, field: 'corpus' });
  return out;
}

const strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Calls `onLine(text, lineNo)` for each line of `file` (without '\r\n'), reading in chunks. Return false to stop.
 * Invalid UTF-8 lines throw (naming the line) or are skipped via `onInvalid`.
 */
export async function forEachLine(
  file: string,
  onLine: (line: string, lineNo: number) => boolean | void,
  onInvalid?: (lineNo: number) => void,
): Promise<void> {
  const stream = createReadStream(file, { highWaterMark: 1 << 20 });
  let carry: Buffer | null = null;
  let lineNo = 0;
  let stop = false;
  let first = true;
  // Emits complete lines in `bytes` (which holds whole lines separated by '\n', without a final one).
  const emit = (bytes: Buffer): void => {
    let text: string | null = null;
    try {
      text = strict.decode(bytes);
    } catch {
      text = null;
    }
    if (first && text !== null && text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    first = false;
    if (text !== null) {
      for (const raw of text.split('\n')) {
        lineNo++;
        if (onLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw, lineNo) === false) {
          stop = true;
          return;
        }
      }
      return;
    }
    // Slow path: decode line by line to find (and report or skip) the bad ones.
    let start = 0;
    for (let i = 0; i <= bytes.length; i++) {
      if (i < bytes.length && bytes[i] !== 0x0a) continue;
      lineNo++;
      const lineBytes = bytes.subarray(start, i);
      start = i + 1;
      let raw: string;
      try {
        raw = strict.decode(lineBytes);
      } catch {
        if (!onInvalid) {
          const err = invalidUtf8Error(lineBytes, file, lineNo);
          throw err;
        }
        onInvalid(lineNo);
        continue;
      }
      if (onLine(raw.endsWith('\r') ? raw.slice(0, -1) : raw, lineNo) === false) {
        stop = true;
        return;
      }
    }
  };
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const buf: Buffer = carry ? Buffer.concat([carry, chunk]) : chunk;
      const nl = buf.lastIndexOf(0x0a);
      if (nl < 0) {
        carry = buf;
        continue;
      }
      carry = Buffer.from(buf.subarray(nl + 1));
      emit(buf.subarray(0, nl));
      if (stop) return;
    }
    if (carry && carry.length > 0) emit(carry);
  } finally {
    stream.destroy();
  }
}

/** Splits a line into sentences after . ! ? (and closing quotes/brackets) followed by whitespace. */
export function splitSentences(line: string): { text: string; offset: number }[] {
  const out: { text: string; offset: number }[] = [];
  const re = /[.!?]["')\]]*\s+/g;
  let start = 0;
  for (let m = re.exec(line); m; m = re.exec(line)) {
    const end = m.index + m[0].length;
    out.push({ text: line.slice(start, end).trimEnd(), offset: start });
    start = end;
  }
  if (start < line.length) out.push({ text: line.slice(start), offset: start });
  return out;
}

/** Streams the corpus and keeps the texts that match the labelled patterns. */
export async function filterCorpus(corpus: string, opts: CorpusFilterOptions): Promise<CorpusFilterResult> {
  const patterns = loadPatterns(opts.patterns);
  const maxPerLabel = opts.maxPerLabel ?? 100;
  if (!Number.isInteger(maxPerLabel) || maxPerLabel < 1) throw new AtlasError(`maxPerLabel must be a positive integer, got ${maxPerLabel}`, { field: 'maxPerLabel' });
  const unit = opts.unit ?? 'line';
  const ambiguous = opts.ambiguous ?? 'skip';
  const dedupe = opts.dedupe ?? true;
  const minChars = opts.minChars ?? 1;
  const maxChars = opts.maxChars ?? Infinity;
  const files = corpusFiles(corpus);
  const rule = opts.rule ?? 'span';
  if (rule !== 'span' && rule !== 'cut') throw new AtlasError(`rule must be 'span' or 'cut', got '${String(rule)}'`, { field: 'rule' });
  // The cut rule scans every match of a case-insensitive copy of each pattern for one bounded by non-word characters.
  const scanners = rule === 'cut' ? patterns.map((p) => new RegExp(p.regex.source, p.regex.flags.replace(/[gyi]/g, '') + 'gi')) : null;
  const firstMatch = (k: number, text: string): CharSpan | null => {
    if (!scanners) {
      const m = patterns[k]!.regex.exec(text);
      return m ? { start: m.index, end: m.index + m[0].length } : null;
    }
    const re = scanners[k]!;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m[0].length === 0) { re.lastIndex++; continue; }
      const start = m.index, end = m.index + m[0].length;
      if ((start === 0 || !/\w/.test(text[start - 1]!)) && (end === text.length || !/\w/.test(text[end]!))) return { start, end };
    }
    return null;
  };
  let bytesRead = 0;

  const texts: string[] = [];
  const labelNames: string[] = [];
  const matches: CharSpan[] = [];
  const origins: { file: string; line: number }[] = [];
  const kept = new Map<string, number>(patterns.map((p) => [p.label, 0]));
  const everMatched = new Set<string>();
  const seen = new Set<string>();
  let full = 0;
  const stats: CorpusFilterStats = {
    filesRead: 0,
    linesRead: 0,
    keptPerLabel: {},
    skippedAmbiguous: 0,
    skippedDuplicates: 0,
    skippedInvalidUtf8: 0,
    stoppedEarly: false,
  };

  const consider = (candidate: string, file: string, line: number): void => {
    // Trim, keeping span offsets relative to the trimmed text.
    let text = candidate.trim();
    if (text.length < minChars || text.length > maxChars) return;
    let hit: { label: string; span: CharSpan } | null = null;
    let labelsHit = 0;
    for (let k = 0; k < patterns.length; k++) {
      const span = firstMatch(k, text);
      if (!span) continue;
      everMatched.add(patterns[k]!.label);
      labelsHit++;
      if (!hit) hit = { label: patterns[k]!.label, span };
    }
    if (!hit) return;
    if (rule === 'cut') text = text.slice(0, hit.span.end);
    if (labelsHit > 1 && ambiguous === 'skip') {
      stats.skippedAmbiguous++;
      return;
    }
    const count = kept.get(hit.label)!;
    if (count >= maxPerLabel) return;
    if (dedupe) {
      if (seen.has(text)) {
        stats.skippedDuplicates++;
        return;
      }
      seen.add(text);
    }
    kept.set(hit.label, count + 1);
    if (count + 1 === maxPerLabel) full++;
    texts.push(text);
    labelNames.push(hit.label);
    matches.push(hit.span);
    origins.push({ file, line });
  };

  for (const file of files) {
    stats.filesRead++;
    await forEachLine(
      file,
      (line, lineNo) => {
        stats.linesRead++;
        bytesRead += Buffer.byteLength(line) + 1;
        if (opts.onProgress && (stats.linesRead & 1023) === 0) opts.onProgress(bytesRead);
        if (unit === 'line') consider(line, file, lineNo);
        else for (const s of splitSentences(line)) consider(s.text, file, lineNo);
        return full < patterns.length;
      },
      opts.invalidUtf8 === 'skip' ? () => stats.skippedInvalidUtf8++ : undefined,
    );
    if (full === patterns.length) {
      stats.stoppedEarly = true;
      break;
    }
  }
  opts.onProgress?.(bytesRead);

  const warnings: string[] = [];
  const where = typeof opts.patterns === 'string' ? opts.patterns : '(patterns option)';
  for (const p of patterns) {
    stats.keptPerLabel[p.label] = kept.get(p.label)!;
    if (!everMatched.has(p.label)) warnings.push(`${where}: the pattern for label '${p.label}' (${p.regex}) never matched the corpus`);
  }
  if (stats.skippedAmbiguous > 0) warnings.push(`${corpus}: skipped ${stats.skippedAmbiguous} text(s) matching patterns of more than one label`);
  if (stats.skippedInvalidUtf8 > 0) warnings.push(`${corpus}: skipped ${stats.skippedInvalidUtf8} line(s) that are not valid UTF-8`);
  if (texts.length === 0) {
    const ambiguousNote = stats.skippedAmbiguous > 0 ? `; ${stats.skippedAmbiguous} text(s) matched more than one label and were skipped (ambiguous: 'first' keeps them)` : '';
    throw new AtlasError('no text in the corpus matches any pattern', {
      file: corpus,
      hint: `check the patterns in ${where} (they are case-sensitive unless written /.../i)${ambiguousNote}`,
    });
  }
  const dataset = assembleDataset({ name: opts.name ?? 'corpus', source: corpus, texts, labelNames, matches, warnings });
  return { dataset, origins, stats };
}
