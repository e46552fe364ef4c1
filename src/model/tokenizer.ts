/**
 * Loads a checkpoint's tokenizer through Hugging Face's maintained JS implementation (@huggingface/tokenizers),
 * so tokenization matches `transformers` without re-implementing BPE here.
 *
 * Sources, in order: `tokenizer.json` (any model/pre-tokenizer the library supports); else GPT-2-style
 * `vocab.json` + `merges.txt`, which are turned into the equivalent byte-level BPE tokenizer.json object in memory
 * (what transformers' GPT2Converter produces) and loaded through the same library, so both paths share one
 * implementation; else a SentencePiece `tokenizer.model` (sentencepiece.ts) or a llama2.c `tokenizer.bin`
 * (llama2c-tokenizer.ts), also under llama2.c's names `tok*.model` / `tok*.bin`. `tokenizer_config.json`,
 * `special_tokens_map.json` and `config.json` supply special tokens, padding side and BOS behaviour.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { Tokenizer } from '@huggingface/tokenizers';
import { AtlasError } from '../errors.ts';
import { gpt2ByteOrder } from './tiny-tokenizer.ts';
import { readSentencePieceModel, SentencePieceTokenizer } from './sentencepiece.ts';
import { LLAMA2C_BOS, LLAMA2C_EOS, Llama2cTokenizer, readLlama2cTokenizer } from './llama2c-tokenizer.ts';

export type PaddingSide = 'left' | 'right';
export type TruncationSide = 'left' | 'right';

export interface EncodeBatchOptions {
  /** Truncate each text to at most this many tokens (special tokens included, as in transformers). Default: no truncation. */
  maxLength?: number;
  /** Which end to cut when truncating. Default: tokenizer_config.json's truncation_side, else 'right' (HF default). */
  truncation?: TruncationSide;
}

export interface EncodeTextOptions extends EncodeBatchOptions {
  /**
   * Put the tokenizer's BOS in front of every text (the seed-001 notebook prepends GPT-2's `<|endoftext|>`, which
   * is GPT-2's BOS); a no-op when the tokenizer adds BOS itself. An AtlasError when the tokenizer has no BOS.
   */
  prependBos?: boolean;
}

/** One text as the model reads it (encodeText). */
export interface EncodedText {
  ids: number[];
  /** Tokens of `encode(text)` before truncation (the tokenizer's own special tokens included). */
  fullLength: number;
  /** Text tokens cut from the front by left truncation (0 otherwise). */
  droppedFront: number;
  /** 1 when prependBos put a BOS the tokenizer does not add itself, else 0. */
  added: number;
  /** Leading special tokens of `encode(text)` (the tokenizer's own prefix, e.g. llama's BOS); kept by truncation. */
  lead: number;
}

export interface EncodedBatch {
  /** [batch, seqLen] row-major token ids, padded with padTokenId. */
  ids: Int32Array;
  /** [batch, seqLen]: 1 for real tokens, 0 for padding. */
  attentionMask: Uint8Array;
  /** Real (unpadded) length of each row. */
  lengths: number[];
  seqLen: number;
}

export interface AtlasTokenizer {
  /** The file the tokenizer was read from (for messages). */
  source: string;
  /** max token id + 1 (added tokens included); may be smaller than the model's (padded) embedding rows. */
  vocabSize: number;
  /** Id written into padded positions (always masked out). GPT-2 has no pad token: its EOS is used. */
  padTokenId: number;
  bosTokenId?: number;
  eosTokenId?: number;
  paddingSide: PaddingSide;
  /** Side cut when truncating unless told: tokenizer_config.json's truncation_side, else 'right' (HF default). */
  truncationSide: TruncationSide;
  /** Whether encode() prepends BOS (llama-family add_bos_token; false for GPT-2). */
  addBos: boolean;
  /** tokenizer_config.json model_max_length, when it is a real limit (HF writes 1e30 for "none"). */
  modelMaxLength?: number;
  /**
   * Token ids as `tokenizer(text)` gives them in transformers (special tokens included, e.g. llama's BOS).
   * An empty text gives just the special tokens (none for GPT-2); encodeBatch rejects empty texts instead.
   */
  encode(text: string): number[];
  /** Exact inverse of encode for byte-level BPE (no clean-up of spaces; special tokens kept). */
  decode(ids: number[]): string;
  /** Readable per-token text for hover labels; byte fragments of a multi-byte character are shown as \xHH. */
  tokenStrings(ids: number[]): string[];
  encodeBatch(texts: string[], opts?: EncodeTextOptions): EncodedBatch;
  /**
   * One text as encodeBatch feeds it to the model: special tokens kept, the text's own tokens cut to fit
   * maxLength from the `truncation` side, BOS in front with prependBos. Position p of `encode(text)` is
   * position p + added - (p >= lead ? droppedFront : 0) here.
   */
  encodeText(text: string, opts?: EncodeTextOptions, index?: number): EncodedText;
}

/** Pads token rows into one batch (padTokenId at padded positions, which the attention mask marks 0). */
export function padRows(rows: ArrayLike<number>[], padTokenId: number, paddingSide: PaddingSide): EncodedBatch {
  if (rows.length === 0) throw new AtlasError('no texts to encode', { field: 'texts' });
  const lengths = rows.map((r) => r.length);
  const seqLen = Math.max(...lengths);
  const ids = new Int32Array(rows.length * seqLen).fill(padTokenId);
  const attentionMask = new Uint8Array(rows.length * seqLen);
  rows.forEach((row, b) => {
    const offset = b * seqLen + (paddingSide === 'left' ? seqLen - row.length : 0);
    ids.set(row, offset);
    attentionMask.fill(1, offset, offset + row.length);
  });
  return { ids, attentionMask, lengths, seqLen };
}

export interface LoadTokenizerOptions {
  /** Overrides tokenizer_config.json's padding_side. Default: the file's value, else 'right' (HF default). */
  paddingSide?: PaddingSide;
  /**
   * The tokenizer file to use instead of searching the folder: a tokenizer.json, a SentencePiece .model or a
   * llama2.c tokenizer .bin (the folder still supplies tokenizer_config.json).
   */
  file?: string;
}

/** What each tokenizer implementation provides; `finishTokenizer` adds special tokens, checks and batching. */
interface TokenizerCore {
  source: string;
  vocabSize: number;
  /** Ids of the text alone, without special tokens. */
  encode(text: string): number[];
  decode(ids: number[]): string;
  tokenString(id: number): string;
}

interface SpecialTokens {
  prefix: number[];
  suffix: number[];
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId: number;
  paddingSide: PaddingSide;
  defaultTruncation: TruncationSide;
  modelMaxLength?: number;
}

/** Files searched for in a model folder, in priority order, and how each is read. */
type TokenizerKind = 'json' | 'vocab-merges' | 'sentencepiece' | 'llama2c';

function tokenizerKindOf(file: string): TokenizerKind {
  if (basename(file) === 'vocab.json') return 'vocab-merges';
  if (file.endsWith('.json')) return 'json';
  if (file.endsWith('.model')) return 'sentencepiece';
  if (file.endsWith('.bin')) return 'llama2c';
  throw new AtlasError('is not a tokenizer file this tool reads', { file, field: 'tokenizer', hint: 'pass a tokenizer.json, a SentencePiece tokenizer.model or a llama2.c tokenizer.bin' });
}

/** The tokenizer file of a folder (see the module comment for the order); an AtlasError when there is none. */
function findTokenizer(dir: string): { kind: TokenizerKind; file: string } {
  const at = (name: string): string | undefined => (existsSync(join(dir, name)) ? join(dir, name) : undefined);
  const json = at('tokenizer.json');
  if (json) return { kind: 'json', file: json };
  const vocab = at('vocab.json');
  if (vocab && at('merges.txt')) return { kind: 'vocab-merges', file: vocab };
  for (const name of ['tokenizer.model', 'tokenizer.bin']) {
    const f = at(name);
    if (f) return { kind: tokenizerKindOf(f), file: f };
  }
  // llama2.c's own file names (tok512.model / tok512.bin beside stories260K.bin).
  const names = existsSync(dir) ? readdirSync(dir) : [];
  for (const re of [/^tok\d*\.model$/, /^tok\d*\.bin$/]) {
    const hits = names.filter((n) => re.test(n)).sort();
    if (hits.length > 1) {
      throw new AtlasError(`several tokenizer files: ${hits.join(', ')}`, { file: dir, hint: 'name one with --tokenizer FILE' });
    }
    if (hits.length === 1) return { kind: tokenizerKindOf(hits[0]!), file: join(dir, hits[0]!) };
  }
  throw new AtlasError('no tokenizer found: looked for tokenizer.json, vocab.json + merges.txt, tokenizer.model, tokenizer.bin, tok*.model, tok*.bin', {
    file: dir,
    hint: 'download the tokenizer files with the model, or name one with --tokenizer FILE',
  });
}

type Json = Record<string, unknown>;

function readJson(file: string): Json {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new AtlasError(`cannot read file: ${(e as Error).message}`, { file, cause: e });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not a JSON object');
    return v as Json;
  } catch (e) {
    throw new AtlasError(`invalid JSON: ${(e as Error).message}`, { file, cause: e });
  }
}

function readJsonIfExists(file: string): Json | undefined {
  return existsSync(file) ? readJson(file) : undefined;
}

/** Special tokens appear as "<s>" or as an AddedToken dict {"content": "<s>", ...}. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v && typeof v === 'object' && typeof (v as Json).content === 'string') return (v as Json).content as string;
  return undefined;
}

function idField(v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return undefined;
}

/**
 * Builds the tokenizer.json object for a GPT-2-style vocab.json + merges.txt pair: byte-level BPE, exactly as
 * transformers' GPT2Converter does (ByteLevel pre-tokenizer/decoder/post-processor, no normalizer).
 */
export function byteLevelBpeFromVocabMerges(dir: string, tokenizerConfig: Json, specialTokensMap: Json): Json {
  const vocabFile = join(dir, 'vocab.json');
  const mergesFile = join(dir, 'merges.txt');
  const vocabRaw = readJson(vocabFile);
  const vocab: Record<string, number> = {};
  for (const [tok, id] of Object.entries(vocabRaw)) {
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0) {
      throw new AtlasError(`token ${JSON.stringify(tok)} has id ${JSON.stringify(id)}, expected a non-negative integer`, { file: vocabFile });
    }
    vocab[tok] = id;
  }
  const merges: string[] = [];
  const lines = readFileSync(mergesFile, 'utf8').split('\n');
  lines.forEach((rawLine, i) => {
    const line = rawLine.replace(/\r$/, '');
    if (line === '' || (i === 0 && line.startsWith('#version'))) return;
    const parts = line.split(' ');
    if (parts.length !== 2 || !parts[0] || !parts[1]) {
      throw new AtlasError(`line ${i + 1} is not a merge of two tokens separated by one space: ${JSON.stringify(line)}`, { file: mergesFile });
    }
    merges.push(line);
  });

  // Special tokens become added tokens (so "<|endoftext|>" in text is one token, as in transformers).
  const addedFile = join(dir, 'added_tokens.json');
  const addedIds = readJsonIfExists(addedFile) ?? {};
  const specials = new Map<string, number | undefined>();
  const decoderMap = tokenizerConfig.added_tokens_decoder;
  if (decoderMap && typeof decoderMap === 'object') {
    for (const [id, tok] of Object.entries(decoderMap as Json)) {
      const c = tokenContent(tok);
      if (c !== undefined) specials.set(c, Number(id));
    }
  }
  for (const source of [tokenizerConfig, specialTokensMap]) {
    for (const key of ['bos_token', 'eos_token', 'unk_token', 'pad_token', 'sep_token', 'cls_token', 'mask_token']) {
      const c = tokenContent(source[key]);
      if (c !== undefined && !specials.has(c)) specials.set(c, undefined);
    }
    const extra = source.additional_special_tokens;
    if (Array.isArray(extra)) for (const t of extra) {
      const c = tokenContent(t);
      if (c !== undefined && !specials.has(c)) specials.set(c, undefined);
    }
  }
  let nextId = Math.max(-1, ...Object.values(vocab), ...Object.values(addedIds).filter((v): v is number => typeof v === 'number')) + 1;
  const addedTokens: Json[] = [];
  for (const [content, declaredId] of specials) {
    const fromAddedJson = typeof addedIds[content] === 'number' ? (addedIds[content] as number) : undefined;
    const id = vocab[content] ?? declaredId ?? fromAddedJson ?? nextId++;
    addedTokens.push({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true });
  }
  addedTokens.sort((a, b) => (a.id as number) - (b.id as number));

  const addPrefixSpace = tokenizerConfig.add_prefix_space === true;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: addPrefixSpace, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: '', end_of_word_suffix: '',
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges,
    },
  };
}

function sameIds(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** Loads the tokenizer of a model folder (or of the folder holding a llama2.c .bin, when given the file). */
export async function loadTokenizer(modelPath: string, opts: LoadTokenizerOptions = {}): Promise<AtlasTokenizer> {
  const dir = existsSync(modelPath) && statSync(modelPath).isFile() ? dirname(modelPath) : modelPath;
  const tokenizerConfigFile = join(dir, 'tokenizer_config.json');
  const tokenizerConfig = readJsonIfExists(tokenizerConfigFile) ?? {};
  const specialTokensMap = readJsonIfExists(join(dir, 'special_tokens_map.json')) ?? {};
  const modelConfig = readJsonIfExists(join(dir, 'config.json')) ?? {};

  if (opts.file !== undefined && !existsSync(opts.file)) throw new AtlasError('tokenizer file not found', { file: opts.file, field: 'tokenizer' });
  const found = opts.file !== undefined ? { kind: tokenizerKindOf(opts.file), file: opts.file } : findTokenizer(dir);
  const source = found.file;
  const sideField = (key: string): PaddingSide | undefined => {
    const v = tokenizerConfig[key];
    if (v === undefined || v === null) return undefined;
    if (v !== 'left' && v !== 'right') {
      throw new AtlasError(`must be 'left' or 'right', got ${JSON.stringify(v)}`, { file: tokenizerConfigFile, field: key });
    }
    return v;
  };
  const paddingSide = opts.paddingSide ?? sideField('padding_side') ?? 'right';
  const defaultTruncation = sideField('truncation_side') ?? 'right';
  const mml = tokenizerConfig.model_max_length;
  const modelMaxLength = typeof mml === 'number' && Number.isFinite(mml) && mml > 0 && mml < 1e9 ? mml : undefined;

  if (found.kind === 'sentencepiece' || found.kind === 'llama2c') {
    // Llama-family defaults (LlamaTokenizer: add_bos_token true, add_eos_token false); run.c always adds BOS.
    const sp = found.kind === 'sentencepiece' ? new SentencePieceTokenizer(readSentencePieceModel(source)) : undefined;
    const impl = sp ?? new Llama2cTokenizer(readLlama2cTokenizer(source));
    const core: TokenizerCore = { source, vocabSize: impl.vocabSize, encode: (t) => impl.encode(t), decode: (i) => impl.decode(i), tokenString: (i) => impl.tokenString(i) };
    const id = (v: number | undefined): number | undefined => (v !== undefined && v >= 0 && v < core.vocabSize ? v : undefined);
    const bosTokenId = id(sp ? sp.model.bosId : LLAMA2C_BOS);
    const eosTokenId = id(sp ? sp.model.eosId : LLAMA2C_EOS);
    const addBos = tokenizerConfig.add_bos_token !== false && bosTokenId !== undefined;
    const addEos = tokenizerConfig.add_eos_token === true && eosTokenId !== undefined;
    return finishTokenizer(core, {
      prefix: addBos ? [bosTokenId!] : [],
      suffix: addEos ? [eosTokenId!] : [],
      bosTokenId,
      eosTokenId,
      padTokenId: id(sp?.model.padId) ?? idField(modelConfig.pad_token_id) ?? eosTokenId ?? 0,
      paddingSide,
      defaultTruncation,
      modelMaxLength,
    });
  }
  const tokenizerJson = found.kind === 'json' ? readJson(source) : byteLevelBpeFromVocabMerges(dirname(source), tokenizerConfig, specialTokensMap);

  let lib: Tokenizer;
  try {
    lib = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new AtlasError(`cannot build tokenizer: ${(e as Error).message}`, { file: source, cause: e });
  }

  const vocab = lib.get_vocab(true);
  let maxId = -1;
  for (const id of vocab.values()) if (id > maxId) maxId = id;
  const vocabSize = maxId + 1;
  const idOf = (key: string): number | undefined => {
    const content = tokenContent(tokenizerConfig[key]) ?? tokenContent(specialTokensMap[key]);
    return content === undefined ? undefined : lib.token_to_id(content);
  };
  // The tokenizer's own files name the tokens it inserts; config.json's ids are the fallback.
  const bosTokenId = idOf('bos_token') ?? idField(modelConfig.bos_token_id);
  const eosTokenId = idOf('eos_token') ?? idField(modelConfig.eos_token_id);
  const unkTokenId = idOf('unk_token');
  // GPT-2 defines no pad token; padded positions are masked, so any id works: use EOS as transformers users do.
  const padTokenId = idOf('pad_token') ?? idField(modelConfig.pad_token_id) ?? eosTokenId ?? unkTokenId ?? 0;

  // Special tokens the post-processor wraps around every text (e.g. llama's TemplateProcessing "<s> $A"), found
  // by encoding a probe with and without them: full = prefix + core + suffix.
  const probe = 'a';
  const probeCore = lib.encode(probe, { add_special_tokens: false }).ids;
  const probeFull = lib.encode(probe, { add_special_tokens: true }).ids;
  let prefix: number[] = [];
  let suffix: number[] = [];
  for (let p = 0; p + probeCore.length <= probeFull.length; p++) {
    if (sameIds(probeFull.slice(p, p + probeCore.length), probeCore)) {
      prefix = probeFull.slice(0, p);
      suffix = probeFull.slice(p + probeCore.length);
      break;
    }
  }
  // An explicit add_bos_token / add_eos_token wins, as transformers rebuilds the post-processor from them
  // (LlamaTokenizerFast.update_post_processor).
  if (typeof tokenizerConfig.add_bos_token === 'boolean' && bosTokenId !== undefined) {
    prefix = prefix.filter((id) => id !== bosTokenId);
    if (tokenizerConfig.add_bos_token) prefix.unshift(bosTokenId);
  }
  if (typeof tokenizerConfig.add_eos_token === 'boolean' && eosTokenId !== undefined) {
    suffix = suffix.filter((id) => id !== eosTokenId);
    if (tokenizerConfig.add_eos_token) suffix.push(eosTokenId);
  }

  const isByteLevelDecoder = (tokenizerJson.decoder as Json | null)?.type === 'ByteLevel';
  const byteOfChar = new Map<string, number>();
  if (isByteLevelDecoder) {
    const { bytes, chars } = gpt2ByteOrder();
    chars.forEach((c, i) => byteOfChar.set(c, bytes[i]!));
  }

  const decode = (ids: number[]): string => lib.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false });
  const core: TokenizerCore = {
    source,
    vocabSize,
    encode: (text) => lib.encode(text, { add_special_tokens: false }).ids,
    decode,
    tokenString(id) {
      const text = decode([id]);
      if (!text.includes('\uFFFD')) return text;
      const raw = lib.id_to_token(id) ?? '';
      if (!isByteLevelDecoder) return raw;
      // A fragment of a multi-byte UTF-8 character: show its bytes, keeping any ASCII as is.
      let out = '';
      for (const ch of raw) {
        const b = byteOfChar.get(ch);
        out += b === undefined ? ch : b < 0x80 ? String.fromCharCode(b) : `\\x${b.toString(16).toUpperCase().padStart(2, '0')}`;
      }
      return out;
    },
  };
  return finishTokenizer(core, { prefix, suffix, bosTokenId, eosTokenId, padTokenId, paddingSide, defaultTruncation, modelMaxLength });
}

/** The AtlasTokenizer over a core: special tokens around every text, id checks, truncation, padding. */
function finishTokenizer(core: TokenizerCore, special: SpecialTokens): AtlasTokenizer {
  const { prefix, suffix, bosTokenId, eosTokenId, padTokenId, paddingSide, defaultTruncation, modelMaxLength } = special;
  const vocabSize = core.vocabSize;
  const checkIds = (ids: number[]): void => {
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
        throw new AtlasError(`token id ${id} at position ${i} is outside the vocabulary [0, ${vocabSize})`, { field: 'ids' });
      }
    }
  };
  return {
    source: core.source,
    vocabSize,
    padTokenId,
    bosTokenId,
    eosTokenId,
    paddingSide,
    truncationSide: defaultTruncation,
    addBos: bosTokenId !== undefined && prefix[0] === bosTokenId,
    modelMaxLength,
    encode: (text) => [...prefix, ...core.encode(text), ...suffix],
    decode(ids) {
      if (ids.length === 0) return '';
      checkIds(ids);
      return core.decode(ids);
    },
    tokenStrings(ids) {
      checkIds(ids);
      return ids.map((id) => core.tokenString(id));
    },
    encodeText,
    encodeBatch(texts, batchOpts = {}) {
      if (texts.length === 0) throw new AtlasError('no texts to encode', { field: 'texts' });
      return padRows(texts.map((text, i) => encodeText(text, batchOpts, i).ids), padTokenId, paddingSide);
    },
  };
  function encodeText(text: string, textOpts: EncodeTextOptions = {}, index = 0): EncodedText {
    const maxLength = textOpts.maxLength;
    const side = textOpts.truncation ?? defaultTruncation;
    let bos: number[] = [];
    if (textOpts.prependBos && !(bosTokenId !== undefined && prefix[0] === bosTokenId)) {
      if (bosTokenId === undefined) {
        throw new AtlasError('this tokenizer has no BOS token to prepend', { file: core.source, field: 'prepend-bos', hint: 'set bos_token in tokenizer_config.json (or bos_token_id in config.json), or leave out --prepend-bos' });
      }
      bos = [bosTokenId];
    }
    const special = bos.length + prefix.length + suffix.length;
    if (maxLength !== undefined && (!Number.isInteger(maxLength) || maxLength <= special)) {
      throw new AtlasError(`must be an integer greater than ${special} (the special tokens added to every text), got ${maxLength}`, { field: 'maxLength' });
    }
    let ids = core.encode(text);
    if (ids.length === 0) {
      throw new AtlasError(`text ${index} is empty (it has no tokens)`, { field: `texts[${index}]`, hint: 'remove empty lines or texts from the input' });
    }
    const fullLength = prefix.length + ids.length + suffix.length;
    let droppedFront = 0;
    if (maxLength !== undefined && ids.length + special > maxLength) {
      const keep = maxLength - special;
      if (side === 'left') droppedFront = ids.length - keep;
      ids = side === 'right' ? ids.slice(0, keep) : ids.slice(ids.length - keep);
    }
    return { ids: [...bos, ...prefix, ...ids, ...suffix], fullLength, droppedFront, added: bos.length, lead: prefix.length };
  }
}
