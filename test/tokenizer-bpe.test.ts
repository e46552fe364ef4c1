import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyTokenizerFiles, TINY_VOCAB_SIZE, tinyTokenizerJson } from '../src/model/tiny-tokenizer.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { AtlasError } from '../src/errors.ts';

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'atlas-tok-'));
  tmpDirs.push(d);
  return d;
}
test.after(() => { for (const d of tmpDirs) rmSync(d, { recursive: true, force: true }); });

const TEXTS = [
  'the cat is in the hat, and then the dog ate the string.',
  'Héllo wörld — naïve café ☕ 🌍🚀 👩‍👩‍👧 日本語のテキスト',
  '  leading spaces,\ttabs\tand\n\nnewlines\r\n  trailing  ',
  "it's what they're doing; we'll see 12345 + 3.14",
  'x',
  '<|endoftext|>special inside<|endoftext|>',
];

// ---- An independent GPT-2 byte-level BPE written from the paper/reference code, for cross-checking. ----
function refBytesToUnicode(): Map<number, string> {
  const bs: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b);
  for (let b = '¡'.charCodeAt(0); b <= '¬'.charCodeAt(0); b++) bs.push(b);
  for (let b = '®'.charCodeAt(0); b <= 'ÿ'.charCodeAt(0); b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) { bs.push(b); cs.push(256 + n); n++; }
  return new Map(bs.map((b, i) => [b, String.fromCharCode(cs[i]!)]));
}
const GPT2_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

function refEncode(text: string, vocab: Record<string, number>, merges: string[]): number[] {
  const rank = new Map(merges.map((m, i) => [m, i]));
  const b2u = refBytesToUnicode();
  const out: number[] = [];
  for (const piece of text.match(GPT2_SPLIT) ?? []) {
    let word = [...new TextEncoder().encode(piece)].map((b) => b2u.get(b)!);
    // Repeatedly merge the adjacent pair with the lowest rank (the original GPT-2 `bpe` loop).
    for (;;) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < word.length; i++) {
        const r = rank.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) { bestRank = r; best = i; }
      }
      if (best < 0) break;
      const merged = word[best]! + word[best + 1]!;
      const next: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && `${word[i]} ${word[i + 1]}` === `${word[best]} ${word[best + 1]}`) { next.push(merged); i++; }
        else next.push(word[i]!);
      }
      word = next;
    }
    for (const t of word) out.push(vocab[t]!);
  }
  return out;
}

test('tiny tokenizer files: GPT-2 byte order, merges.txt header, EOS last, both formats', () => {
  const dir = tmp();
  assert.deepEqual(writeTinyTokenizerFiles(dir), { vocabSize: TINY_VOCAB_SIZE });
  const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  assert.equal(Object.keys(vocab).length, TINY_VOCAB_SIZE);
  assert.ok(TINY_VOCAB_SIZE >= 280 && TINY_VOCAB_SIZE <= 320);
  // Same ids as the real GPT-2 vocab for the byte tokens.
  assert.equal(vocab['!'], 0);
  assert.equal(vocab['Ā'], 188); // byte 0x00
  assert.equal(vocab['Ċ'], 198); // '\n'
  assert.equal(vocab['Ġ'], 220); // ' '
  assert.equal(vocab['<|endoftext|>'], TINY_VOCAB_SIZE - 1);
  const mergeLines = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n');
  assert.equal(mergeLines[0], '#version: 0.2');
  for (const m of mergeLines.slice(1).filter(Boolean)) assert.ok(m.replace(' ', '') in vocab, m);
  const tj = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8'));
  assert.deepEqual(tj, JSON.parse(JSON.stringify(tinyTokenizerJson())));
  assert.equal(tj.pre_tokenizer.add_prefix_space, false);
  const only = tmp();
  writeTinyTokenizerFiles(only, { formats: ['vocab-merges'] });
  assert.throws(() => readFileSync(join(only, 'tokenizer.json')));
  readFileSync(join(only, 'special_tokens_map.json'));
});

test('hand-computed BPE: merges applied by rank', async () => {
  const dir = tmp();
  writeTinyTokenizerFiles(dir);
  const tok = await loadTokenizer(dir);
  // "the": pairs t·h (rank 36) and h·e (rank 2) → "he" first → [t, he]; no "t he" merge exists.
  assert.deepEqual(tok.encode('the'), [83, 258]);
  // " the": Ġ·t (rank 0) → Ġt; h·e → he; Ġt·he (rank 6) → Ġthe.
  assert.deepEqual(tok.encode(' the'), [262]);
  assert.deepEqual(tok.tokenStrings(tok.encode('the cat')), ['t', 'he', ' c', 'at']);
});

test('matches an independent byte-level BPE implementation and round-trips exactly', async () => {
  const dir = tmp();
  writeTinyTokenizerFiles(dir);
  const tok = await loadTokenizer(dir);
  const vocab = JSON.parse(readFileSync(join(dir, 'vocab.json'), 'utf8')) as Record<string, number>;
  const merges = readFileSync(join(dir, 'merges.txt'), 'utf8').split('\n').slice(1).filter(Boolean);
  for (const text of TEXTS.slice(0, 5)) {
    const ids = tok.encode(text);
    assert.deepEqual(ids, refEncode(text, vocab, merges), text);
    assert.equal(tok.decode(ids), text);
    assert.ok(ids.every((id) => id >= 0 && id < TINY_VOCAB_SIZE));
  }
  // The special token inside text is one token, not split into bytes.
  const ids = tok.encode(TEXTS[5]!);
  assert.equal(ids[0], TINY_VOCAB_SIZE - 1);
  assert.equal(ids.at(-1), TINY_VOCAB_SIZE - 1);
  assert.equal(tok.decode(ids), TEXTS[5]);
});

test('tokenizer.json path and vocab.json + merges.txt path give identical ids', async () => {
  const a = tmp();
  const b = tmp();
  writeTinyTokenizerFiles(a, { formats: ['tokenizer.json'] });
  writeTinyTokenizerFiles(b, { formats: ['vocab-merges'] });
  const ta = await loadTokenizer(a);
  const tb = await loadTokenizer(b);
  for (const text of TEXTS) assert.deepEqual(ta.encode(text), tb.encode(text), text);
  for (const t of [ta, tb]) {
    assert.equal(t.vocabSize, TINY_VOCAB_SIZE);
    assert.equal(t.eosTokenId, TINY_VOCAB_SIZE - 1);
    assert.equal(t.bosTokenId, TINY_VOCAB_SIZE - 1);
    assert.equal(t.padTokenId, TINY_VOCAB_SIZE - 1); // GPT-2: no pad token → EOS
    assert.equal(t.paddingSide, 'right');
    assert.equal(t.addBos, false);
    assert.equal(t.modelMaxLength, 1024);
  }
});

test('tokenStrings: readable labels, byte fragments of a character as \\xHH', async () => {
  const dir = tmp();
  writeTinyTokenizerFiles(dir);
  const tok = await loadTokenizer(dir);
  const ids = tok.encode('é 🌍\n');
  assert.deepEqual(tok.tokenStrings(ids), ['\\xC3', '\\xA9', ' ', '\\xF0', '\\x9F', '\\x8C', '\\x8D', '\n']);
  assert.throws(() => tok.decode([TINY_VOCAB_SIZE]), AtlasError);
  assert.equal(tok.decode([]), '');
});

test('encodeBatch: right/left padding with EOS as pad, mask, lengths, truncation', async () => {
  const dir = tmp();
  writeTinyTokenizerFiles(dir);
  const right = await loadTokenizer(dir);
  const texts = ['the cat', 'x', 'hello world and more'];
  const rows = texts.map((t) => right.encode(t));
  const seqLen = Math.max(...rows.map((r) => r.length));
  const b = right.encodeBatch(texts);
  assert.equal(b.seqLen, seqLen);
  assert.deepEqual(b.lengths, rows.map((r) => r.length));
  rows.forEach((row, i) => {
    for (let j = 0; j < seqLen; j++) {
      assert.equal(b.ids[i * seqLen + j], j < row.length ? row[j] : right.padTokenId);
      assert.equal(b.attentionMask[i * seqLen + j], j < row.length ? 1 : 0);
    }
  });
  const left = await loadTokenizer(dir, { paddingSide: 'left' });
  const l = left.encodeBatch(texts);
  rows.forEach((row, i) => {
    const pad = seqLen - row.length;
    for (let j = 0; j < seqLen; j++) {
      assert.equal(l.ids[i * seqLen + j], j < pad ? left.padTokenId : row[j - pad]);
      assert.equal(l.attentionMask[i * seqLen + j], j < pad ? 0 : 1);
    }
  });
  const full = right.encode(texts[2]!);
  const tr = right.encodeBatch([texts[2]!], { maxLength: 3 });
  assert.deepEqual([...tr.ids], full.slice(0, 3));
  const tl = right.encodeBatch([texts[2]!], { maxLength: 3, truncation: 'left' });
  assert.deepEqual([...tl.ids], full.slice(-3));
  assert.throws(() => right.encodeBatch(['a', '', 'b']), (e: unknown) => e instanceof AtlasError && /text 1 is empty/.test(e.message));
});

test('padding_side, add_bos_token and config.json ids are respected (llama-style)', async () => {
  const dir = tmp();
  writeTinyTokenizerFiles(dir);
  // Turn the tiny tokenizer into a llama-style one: a "<s>" BOS added by a TemplateProcessing post-processor.
  const tj = tinyTokenizerJson() as Record<string, any>;
  const bos = TINY_VOCAB_SIZE;
  tj.added_tokens.push({ id: bos, content: '<s>', single_word: false, lstrip: false, rstrip: false, normalized: false, special: true });
  tj.post_processor = {
    type: 'TemplateProcessing',
    single: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
    pair: [{ SpecialToken: { id: '<s>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }, { Sequence: { id: 'B', type_id: 1 } }],
    special_tokens: { '<s>': { id: '<s>', ids: [bos], tokens: ['<s>'] } },
  };
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tj));
  const cfg = { add_bos_token: true, bos_token: '<s>', eos_token: '<|endoftext|>', pad_token: null, padding_side: 'left', model_max_length: 1e30 };
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cfg));
  writeFileSync(join(dir, 'special_tokens_map.json'), '{}');
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ model_type: 'llama', pad_token_id: 5, bos_token_id: bos }));
  const tok = await loadTokenizer(dir);
  assert.equal(tok.addBos, true);
  assert.equal(tok.bosTokenId, bos);
  assert.equal(tok.padTokenId, 5);
  assert.equal(tok.paddingSide, 'left');
  assert.equal(tok.modelMaxLength, undefined);
  assert.equal(tok.vocabSize, TINY_VOCAB_SIZE + 1);
  assert.deepEqual(tok.encode(' the'), [bos, 262]);
  const b = tok.encodeBatch([' the', ' the the'], { maxLength: 2 });
  assert.deepEqual([...b.ids], [bos, 262, bos, 262]);

  // add_bos_token: false overrides the post-processor (as transformers' LlamaTokenizerFast does).
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, add_bos_token: false }));
  const noBos = await loadTokenizer(dir);
  assert.equal(noBos.addBos, false);
  assert.deepEqual(noBos.encode(' the'), [262]);

  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...cfg, padding_side: 'middle' }));
  await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof AtlasError && /padding_side/.test(e.message));
});

test('missing tokenizer files: error names the folder and the files looked for', async () => {
  const dir = tmp();
  writeFileSync(join(dir, 'config.json'), '{}');
  await assert.rejects(loadTokenizer(dir), (e: unknown) =>
    e instanceof AtlasError && e.message.includes(dir) && /tokenizer\.json/.test(e.message) && /vocab\.json \+ merges\.txt/.test(e.message));
  writeFileSync(join(dir, 'tokenizer.json'), '{not json');
  await assert.rejects(loadTokenizer(dir), (e: unknown) => e instanceof AtlasError && /invalid JSON/.test(e.message));
});
