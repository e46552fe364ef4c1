/**
 * A tiny, deterministic GPT-2-style byte-level BPE tokenizer for tests and synthetic checkpoints.
 *
 * Layout mirrors GPT-2 exactly, only smaller: ids 0..255 are the 256 byte tokens in GPT-2's bytes_to_unicode
 * order (so id 0 is "!", id 220 is "Ġ" = space, id 198 is "Ċ" = newline, as in the real GPT-2 vocab), then one
 * token per merge in merge order, then `<|endoftext|>` as the last id. Any UTF-8 text round-trips because every
 * byte has a token; the merges only make common English shorter.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const TINY_EOS_TOKEN = '<|endoftext|>';

/**
 * Merges in priority order (first = applied first). The head of this list is GPT-2's own merge list; a few
 * extras (newline/space runs, "t h") make multi-line test text exercise merges too. Each pair must consist of
 * tokens that exist before it (bytes or earlier merge results); `buildTinyVocab` checks this.
 */
const TINY_MERGES: readonly string[] = [
  'Ġ t', 'Ġ a', 'h e', 'i n', 'r e', 'o n', 'Ġt he', 'e r', 'Ġ s', 'a t',
  'Ġ w', 'Ġ o', 'e n', 'Ġ c', 'i t', 'i s', 'a n', 'o r', 'e s', 'Ġ b',
  'e d', 'Ġ f', 'in g', 'Ġ p', 'o u', 'Ġa n', 'a l', 'a r', 'Ġt o', 'Ġ m',
  'Ġo f', 'Ġ in', 'Ġ d', 'Ġ h', 'Ġan d', 'l e', 't h', 'Ġ l', 's t', 'Ċ Ċ',
  'Ġ Ġ', 'Ġ is', 'l l',
];

/** 256 byte tokens + one per merge + `<|endoftext|>`. */
export const TINY_VOCAB_SIZE: number = 256 + TINY_MERGES.length + 1;

/** GPT-2's bytes_to_unicode: printable bytes map to themselves, the rest to U+0100 + n, in this order. */
export function gpt2ByteOrder(): { bytes: number[]; chars: string[] } {
  const bytes: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bytes.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bytes.push(b);
  for (let b = 0xae; b <= 0xff; b++) bytes.push(b);
  const chars = bytes.map((b) => String.fromCodePoint(b));
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bytes.includes(b)) {
      bytes.push(b);
      chars.push(String.fromCodePoint(256 + n));
      n++;
    }
  }
  return { bytes, chars };
}

export interface TinyVocab {
  /** token string → id, including `<|endoftext|>`. */
  vocab: Record<string, number>;
  merges: string[];
  eosId: number;
}

export function buildTinyVocab(): TinyVocab {
  const vocab: Record<string, number> = {};
  let next = 0;
  for (const ch of gpt2ByteOrder().chars) vocab[ch] = next++;
  for (const merge of TINY_MERGES) {
    const [a, b] = merge.split(' ');
    if (a === undefined || b === undefined || !(a in vocab) || !(b in vocab)) {
      throw new Error(`tiny tokenizer merge '${merge}' uses a token that does not exist yet`);
    }
    if (a + b in vocab) throw new Error(`tiny tokenizer merge '${merge}' duplicates token '${a + b}'`);
    vocab[a + b] = next++;
  }
  const eosId = next++;
  vocab[TINY_EOS_TOKEN] = eosId;
  return { vocab, merges: [...TINY_MERGES], eosId };
}

export type TinyTokenizerFormat = 'tokenizer.json' | 'vocab-merges';

export interface TinyTokenizerOptions {
  /** Which formats to write. Default: both. tokenizer_config.json and special_tokens_map.json are always written. */
  formats?: TinyTokenizerFormat[];
  /** model_max_length in tokenizer_config.json. Default 1024 (GPT-2's). */
  modelMaxLength?: number;
}

/** The tokenizer.json object, in the layout HF `tokenizers` saves for GPT-2. */
export function tinyTokenizerJson(): object {
  const { vocab, merges, eosId } = buildTinyVocab();
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      { id: eosId, content: TINY_EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
}

/** Writes the tiny tokenizer into `dir` (created if missing). Returns the vocabulary size (= TINY_VOCAB_SIZE). */
export function writeTinyTokenizerFiles(dir: string, opts: TinyTokenizerOptions = {}): { vocabSize: number } {
  const formats = opts.formats ?? ['tokenizer.json', 'vocab-merges'];
  const { vocab, merges, eosId } = buildTinyVocab();
  mkdirSync(dir, { recursive: true });
  if (formats.includes('tokenizer.json')) {
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyTokenizerJson(), null, 2) + '\n');
  }
  if (formats.includes('vocab-merges')) {
    writeFileSync(join(dir, 'vocab.json'), JSON.stringify(vocab) + '\n');
    writeFileSync(join(dir, 'merges.txt'), ['#version: 0.2', ...merges].join('\n') + '\n');
  }
  // What transformers' GPT2TokenizerFast.save_pretrained writes (GPT-2 has no pad token: pad_token null).
  const tokenizerConfig = {
    add_bos_token: false,
    add_prefix_space: false,
    added_tokens_decoder: {
      [String(eosId)]: { content: TINY_EOS_TOKEN, lstrip: false, normalized: true, rstrip: false, single_word: false, special: true },
    },
    bos_token: TINY_EOS_TOKEN,
    clean_up_tokenization_spaces: false,
    eos_token: TINY_EOS_TOKEN,
    errors: 'replace',
    model_max_length: opts.modelMaxLength ?? 1024,
    pad_token: null,
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: TINY_EOS_TOKEN,
  };
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');
  const specialTokensMap = { bos_token: TINY_EOS_TOKEN, eos_token: TINY_EOS_TOKEN, unk_token: TINY_EOS_TOKEN };
  writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify(specialTokensMap, null, 2) + '\n');
  return { vocabSize: TINY_VOCAB_SIZE };
}
