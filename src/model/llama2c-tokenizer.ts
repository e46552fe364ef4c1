/**
 * llama2.c's `tokenizer.bin` (written by its tokenizer.py export): int32 max_token_length, then per token
 * float32 score, int32 byte length, the piece's bytes (SentencePiece's '▁' already replaced by ' '; BOS and EOS
 * written as "\n<s>\n" and "\n</s>\n"). The file does not store the vocabulary size (run.c takes it from the
 * model), so tokens are read to the end of the file and the caller checks the count against the model.
 *
 * Encoding and decoding follow run.c's `encode` / `decode`: a dummy-prefix " " token for non-empty text,
 * one symbol per UTF-8 character (a character not in the vocabulary becomes its bytes + 3, the byte-fallback
 * ids after <unk>, <s>, </s>), then score-greedy pair merges over the whole vocabulary (score-merge.ts).
 */
import { readFileSync } from 'node:fs';
import { AtlasError } from '../errors.ts';
import { mergeByScore } from './score-merge.ts';

/** run.c hard-codes these ids. */
export const LLAMA2C_BOS = 1;
export const LLAMA2C_EOS = 2;
/** Byte b is token b + 3 (after <unk>, <s>, </s>). */
const BYTE_OFFSET = 3;

export interface Llama2cVocab {
  file: string;
  maxTokenLength: number;
  /** Piece bytes decoded as UTF-8 (SentencePiece pieces are valid UTF-8). */
  pieces: string[];
  scores: Float32Array;
}

export function readLlama2cTokenizer(file: string): Llama2cVocab {
  let buf: Buffer;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new AtlasError(`cannot read file: ${(e as Error).message}`, { file, cause: e });
  }
  const notTokenizer = (why: string): AtlasError =>
    new AtlasError(`is not a llama2.c tokenizer (int32 max_token_length, then per token float32 score, int32 length, bytes): ${why}`, {
      file,
      hint: 'pass the tokenizer.bin exported with the model (written by the tokenizer.py export script of llama2.c from the SentencePiece model)',
    });
  if (buf.length < 4) throw notTokenizer(`the file has ${buf.length} bytes`);
  const maxTokenLength = buf.readInt32LE(0);
  if (maxTokenLength <= 0 || maxTokenLength > 1 << 16) throw notTokenizer(`max_token_length is ${maxTokenLength}`);
  const pieces: string[] = [];
  const scores: number[] = [];
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let pos = 4;
  while (pos < buf.length) {
    if (pos + 8 > buf.length) throw notTokenizer(`token ${pieces.length} is cut off at byte ${pos} (file size ${buf.length})`);
    const score = buf.readFloatLE(pos);
    const len = buf.readInt32LE(pos + 4);
    pos += 8;
    if (len < 0 || len > maxTokenLength || pos + len > buf.length) {
      throw notTokenizer(`token ${pieces.length} has length ${len} (max_token_length ${maxTokenLength}, ${buf.length - pos} bytes left)`);
    }
    let piece: string;
    try {
      piece = utf8.decode(buf.subarray(pos, pos + len));
    } catch {
      throw notTokenizer(`token ${pieces.length} is not valid UTF-8`);
    }
    pieces.push(piece);
    scores.push(score);
    pos += len;
  }
  if (pieces.length < BYTE_OFFSET + 256) throw notTokenizer(`it holds ${pieces.length} tokens, fewer than <unk>, <s>, </s> and the 256 byte tokens`);
  return { file, maxTokenLength, pieces, scores: Float32Array.from(scores) };
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>/;
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

/** run.c's tokenizer over a tokenizer.bin vocabulary (no BOS/EOS: the caller adds special tokens). */
export class Llama2cTokenizer {
  private readonly ids = new Map<string, number>();
  private readonly dummyPrefix: number;

  constructor(readonly vocab: Llama2cVocab) {
    // run.c looks pieces up by bsearch in the sorted vocabulary; pieces are unique, so first occurrence = any.
    vocab.pieces.forEach((p, id) => {
      if (!this.ids.has(p)) this.ids.set(p, id);
    });
    const space = this.ids.get(' ');
    if (space === undefined) {
      throw new AtlasError('has no " " token, which run.c uses as the dummy prefix', { file: vocab.file, field: 'pieces' });
    }
    this.dummyPrefix = space;
  }

  get vocabSize(): number {
    return this.vocab.pieces.length;
  }

  idOf(piece: string): number | undefined {
    return this.ids.get(piece);
  }

  encode(text: string): number[] {
    if (text === '') return [];
    const symbols = [{ piece: this.vocab.pieces[this.dummyPrefix]! }];
    for (const ch of text) {
      if (this.ids.has(ch)) symbols.push({ piece: ch });
      else for (const b of utf8Encoder.encode(ch)) symbols.push({ piece: this.vocab.pieces[b + BYTE_OFFSET]! });
    }
    const scores = this.vocab.scores;
    const merged = mergeByScore(symbols, (p) => {
      const id = this.ids.get(p);
      // run.c starts its search at best_score = -1e10: lower-scored pieces are never merged into.
      return id === undefined || !(scores[id]! > -1e10) ? undefined : scores[id]!;
    });
    return merged.map((p) => this.ids.get(p)!);
  }

  /**
   * run.c's decode per token: a leading space is dropped after BOS (and, so that decode inverts encode, at the
   * start of the ids: the dummy prefix), `<0xNN>` pieces are raw bytes.
   */
  private pieceBytes(id: number, stripSpace: boolean): Uint8Array {
    let piece = this.vocab.pieces[id]!;
    if (id === LLAMA2C_BOS) return utf8Encoder.encode('<s>');
    if (id === LLAMA2C_EOS) return utf8Encoder.encode('</s>');
    if (stripSpace && piece.startsWith(' ')) piece = piece.slice(1);
    const m = BYTE_PIECE.exec(piece);
    return m ? Uint8Array.of(parseInt(m[1]!, 16)) : utf8Encoder.encode(piece);
  }

  /** Text of ids (BOS/EOS shown as `<s>` / `</s>` rather than run.c's "\n<s>\n"). */
  decode(ids: number[]): string {
    const parts: number[] = [];
    ids.forEach((id, i) => parts.push(...this.pieceBytes(id, i === 0 || ids[i - 1] === LLAMA2C_BOS)));
    return utf8Decoder.decode(Uint8Array.from(parts));
  }

  tokenString(id: number): string {
    const m = BYTE_PIECE.exec(this.vocab.pieces[id]!);
    if (m) {
      const b = parseInt(m[1]!, 16);
      return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${m[1]!.toUpperCase()}`;
    }
    return utf8Decoder.decode(this.pieceBytes(id, false));
  }
}
