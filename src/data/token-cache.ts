/**
 * The tokenized inputs of an extraction, cached beside the activations and reused by every later extraction of
 * the same dataset with the same tokenizer and token options (BOS, truncation side, maximum length), whatever
 * its layers, source or aggregation.
 *
 * Layout: <root>/<modelKey>/<datasetHash>/tokens-<hash>/   (a sibling of the activation entries of that dataset)
 *   tokens.npy         int32 (total,)       every text's token ids as the model reads them, texts in dataset order
 *   token-offsets.npy  int32 (texts + 1,)   text i = tokens[offsets[i] .. offsets[i+1])
 *   tokens.json        written last         {version, numTexts, tokenizer, options, fullLengths, droppedFront, added, lead}
 * The activation entry's meta.json names the folder (`tokensDir`, relative to the entry). The hash covers the
 * model key, the tokenizer file (path, size, mtime) and the options, so a changed tokenizer is a new folder.
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { AtlasTokenizer, TruncationSide } from '../model/tokenizer.ts';
import { writeJsonAtomic } from './atomic.ts';
import { activationCacheDir } from './activation-cache.ts';
import { hashJson } from './hash.ts';
import { readNpy, writeNpy } from './npy.ts';

export const TOKEN_FILES = {
  ids: 'tokens.npy',
  offsets: 'token-offsets.npy',
  meta: 'tokens.json',
  /** Folder name prefix (tokens-<hash>). */
  dirPrefix: 'tokens-',
  version: 1,
} as const;

/** What decides the token ids besides the tokenizer. */
export interface TokenOptions {
  maxLength: number;
  prependBos: boolean;
  truncation: TruncationSide;
}

/** Every text's tokens as the model reads them, and how they relate to `tokenizer.encode(text)`. */
export interface TokenizedTexts {
  ids: Int32Array;
  /** texts + 1 entries: text i is ids[offsets[i] .. offsets[i+1]). */
  offsets: Int32Array;
  /** Length of tokenizer.encode(text) (before truncation and prepended BOS), per text. */
  fullLengths: number[];
  /** Text tokens cut from the front (left truncation), per text. */
  droppedFront: number[];
  /** 1 where a BOS was prepended, per text. */
  added: number[];
  /** Leading special tokens of tokenizer.encode(text), per text. */
  lead: number[];
}

/** Token ids of text i. */
export function textTokens(t: TokenizedTexts, i: number): Int32Array {
  return t.ids.subarray(t.offsets[i]!, t.offsets[i + 1]!);
}

/** Position p of tokenizer.encode(text) in the model's token sequence of text i (may fall outside it). */
export function modelPosition(t: TokenizedTexts, i: number, p: number): number {
  return p + t.added[i]! - (p >= t.lead[i]! ? t.droppedFront[i]! : 0);
}

/** Tokenizes every text as encodeBatch would feed it (tokenizer.encodeText). */
export function tokenizeTexts(tokenizer: AtlasTokenizer, texts: readonly string[], opts: TokenOptions): TokenizedTexts {
  const rows = texts.map((text, i) => tokenizer.encodeText(text, { maxLength: opts.maxLength, truncation: opts.truncation, prependBos: opts.prependBos }, i));
  const offsets = new Int32Array(texts.length + 1);
  rows.forEach((r, i) => (offsets[i + 1] = offsets[i]! + r.ids.length));
  const ids = new Int32Array(offsets[texts.length]!);
  rows.forEach((r, i) => ids.set(r.ids, offsets[i]!));
  return {
    ids, offsets,
    fullLengths: rows.map((r) => r.fullLength),
    droppedFront: rows.map((r) => r.droppedFront),
    added: rows.map((r) => r.added),
    lead: rows.map((r) => r.lead),
  };
}

/** The token cache folder of a dataset, tokenizer and options. */
export function tokenCacheDir(root: string, modelKey: string, datasetHash: string, tokenizer: AtlasTokenizer, opts: TokenOptions): string {
  const file = resolve(tokenizer.source);
  let stamp: unknown[] = [file];
  try {
    const st = statSync(file);
    stamp = [file, st.size, Math.floor(st.mtimeMs)];
  } catch { /* an in-memory tokenizer: its name only */ }
  const datasetDir = dirname(activationCacheDir({ root, modelKey, datasetHash, options: {}, layers: [0] }));
  return join(datasetDir, `${TOKEN_FILES.dirPrefix}${hashJson({ version: TOKEN_FILES.version, modelKey, tokenizer: stamp, options: opts })}`);
}

interface TokenMeta {
  version: number;
  numTexts: number;
  tokenizer: string;
  options: TokenOptions;
  fullLengths: number[];
  droppedFront: number[];
  added: number[];
  lead: number[];
}

/** The cached tokens of a folder, or undefined when absent, incomplete or inconsistent (then they are recomputed). */
export function readTokenCache(dir: string, numTexts: number): TokenizedTexts | undefined {
  try {
    const metaPath = join(dir, TOKEN_FILES.meta);
    if (!existsSync(metaPath)) return undefined;
    const m = JSON.parse(readFileSync(metaPath, 'utf8')) as TokenMeta;
    if (m.version !== TOKEN_FILES.version || m.numTexts !== numTexts) return undefined;
    const ids = readNpy(join(dir, TOKEN_FILES.ids)).data;
    const offsets = readNpy(join(dir, TOKEN_FILES.offsets)).data;
    if (!(ids instanceof Int32Array) || !(offsets instanceof Int32Array) || offsets.length !== numTexts + 1 || offsets[0] !== 0 || offsets[numTexts] !== ids.length) return undefined;
    for (let i = 0; i < numTexts; i++) if (offsets[i + 1]! <= offsets[i]!) return undefined;
    for (const a of [m.fullLengths, m.droppedFront, m.added, m.lead]) if (!Array.isArray(a) || a.length !== numTexts) return undefined;
    return { ids, offsets, fullLengths: m.fullLengths, droppedFront: m.droppedFront, added: m.added, lead: m.lead };
  } catch {
    return undefined;
  }
}

/** Writes the token cache (arrays first, tokens.json last: its presence means complete). */
export function writeTokenCache(dir: string, t: TokenizedTexts, tokenizer: AtlasTokenizer, opts: TokenOptions): void {
  mkdirSync(dir, { recursive: true });
  writeNpy(join(dir, TOKEN_FILES.ids), t.ids, [t.ids.length]);
  writeNpy(join(dir, TOKEN_FILES.offsets), t.offsets, [t.offsets.length]);
  const meta: TokenMeta = {
    version: TOKEN_FILES.version, numTexts: t.offsets.length - 1, tokenizer: tokenizer.source, options: opts,
    fullLengths: t.fullLengths, droppedFront: t.droppedFront, added: t.added, lead: t.lead,
  };
  writeJsonAtomic(join(dir, TOKEN_FILES.meta), meta);
}

/** The tokens of a dataset: read from the token cache when present, else tokenized (planning writes nothing). */
export function cachedTokens(tokenizer: AtlasTokenizer, texts: readonly string[], opts: TokenOptions, dir: string | undefined): { tokens: TokenizedTexts; cached: boolean } {
  const hit = dir ? readTokenCache(dir, texts.length) : undefined;
  if (hit) return { tokens: hit, cached: true };
  return { tokens: tokenizeTexts(tokenizer, texts, opts), cached: false };
}

/** Stores freshly tokenized texts; a cache that cannot be written is skipped (tokenizing again is the only cost). */
export function storeTokens(dir: string | undefined, t: TokenizedTexts, tokenizer: AtlasTokenizer, opts: TokenOptions): void {
  if (!dir) return;
  try {
    writeTokenCache(dir, t, tokenizer, opts);
  } catch { /* read-only or full cache: the tokens are only a cache */ }
}
