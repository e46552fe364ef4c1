/**
 * SentencePiece `tokenizer.model` (a serialized sentencepiece.ModelProto, see sentencepiece_model.proto): the
 * tokenizer Llama-family checkpoints ship when they have no tokenizer.json. Parsed with the small wire-format
 * reader in protobuf.ts; encoding follows SentencePiece's own C++ code:
 *  - normalizer.cc: identity normalization only (an empty precompiled_charsmap, as Llama's models have);
 *    remove_extra_whitespaces strips leading/trailing spaces and collapses runs; add_dummy_prefix puts '▁'
 *    in front; escape_whitespaces writes ' ' as '▁';
 *  - bpe_model.cc: split into characters (user-defined symbols as single frozen symbols), merge by score
 *    (score-merge.ts), re-split UNUSED pieces;
 *  - unigram_model.cc: Viterbi over the pieces, an unknown character costing min score - 10;
 *  - sentencepiece_processor.cc: unknown pieces → `<0xNN>` byte pieces when byte_fallback is on, else unk_id.
 */
import { readFileSync } from 'node:fs';
import { AtlasError } from '../errors.ts';
import { ProtobufError, fieldFloat, fieldInt32, fieldString, fieldVarint, readFields, WireType, type ProtoField } from './protobuf.ts';
import { mergeByScore, type MergeSymbol } from './score-merge.ts';

/** sentencepiece.ModelProto.SentencePiece.Type */
export const PieceType = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface SentencePiece {
  piece: string;
  score: number;
  type: number;
}

export interface SentencePieceModel {
  file: string;
  pieces: SentencePiece[];
  /** TrainerSpec.model_type: 1 unigram, 2 bpe, 3 word, 4 char. */
  modelType: 'unigram' | 'bpe' | 'word' | 'char';
  byteFallback: boolean;
  unkId: number;
  /** -1 when the model has none. */
  bosId: number;
  eosId: number;
  padId: number;
  treatWhitespaceAsSuffix: boolean;
  normalizer: { name: string; addDummyPrefix: boolean; removeExtraWhitespaces: boolean; escapeWhitespaces: boolean };
  unkSurface: string;
}

const SPACE = '\u2581'; // '▁', SentencePiece's visible space
const MODEL_TYPES = { 1: 'unigram', 2: 'bpe', 3: 'word', 4: 'char' } as const;

/** Last value of a singular field (protobuf semantics: the last one wins), or undefined. */
function last(fields: ProtoField[], n: number): ProtoField | undefined {
  for (let i = fields.length - 1; i >= 0; i--) if (fields[i]!.field === n) return fields[i];
  return undefined;
}

/** Parses tokenizer.model bytes. Anything that is not a SentencePiece ModelProto is an AtlasError naming `file`. */
export function parseSentencePieceModel(buf: Uint8Array, file: string): SentencePieceModel {
  const notModel = (why: string): AtlasError =>
    new AtlasError(`is not a SentencePiece model (expected a serialized sentencepiece.ModelProto with pieces): ${why}`, {
      file,
      hint: 'pass the tokenizer.model the model was trained with',
    });
  try {
    const top = readFields(buf);
    const pieces: SentencePiece[] = [];
    for (const f of top) {
      if (f.field !== 1) continue;
      if (f.wire !== WireType.Len) throw notModel('field 1 (pieces) is not a message');
      const pf = readFields(f.bytes);
      const p = last(pf, 1), s = last(pf, 2), t = last(pf, 3);
      if (!p) throw notModel(`piece ${pieces.length} has no text`);
      pieces.push({ piece: fieldString(p), score: s ? fieldFloat(s) : 0, type: t ? fieldVarint(t) : PieceType.NORMAL });
    }
    if (pieces.length === 0) throw notModel('it holds no pieces');
    for (const [i, p] of pieces.entries()) {
      if (p.type < 1 || p.type > 6) throw notModel(`piece ${i} has unknown type ${p.type}`);
    }
    const trainer = last(top, 2);
    const tf = trainer ? readFields(trainer.bytes) : [];
    const tint = (n: number, fallback: number): number => {
      const f = last(tf, n);
      if (!f) return fallback;
      return fieldInt32(f);
    };
    const mt = tint(3, 1);
    const modelType = MODEL_TYPES[mt as keyof typeof MODEL_TYPES];
    if (!modelType) throw notModel(`trainer_spec.model_type ${mt} is unknown`);
    const norm = last(top, 3);
    const nf = norm ? readFields(norm.bytes) : [];
    const nbool = (n: number, fallback: boolean): boolean => {
      const f = last(nf, n);
      return f ? fieldVarint(f) !== 0 : fallback;
    };
    const name = last(nf, 1);
    const charsmap = last(nf, 2);
    const unkSurface = last(tf, 44);
    const model: SentencePieceModel = {
      file,
      pieces,
      modelType,
      byteFallback: tint(35, 0) !== 0,
      unkId: tint(40, 0),
      bosId: tint(41, 1),
      eosId: tint(42, 2),
      padId: tint(43, -1),
      treatWhitespaceAsSuffix: tint(24, 0) !== 0,
      normalizer: {
        name: name ? fieldString(name) : '',
        addDummyPrefix: nbool(3, true),
        removeExtraWhitespaces: nbool(4, true),
        escapeWhitespaces: nbool(5, true),
      },
      unkSurface: unkSurface ? fieldString(unkSurface) : ' \u2047 ',
    };
    if (charsmap && charsmap.bytes.length > 0) {
      throw new AtlasError(`normalization rule '${model.normalizer.name}' (a precompiled character map) is not supported`, {
        file,
        field: 'normalizer_spec.precompiled_charsmap',
        hint: 'only identity normalization is implemented (what Llama-family tokenizer.model files use); use the checkpoint\'s tokenizer.json if it has one',
      });
    }
    if (model.treatWhitespaceAsSuffix) {
      throw new AtlasError('treat_whitespace_as_suffix models are not supported', { file, field: 'trainer_spec.treat_whitespace_as_suffix' });
    }
    if (modelType !== 'bpe' && modelType !== 'unigram') {
      throw new AtlasError(`model_type '${modelType}' is not supported`, { file, field: 'trainer_spec.model_type', hint: 'supported: bpe, unigram' });
    }
    if (model.unkId < 0 || model.unkId >= pieces.length || pieces[model.unkId]!.type !== PieceType.UNKNOWN) {
      throw notModel(`unk_id ${model.unkId} is not an <unk> piece`);
    }
    return model;
  } catch (e) {
    if (e instanceof ProtobufError) throw notModel(e.message);
    throw e;
  }
}

export function readSentencePieceModel(file: string): SentencePieceModel {
  let buf: Uint8Array;
  try {
    buf = readFileSync(file);
  } catch (e) {
    throw new AtlasError(`cannot read file: ${(e as Error).message}`, { file, cause: e });
  }
  return parseSentencePieceModel(buf, file);
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8');

function bytePieceName(b: number): string {
  return `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`;
}

/** SentencePiece encoder/decoder over a parsed model (no BOS/EOS: the caller adds special tokens). */
export class SentencePieceTokenizer {
  /** NORMAL, USER_DEFINED and UNUSED pieces: what encoding can produce (SentencePiece's pieces_). */
  private readonly pieceIds = new Map<string, number>();
  /** CONTROL, UNKNOWN and BYTE pieces (SentencePiece's reserved_id_map_). */
  private readonly reservedIds = new Map<string, number>();
  private readonly userDefined: string[];
  private readonly byteIds: number[] = [];
  private readonly minScore: number;
  private readonly maxScore: number;

  constructor(readonly model: SentencePieceModel) {
    const userDefined: string[] = [];
    let minScore = Infinity, maxScore = -Infinity;
    model.pieces.forEach((p, id) => {
      const reserved = p.type === PieceType.CONTROL || p.type === PieceType.UNKNOWN || p.type === PieceType.BYTE;
      const map = reserved ? this.reservedIds : this.pieceIds;
      if (map.has(p.piece)) throw new AtlasError(`piece ${JSON.stringify(p.piece)} appears twice (ids ${map.get(p.piece)} and ${id})`, { file: model.file, field: 'pieces' });
      map.set(p.piece, id);
      if (p.type === PieceType.USER_DEFINED) userDefined.push(p.piece);
      if (p.type === PieceType.NORMAL) {
        minScore = Math.min(minScore, p.score);
        maxScore = Math.max(maxScore, p.score);
      }
    });
    this.userDefined = userDefined.sort((a, b) => b.length - a.length); // longest match first
    this.minScore = minScore;
    this.maxScore = maxScore;
    if (model.byteFallback) {
      for (let b = 0; b < 256; b++) {
        const id = this.reservedIds.get(bytePieceName(b));
        if (id === undefined || model.pieces[id]!.type !== PieceType.BYTE) {
          throw new AtlasError(`byte_fallback is on but the byte piece ${bytePieceName(b)} is missing`, { file: model.file, field: 'pieces' });
        }
        this.byteIds.push(id);
      }
    }
  }

  get vocabSize(): number {
    return this.model.pieces.length;
  }

  /** Id of a piece as SentencePiece's PieceToId: reserved pieces first, then the others; undefined if none. */
  idOf(piece: string): number | undefined {
    return this.reservedIds.get(piece) ?? this.pieceIds.get(piece);
  }

  /** normalizer.cc's Normalize with an empty character map. */
  normalize(text: string): string {
    const n = this.model.normalizer;
    const removeExtra = n.removeExtraWhitespaces;
    let input = text;
    if (removeExtra) input = input.replace(/^ +/, '');
    if (input === '') return '';
    let out = n.addDummyPrefix ? SPACE : '';
    let prevSpace = removeExtra;
    for (const ch of input) {
      if (ch === ' ') {
        if (prevSpace) continue;
        out += n.escapeWhitespaces ? SPACE : ' ';
        prevSpace = removeExtra;
      } else {
        out += ch;
        prevSpace = false;
      }
    }
    if (removeExtra) {
      const space = n.escapeWhitespaces ? SPACE : ' ';
      while (out.endsWith(space)) out = out.slice(0, -space.length);
    }
    return out;
  }

  /** Token ids of `text`, without BOS/EOS. */
  encode(text: string): number[] {
    const normalized = this.normalize(text);
    if (normalized === '') return [];
    const pieces = this.model.modelType === 'bpe' ? this.bpe(normalized) : this.unigram(normalized);
    const ids: number[] = [];
    let prevUnknown = false;
    for (const p of pieces) {
      const id = this.pieceIds.get(p);
      if (id !== undefined) ids.push(id);
      else if (this.model.byteFallback) for (const b of utf8Encoder.encode(p)) ids.push(this.byteIds[b]!);
      else if (!prevUnknown) ids.push(this.model.unkId); // a run of unknown pieces is one <unk>, as SentencePiece does
      prevUnknown = id === undefined;
    }
    return ids;
  }

  /** Characters, with user-defined symbols matched first (longest), as bpe_model.cc's PrefixMatcher. */
  private symbols(normalized: string): MergeSymbol[] {
    const out: MergeSymbol[] = [];
    let i = 0;
    outer: while (i < normalized.length) {
      for (const u of this.userDefined) {
        if (normalized.startsWith(u, i)) {
          out.push({ piece: u, frozen: true });
          i += u.length;
          continue outer;
        }
      }
      const cp = normalized.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      out.push({ piece: ch });
      i += ch.length;
    }
    return out;
  }

  private bpe(normalized: string): string[] {
    const pieces = this.model.pieces;
    const split = new Map<string, [string, string]>();
    const merged = mergeByScore(
      this.symbols(normalized),
      (p) => {
        const id = this.pieceIds.get(p);
        return id === undefined ? undefined : pieces[id]!.score;
      },
      (m, l, r) => {
        if (pieces[this.pieceIds.get(m)!]!.type === PieceType.UNUSED) split.set(m, [l, r]);
      },
    );
    // Unused pieces may appear as merge steps but never in the output: split them back (bpe_model.cc resegment).
    const out: string[] = [];
    const resegment = (p: string): void => {
      const lr = split.get(p);
      if (lr && pieces[this.pieceIds.get(p)!]!.type === PieceType.UNUSED) {
        resegment(lr[0]);
        resegment(lr[1]);
      } else out.push(p);
    };
    merged.forEach(resegment);
    return out;
  }

  /**
   * unigram_model.cc: best-scoring segmentation (Viterbi). Pieces are NORMAL and USER_DEFINED ones (a
   * user-defined piece scores length * max_score - 0.1); a position no single-character piece covers gets an
   * unknown node of one character scoring min_score - 10.
   */
  private unigram(normalized: string): string[] {
    const chars = [...normalized];
    const n = chars.length;
    const best = new Float64Array(n + 1).fill(-Infinity);
    const from = new Int32Array(n + 1).fill(-1);
    best[0] = 0;
    const unkScore = this.minScore - 10;
    for (let i = 0; i < n; i++) {
      if (best[i] === -Infinity) continue;
      let piece = '';
      let hasSingle = false;
      for (let j = i; j < n; j++) {
        piece += chars[j];
        const id = this.pieceIds.get(piece);
        if (id === undefined) continue;
        const p = this.model.pieces[id]!;
        if (p.type === PieceType.UNUSED) continue;
        const score = p.type === PieceType.USER_DEFINED ? (j - i + 1) * this.maxScore - 0.1 : p.score;
        if (j === i) hasSingle = true;
        if (best[i]! + score > best[j + 1]!) {
          best[j + 1] = best[i]! + score;
          from[j + 1] = i;
        }
      }
      if (!hasSingle && best[i]! + unkScore > best[i + 1]!) {
        best[i + 1] = best[i]! + unkScore;
        from[i + 1] = i;
      }
    }
    const out: string[] = [];
    for (let end = n; end > 0; end = from[end]!) out.push(chars.slice(from[end]!, end).join(''));
    return out.reverse();
  }

  /**
   * Text of ids as SentencePiece's DecodeIds, except that control pieces are kept as their text (e.g. `<s>`):
   * '▁' as ' ', runs of byte pieces decoded as UTF-8, unknown as unk_surface. The dummy-prefix '▁' of the first
   * text piece is dropped; with remove_extra_whitespaces, so is that of every piece while no text has appeared.
   */
  decode(ids: number[]): string {
    let out = '';
    let bytes: number[] = [];
    let stripping = this.model.normalizer.addDummyPrefix;
    const flush = (): void => {
      if (bytes.length) out += utf8Decoder.decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const p = this.model.pieces[id]!;
      if (p.type === PieceType.BYTE) {
        bytes.push(parseInt(p.piece.slice(3, 5), 16));
        stripping = false;
        continue;
      }
      flush();
      if (p.type === PieceType.CONTROL) {
        out += p.piece;
        continue;
      }
      let text = p.type === PieceType.UNKNOWN ? this.model.unkSurface : p.piece.replaceAll(SPACE, ' ');
      if (stripping && p.type !== PieceType.UNKNOWN && text.startsWith(' ')) text = text.slice(1);
      if (!this.model.normalizer.removeExtraWhitespaces || text !== '') stripping = false;
      out += text;
    }
    flush();
    return out;
  }

  /** Readable text of one token for labels: '▁' as a space, byte pieces as the character or \xHH. */
  tokenString(id: number): string {
    const p = this.model.pieces[id]!;
    if (p.type === PieceType.BYTE) {
      const b = parseInt(p.piece.slice(3, 5), 16);
      return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${p.piece.slice(3, 5)}`;
    }
    return p.piece.replaceAll(SPACE, ' ');
  }
}
