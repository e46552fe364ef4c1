/**
 * SentencePiece tokenizer.model and llama2.c tokenizer.bin. References:
 *  - test/fixtures/sentencepiece/expected.json: ids and decoded text from the SentencePiece library itself
 *    (Debian python3-sentencepiece 0.1.97; scripts/reference/sentencepiece_fixtures.py) for stories260K's
 *    tok512.model and two tiny trained models (unigram; BPE with user-defined symbols, no whitespace clean-up,
 *    no byte fallback);
 *  - runcEncode below: a line-by-line transcription of llama2.c run.c's `encode` (bsearch over the strcmp-sorted
 *    vocabulary, O(n^2) rescans), written independently of src/model/llama2c-tokenizer.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readSentencePieceModel, SentencePieceTokenizer } from '../src/model/sentencepiece.ts';
import { Llama2cTokenizer, readLlama2cTokenizer } from '../src/model/llama2c-tokenizer.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { isAtlasError } from '../src/errors.ts';
import { prng } from './reference/random-weights.ts';

const STORIES = '../shared/models/stories260K';
const skip = existsSync(join(STORIES, 'tok512.model')) ? false : `stories260K not found at ${STORIES} (the shared model folder); skipped`;

interface Case { text: string; ids: number[]; decoded: string }
const fixture = JSON.parse(readFileSync('test/fixtures/sentencepiece/expected.json', 'utf8')) as { models: Record<string, { file: string; cases: Case[] }> };

for (const [name, m] of Object.entries(fixture.models)) {
  test(`SentencePiece ${name}: encode and decode equal the SentencePiece library on ${m.cases.length} texts`, { skip: existsSync(m.file) ? false : skip }, () => {
    const tok = new SentencePieceTokenizer(readSentencePieceModel(m.file));
    let agree = 0;
    for (const c of m.cases) {
      assert.deepEqual(tok.encode(c.text), c.ids, `encode ${JSON.stringify(c.text)}`);
      assert.equal(tok.decode(c.ids), c.decoded, `decode ${JSON.stringify(c.text)}`);
      agree++;
    }
    assert.ok(m.cases.length >= 30 && agree === m.cases.length);
    console.log(`# sentencepiece ${name}: ${agree}/${m.cases.length} texts agree (encode and decode)`);
  });
}

/** llama2.c tokenizer.bin, read here independently of src (int32 max_token_length; per token f32 score, i32 len, bytes). */
function readBin(file: string): { vocab: Buffer[]; scores: number[] } {
  const b = readFileSync(file);
  const vocab: Buffer[] = [];
  const scores: number[] = [];
  for (let p = 4; p < b.length;) {
    scores.push(b.readFloatLE(p));
    const len = b.readInt32LE(p + 4);
    vocab.push(b.subarray(p + 8, p + 8 + len));
    p += 8 + len;
  }
  return { vocab, scores };
}

/** run.c `encode(t, text, bos=0, eos=0, ...)`, transcribed. */
function runcEncode(vocab: Buffer[], scores: number[], text: string): number[] {
  const sorted = vocab.map((str, id) => ({ str, id })).sort((a, b) => Buffer.compare(a.str, b.str));
  const strLookup = (str: Buffer): number => {
    let lo = 0, hi = sorted.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const c = Buffer.compare(str, sorted[mid]!.str);
      if (c === 0) return sorted[mid]!.id;
      if (c < 0) hi = mid - 1;
      else lo = mid + 1;
    }
    return -1;
  };
  const tokens: number[] = [];
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length > 0) tokens.push(strLookup(Buffer.from(' ')));
  let buf: number[] = [];
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i]!;
    if ((c & 0xc0) !== 0x80) buf = [];
    buf.push(c);
    const next = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    if ((next & 0xc0) === 0x80 && buf.length < 4) continue;
    const id = strLookup(Buffer.from(buf));
    if (id !== -1) tokens.push(id);
    else for (const b of buf) tokens.push(b + 3);
    buf = [];
  }
  for (;;) {
    let bestScore = -1e10, bestId = -1, bestIdx = -1;
    for (let i = 0; i < tokens.length - 1; i++) {
      const id = strLookup(Buffer.concat([vocab[tokens[i]!]!, vocab[tokens[i + 1]!]!]));
      if (id !== -1 && scores[id]! > bestScore) {
        bestScore = scores[id]!;
        bestId = id;
        bestIdx = i;
      }
    }
    if (bestIdx === -1) break;
    tokens[bestIdx] = bestId;
    tokens.splice(bestIdx + 1, 1);
  }
  return tokens;
}

/** Random texts over ASCII letters, spaces, punctuation, digits and multi-byte characters. */
function randomTexts(n: number, seed: number): string[] {
  const alphabet = [...'abcdefghijklmnopqrstuvwxyz       ETAOINS.,!?\'"-0123456789\n\téüß日本😀'];
  const r = prng(seed);
  return Array.from({ length: n }, () => Array.from({ length: 1 + Math.floor(r() * 60) }, () => alphabet[Math.floor(r() * alphabet.length)]).join(''));
}

test('llama2.c tokenizer.bin: encode equals a transcription of run.c encode; decode inverts it', { skip }, () => {
  const file = join(STORIES, 'tok512.bin');
  const { vocab, scores } = readBin(file);
  const tok = new Llama2cTokenizer(readLlama2cTokenizer(file));
  assert.equal(tok.vocabSize, 512);
  const texts = [...fixture.models.tok512!.cases.map((c) => c.text), ...randomTexts(300, 5)];
  for (const text of texts) {
    const ids = tok.encode(text);
    assert.deepEqual(ids, runcEncode(vocab, scores, text), `encode ${JSON.stringify(text)}`);
    assert.equal(tok.decode(ids), text, `decode(encode(${JSON.stringify(text)}))`);
  }
  console.log(`# llama2.c tokenizer.bin: ${texts.length}/${texts.length} texts equal run.c's encode`);
});

test('llama2.c encoder vs SentencePiece on tok512: equal except where SentencePiece cleans up whitespace', { skip }, () => {
  const tok = new Llama2cTokenizer(readLlama2cTokenizer(join(STORIES, 'tok512.bin')));
  const cases = fixture.models.tok512!.cases;
  let agree = 0;
  for (const c of cases) {
    // tok512.model has remove_extra_whitespaces (leading/trailing spaces dropped, runs collapsed); run.c has
    // none, and its vocabulary spells '▁' as ' ', so a literal '▁' in the text is bytes to it.
    const cleanedUp = /^ | $| {2}|\u2581/.test(c.text);
    const same = JSON.stringify(tok.encode(c.text)) === JSON.stringify(c.ids);
    assert.equal(same, !cleanedUp, `${JSON.stringify(c.text)}: llama2.c ${same ? 'agrees' : 'differs'}`);
    if (same) agree++;
  }
  console.log(`# llama2.c encoder agrees with SentencePiece on ${agree}/${cases.length} texts (the rest have leading/trailing/repeated spaces or '▁')`);
});

test('loadTokenizer: a llama2.c folder uses tok512.model; tok512.bin can be named; both add BOS', { skip }, async () => {
  const sp = await loadTokenizer(STORIES);
  assert.match(sp.source, /tok512\.model$/);
  const bin = await loadTokenizer(STORIES, { file: join(STORIES, 'tok512.bin') });
  assert.match(bin.source, /tok512\.bin$/);
  const text = 'Once upon a time, there was a little girl named Lily.';
  for (const t of [sp, bin]) {
    assert.equal(t.vocabSize, 512);
    assert.equal(t.bosTokenId, 1);
    assert.equal(t.eosTokenId, 2);
    assert.equal(t.addBos, true);
    const ids = t.encode(text);
    assert.deepEqual(ids.slice(0, 5), [1, 403, 407, 261, 378]);
    assert.equal(t.decode(ids.slice(1)), text);
    assert.equal(t.decode(ids), `<s>${text}`);
    assert.deepEqual(t.tokenStrings(ids.slice(1, 4)), [' Once', ' upon', ' a']);
    const batch = t.encodeBatch([text, 'Hi']);
    assert.equal(batch.seqLen, ids.length);
    assert.deepEqual(batch.lengths, [ids.length, t.encode('Hi').length]);
  }
  assert.deepEqual(sp.encode(text), bin.encode(text));
  // A byte-fallback piece shows as \xHH (a fragment of a multi-byte character).
  assert.deepEqual(sp.tokenStrings(sp.encode('😀').slice(2)), ['\\xF0', '\\x9F', '\\x98', '\\x80']);
});

test('bad tokenizer files: a tokenizer.model that is not a SentencePiece protobuf, a truncated tokenizer.bin', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-sp-'));
  try {
    const expectError = async (file: string, re: RegExp): Promise<void> => {
      await assert.rejects(loadTokenizer(dir, { file }), (e: unknown) => {
        assert.ok(isAtlasError(e), String(e));
        assert.ok(e.message.includes(file), e.message);
        assert.match(e.message, re);
        return true;
      });
    };
    const json = join(dir, 'tokenizer.model');
    writeFileSync(json, '{"model": {"type": "BPE"}}\n');
    await expectError(json, /is not a SentencePiece model/);
    const ragged = join(dir, 'ragged.model');
    writeFileSync(ragged, readFileSync(join(STORIES, 'tok512.model')).subarray(0, 3000));
    await expectError(ragged, /is not a SentencePiece model.*remain/);
    const other = join(dir, 'other.model');
    writeFileSync(other, Uint8Array.of(0x08, 0x07, 0x10, 0x01)); // a valid protobuf (two varints), no pieces
    await expectError(other, /is not a SentencePiece model.*(no pieces|not a message)/);
    const cut = join(dir, 'tok512.bin');
    writeFileSync(cut, readFileSync(join(STORIES, 'tok512.bin')).subarray(0, 5000));
    await expectError(cut, /is not a llama2\.c tokenizer.*token \d+/);
    await expectError(join(dir, 'vocab.txt'), /not found/);
    writeFileSync(join(dir, 'vocab.txt'), 'a\n');
    await expectError(join(dir, 'vocab.txt'), /is not a tokenizer file/);
    // A folder with two llama2.c tokenizers of one kind must be told which.
    copyFileSync(join(STORIES, 'tok512.bin'), join(dir, 'tok1.bin'));
    copyFileSync(join(STORIES, 'tok512.bin'), join(dir, 'tok2.bin'));
    rmSync(cut);
    rmSync(json);
    await assert.rejects(loadTokenizer(dir), /several tokenizer files: tok1\.bin, tok2\.bin.*--tokenizer/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a Hugging Face folder with only tokenizer.model uses it, honouring add_bos_token / add_eos_token', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-sp-hf-'));
  try {
    copyFileSync(join(STORIES, 'tok512.model'), join(dir, 'tokenizer.model'));
    const plain = await loadTokenizer(dir);
    assert.deepEqual(plain.encode('Once upon a time'), [1, 403, 407, 261, 378]);
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ add_bos_token: false, add_eos_token: true, padding_side: 'left' }));
    const t = await loadTokenizer(dir);
    assert.match(t.source, /tokenizer\.model$/);
    assert.deepEqual(t.encode('Once upon a time'), [403, 407, 261, 378, 2]);
    assert.equal(t.addBos, false);
    const b = t.encodeBatch(['Once upon a time', 'a']);
    assert.deepEqual([...b.ids.subarray(5)], [t.padTokenId, t.padTokenId, t.padTokenId, 261, 2]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
