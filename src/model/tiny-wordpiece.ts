/**
 * A tiny, deterministic BERT-style WordPiece tokenizer for tests and synthetic BERT checkpoints, written in the
 * layout `BertTokenizerFast.save_pretrained` produces (tokenizer.json with BertNormalizer, BertPreTokenizer,
 * TemplateProcessing "[CLS] $A [SEP]" and a WordPiece model and decoder; vocab.txt; tokenizer_config.json;
 * special_tokens_map.json).
 *
 * Vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK] (ids 0..4), ASCII punctuation, digits and letters, the same
 * digits and letters as "##" continuations, then a few common whole words and suffixes. Every lowercase ASCII
 * word is therefore tokenizable (letter by letter at worst); the normalizer lowercases and strips accents.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const WORDPIECE_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

const WORDS = [
  'the', 'a', 'an', 'is', 'was', 'of', 'and', 'to', 'in', 'it', 'this', 'that', 'not', 'very', 'good', 'bad',
  'great', 'movie', 'film', 'story', 'cat', 'dog', 'red', 'blue', 'happy', 'sad', 'love', 'hate', 'text',
  '##s', '##ing', '##ed', '##er', '##ly',
];

/** The vocabulary in id order. */
export function tinyWordPieceVocab(): string[] {
  const vocab: string[] = [...WORDPIECE_SPECIAL_TOKENS];
  const seen = new Set<string>(vocab);
  const add = (t: string): void => {
    if (!seen.has(t)) {
      seen.add(t);
      vocab.push(t);
    }
  };
  for (let c = 0x21; c <= 0x7e; c++) {
    const ch = String.fromCharCode(c);
    if (!/[A-Z]/.test(ch)) add(ch); // uppercase never survives the lowercasing normalizer
  }
  for (const ch of 'abcdefghijklmnopqrstuvwxyz0123456789') add(`##${ch}`);
  for (const w of WORDS) add(w);
  return vocab;
}

export const TINY_WORDPIECE_VOCAB_SIZE: number = tinyWordPieceVocab().length;

/** The tokenizer.json object as HF `tokenizers` saves it for bert-base-uncased (vocabulary aside). */
export function tinyWordPieceTokenizerJson(): object {
  const list = tinyWordPieceVocab();
  const vocab: Record<string, number> = {};
  list.forEach((t, i) => (vocab[t] = i));
  const id = (t: string): number => vocab[t]!;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: WORDPIECE_SPECIAL_TOKENS.map((t) => ({
      id: id(t), content: t, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: '[CLS]', type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: '[SEP]', type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: '[SEP]', type_id: 1 } },
      ],
      special_tokens: {
        '[CLS]': { id: '[CLS]', ids: [id('[CLS]')], tokens: ['[CLS]'] },
        '[SEP]': { id: '[SEP]', ids: [id('[SEP]')], tokens: ['[SEP]'] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab },
  };
}

/**
 * Writes tokenizer.json, vocab.txt, tokenizer_config.json and special_tokens_map.json into `dir` (created if
 * missing). Returns the vocabulary size.
 */
export function writeTinyWordPieceFiles(dir: string, opts: { modelMaxLength?: number } = {}): { vocabSize: number } {
  mkdirSync(dir, { recursive: true });
  const list = tinyWordPieceVocab();
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tinyWordPieceTokenizerJson(), null, 2) + '\n');
  writeFileSync(join(dir, 'vocab.txt'), list.join('\n') + '\n');
  const decoder: Record<string, object> = {};
  WORDPIECE_SPECIAL_TOKENS.forEach((t, i) => {
    decoder[String(i)] = { content: t, lstrip: false, normalized: false, rstrip: false, single_word: false, special: true };
  });
  // What transformers' BertTokenizerFast.save_pretrained writes for bert-base-uncased.
  const tokenizerConfig = {
    added_tokens_decoder: decoder,
    clean_up_tokenization_spaces: true,
    cls_token: '[CLS]',
    do_lower_case: true,
    mask_token: '[MASK]',
    model_max_length: opts.modelMaxLength ?? 512,
    pad_token: '[PAD]',
    sep_token: '[SEP]',
    strip_accents: null,
    tokenize_chinese_chars: true,
    tokenizer_class: 'BertTokenizer',
    unk_token: '[UNK]',
  };
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n');
  const specialTokensMap = { cls_token: '[CLS]', mask_token: '[MASK]', pad_token: '[PAD]', sep_token: '[SEP]', unk_token: '[UNK]' };
  writeFileSync(join(dir, 'special_tokens_map.json'), JSON.stringify(specialTokensMap, null, 2) + '\n');
  return { vocabSize: list.length };
}
