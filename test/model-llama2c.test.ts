/**
 * llama2.c checkpoints, on the real stories260K model (../shared/models/stories260K, read in place):
 *  - the runtime's hidden states equal the float64 Llama reference (test/reference/forward64.ts) fed with the
 *    tensors the reader returns (HF names, q/k rows permuted to HF's half-split rotary);
 *  - that reference in turn equals a float64 transcription of run.c's forward on the RAW file (its own header
 *    parsing and offsets, interleaved rotary, original wq/wk), which proves the permutation;
 *  - greedy decoding from BOS: 30 tokens equal the reference's and read as the README's story;
 *  - export.py's version 1 / version 2 (Q8_0) files and an untied classifier, written here from the raw
 *    tensors by a transcription of export.py, read back to the same weights;
 *  - bad input: truncated file, bad magic/version, a vocab_size mismatch with the tokenizer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openCheckpoint, validateCheckpoint } from '../src/model/checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { openLlama2cWeights } from '../src/model/llama2c.ts';
import { isAtlasError } from '../src/errors.ts';
import { referenceForward, type ReferenceWeights } from './reference/forward64.ts';

const DIR = '../shared/models/stories260K';
const BIN = join(DIR, 'stories260K.bin');
const skip = existsSync(BIN) ? false : `stories260K not found at ${DIR} (the shared model folder); skipped`;
const STORY = 'Once upon a time, there was a little girl named Lily.';

/** max |a - b| / max |b|. */
function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let diff = 0, ref = 0;
  for (let i = 0; i < b.length; i++) {
    assert.ok(Number.isFinite(a[i]!), `value ${i} is not finite`);
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
    ref = Math.max(ref, Math.abs(b[i]!));
  }
  assert.ok(ref > 0, 'reference is all zero');
  return diff / ref;
}

function argmax(x: ArrayLike<number>, from = 0, n = x.length): number {
  let best = 0;
  for (let v = 1; v < n; v++) if (x[from + v]! > x[from + best]!) best = v;
  return best;
}

// ---- run.c, transcribed: its own reading of the raw version-0 file and its forward pass in float64 ----

interface Raw {
  dim: number; hidden: number; L: number; H: number; KV: number; V: number; seqLen: number; shared: boolean;
  emb: Float64Array; rmsAtt: Float64Array; wq: Float64Array; wk: Float64Array; wv: Float64Array; wo: Float64Array;
  rmsFfn: Float64Array; w1: Float64Array; w2: Float64Array; w3: Float64Array; rmsFinal: Float64Array; wcls: Float64Array;
  /** Raw float32 values in file order (for writing other layouts). */
  f32: Float32Array;
}

/** run.c's read_checkpoint + memory_map_weights. */
function readRaw(file: string): Raw {
  const b = readFileSync(file);
  const [dim, hidden, L, H, KV, vocab, seqLen] = Array.from({ length: 7 }, (_, i) => b.readInt32LE(4 * i)) as number[] as [number, number, number, number, number, number, number];
  const f32 = new Float32Array(b.buffer.slice(b.byteOffset + 28, b.byteOffset + b.length));
  const hs = dim / H;
  const V = Math.abs(vocab);
  let p = 0;
  const take = (n: number): Float64Array => Float64Array.from(f32.subarray(p, (p += n)));
  const emb = take(V * dim);
  const rmsAtt = take(L * dim);
  const wq = take(L * dim * H * hs);
  const wk = take(L * dim * KV * hs);
  const wv = take(L * dim * KV * hs);
  const wo = take(L * H * hs * dim);
  const rmsFfn = take(L * dim);
  const w1 = take(L * dim * hidden);
  const w2 = take(L * hidden * dim);
  const w3 = take(L * dim * hidden);
  const rmsFinal = take(dim);
  p += seqLen * hs; // freq_cis_real and freq_cis_imag
  const shared = vocab > 0;
  const wcls = shared ? emb : take(V * dim);
  assert.equal(p, f32.length, 'raw reader consumed the whole file');
  return { dim, hidden, L, H, KV, V, seqLen, shared, emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls, f32 };
}

/** run.c's forward() for positions 0..T-1 (all of them, float64). hidden as HF: [emb, block outputs..., final-normed]. */
function runcForward(w: Raw, ids: number[]): { hidden: Float64Array[]; logits: Float64Array } {
  const { dim, hidden: hd, L, H, KV } = w;
  const hs = dim / H, kvDim = KV * hs, kvMul = H / KV, T = ids.length;
  const rmsnorm = (x: Float64Array, g: Float64Array, go: number): Float64Array => {
    let ss = 0;
    for (let j = 0; j < dim; j++) ss += x[j]! * x[j]!;
    ss = 1 / Math.sqrt(ss / dim + 1e-5);
    return Float64Array.from(x, (v, j) => g[go + j]! * (ss * v));
  };
  // xout (d,) = W (d,n) @ x (n,), W at offset wo
  const matmul = (x: Float64Array, W: Float64Array, wo: number, n: number, d: number): Float64Array => {
    const out = new Float64Array(d);
    for (let i = 0; i < d; i++) {
      let v = 0;
      for (let j = 0; j < n; j++) v += W[wo + i * n + j]! * x[j]!;
      out[i] = v;
    }
    return out;
  };
  const xs = ids.map((id) => w.emb.slice(id * dim, (id + 1) * dim));
  const hidden = [Float64Array.from(xs.flatMap((x) => [...x]))];
  const keys: Float64Array[][] = Array.from({ length: L }, () => []);
  const values: Float64Array[][] = Array.from({ length: L }, () => []);
  for (let l = 0; l < L; l++) {
    for (let pos = 0; pos < T; pos++) {
      const x = xs[pos]!;
      const xb = rmsnorm(x, w.rmsAtt, l * dim);
      const q = matmul(xb, w.wq, l * dim * dim, dim, dim);
      const k = matmul(xb, w.wk, l * dim * kvDim, dim, kvDim);
      const v = matmul(xb, w.wv, l * dim * kvDim, dim, kvDim);
      for (let i = 0; i < dim; i += 2) {
        const headDim = i % hs;
        const freq = 1 / Math.pow(10000, headDim / hs);
        const val = pos * freq, fcr = Math.cos(val), fci = Math.sin(val);
        for (const vec of i < kvDim ? [q, k] : [q]) {
          const v0 = vec[i]!, v1 = vec[i + 1]!;
          vec[i] = v0 * fcr - v1 * fci;
          vec[i + 1] = v0 * fci + v1 * fcr;
        }
      }
      keys[l]![pos] = k;
      values[l]![pos] = v;
      const att = new Float64Array(dim);
      for (let h = 0; h < H; h++) {
        const kh = Math.floor(h / kvMul);
        const scores = new Float64Array(pos + 1);
        for (let t = 0; t <= pos; t++) {
          let s = 0;
          for (let i = 0; i < hs; i++) s += q[h * hs + i]! * keys[l]![t]![kh * hs + i]!;
          scores[t] = s / Math.sqrt(hs);
        }
        const max = Math.max(...scores);
        let sum = 0;
        for (let t = 0; t <= pos; t++) sum += (scores[t] = Math.exp(scores[t]! - max));
        for (let t = 0; t <= pos; t++) for (let i = 0; i < hs; i++) att[h * hs + i]! += (scores[t]! / sum) * values[l]![t]![kh * hs + i]!;
      }
      const o = matmul(att, w.wo, l * dim * dim, dim, dim);
      for (let i = 0; i < dim; i++) x[i]! += o[i]!;
    }
    // The MLP of every position after attention of every position: same result (positions only mix in attention).
    for (let pos = 0; pos < T; pos++) {
      const x = xs[pos]!;
      const xb = rmsnorm(x, w.rmsFfn, l * dim);
      const h1 = matmul(xb, w.w1, l * dim * hd, dim, hd);
      const h3 = matmul(xb, w.w3, l * dim * hd, dim, hd);
      for (let i = 0; i < hd; i++) h1[i] = (h1[i]! / (1 + Math.exp(-h1[i]!))) * h3[i]!;
      const down = matmul(h1, w.w2, l * dim * hd, hd, dim);
      for (let i = 0; i < dim; i++) x[i]! += down[i]!;
    }
    hidden.push(Float64Array.from(xs.flatMap((x) => [...x])));
  }
  const normed = xs.map((x) => rmsnorm(x, w.rmsFinal, 0));
  hidden[L] = Float64Array.from(normed.flatMap((x) => [...x]));
  const logits = Float64Array.from(normed.flatMap((x) => [...matmul(x, w.wcls, 0, dim, w.V)]));
  return { hidden, logits };
}

function weightsOf(model: LoadedModel): ReferenceWeights {
  return { config: model.checkpoint.config, tensor: (n) => model.checkpoint.tensor(n) };
}

test('stories260K loads as a folder and as a .bin; config from the header', { skip }, async () => {
  for (const path of [DIR, BIN]) {
    const ckpt = openCheckpoint(path);
    try {
      assert.equal(ckpt.format, 'llama2c');
      const c = ckpt.config;
      assert.deepEqual([c.architecture, c.dModel, c.nLayer, c.nHead, c.nKvHead, c.dFF, c.vocabSize, c.maxPositions, c.normEps, c.ropeTheta, c.tieWordEmbeddings],
        ['llama', 64, 5, 8, 4, 172, 512, 512, 1e-5, 10000, true]);
      validateCheckpoint(ckpt);
      assert.equal(ckpt.names().length, 2 + 9 * 5);
      assert.match(ckpt.fileOf('layers.0.self_attn.q_proj.weight'), /stories260K\.bin$/);
    } finally {
      ckpt.close();
    }
  }
});

test('stories260K: the float64 Llama reference on the converted weights equals run.c on the raw file (proves the q/k permutation)', { skip }, async () => {
  const raw = readRaw(BIN);
  const model = await loadModel(DIR, { threads: 1 });
  try {
    const ids = model.tokenizer.encode(STORY);
    const ref = referenceForward(weightsOf(model), ids);
    const runc = runcForward(raw, ids);
    for (let l = 0; l < ref.hidden.length; l++) assert.ok(relError(ref.hidden[l]!, runc.hidden[l]!) < 1e-10, `hidden ${l}`);
    assert.ok(relError(ref.logits, runc.logits) < 1e-10, 'logits');
    // Without the permutation the two disagree (the check can fail).
    const unpermuted: ReferenceWeights = {
      config: model.checkpoint.config,
      tensor: (n) => {
        const m = /^layers\.(\d+)\.self_attn\.(q|k)_proj\.weight$/.exec(n);
        if (!m) return model.checkpoint.tensor(n);
        const l = Number(m[1]), rows = m[2] === 'q' ? raw.dim : (raw.dim / raw.H) * raw.KV;
        const src = m[2] === 'q' ? raw.wq : raw.wk;
        return { shape: [rows, raw.dim], data: Float32Array.from(src.subarray(l * rows * raw.dim, (l + 1) * rows * raw.dim)) };
      },
    };
    assert.ok(relError(referenceForward(unpermuted, ids).hidden[1]!, runc.hidden[1]!) > 1e-3);
  } finally {
    await model.release();
  }
});

test('stories260K: every hidden state of the runtime matches the float64 reference <= 1e-4, with padding', { skip }, async () => {
  const model = await loadModel(BIN, { threads: 1 });
  try {
    const texts = [STORY, 'The cat sat on the mat.', 'Tom and Sue went to the big red house. They saw a dog.'];
    const batch = model.tokenizer.encodeBatch(texts);
    const out = await model.runtime.forward({ ids: batch.ids, attentionMask: batch.attentionMask, batch: texts.length, seqLen: batch.seqLen }, { logits: 'all' });
    assert.equal(out.hiddenStates.length, 6);
    let worst = 0;
    texts.forEach((text, b) => {
      const ids = model.tokenizer.encode(text);
      const ref = referenceForward(weightsOf(model), ids);
      const T = ids.length, S = batch.seqLen, d = 64, V = 512;
      for (let l = 0; l < 6; l++) {
        const got = out.hiddenStates[l]!.data.subarray(b * S * d, b * S * d + T * d); // right padding: real tokens first
        const e = relError(got, ref.hidden[l]!);
        worst = Math.max(worst, e);
        assert.ok(e <= 1e-4, `text ${b} hidden ${l}: rel error ${e}`);
      }
      const e = relError(out.logits!.data.subarray(b * S * V, b * S * V + T * V), ref.logits);
      assert.ok(e <= 1e-4, `text ${b} logits: rel error ${e}`);
    });
    console.log(`# stories260K runtime vs float64 reference: max rel error ${worst.toExponential(2)} over 6 hidden states x 3 texts`);
  } finally {
    await model.release();
  }
});

test('stories260K: greedy decoding from BOS equals the float64 reference for 30 tokens and tells the README story', { skip }, async () => {
  const model = await loadModel(DIR, { threads: 1 });
  try {
    const N = 30;
    const ours = [1], ref = [1];
    for (let i = 0; i < N; i++) {
      const out = await model.runtime.forward({ ids: Int32Array.from(ours), attentionMask: new Uint8Array(ours.length).fill(1), batch: 1, seqLen: ours.length }, { logits: 'last' });
      ours.push(argmax(out.logits!.data));
      const r = referenceForward(weightsOf(model), ref);
      ref.push(argmax(r.logits, (ref.length - 1) * 512, 512));
    }
    assert.deepEqual(ours, ref);
    const text = model.tokenizer.decode(ours.slice(1));
    console.log(`# greedy from BOS: ${JSON.stringify(text)}`);
    assert.match(text, /^Once upon a time, there was a little girl named Lily\. /);
  } finally {
    await model.release();
  }
});

// ---- export.py's other layouts, written from the raw tensors ----

/** export.py version1_export / version2_export (Q8_0, quantize_q80) / legacy_export with an untied classifier. */
function writeExport(raw: Raw, version: 0 | 1 | 2, opts: { untied?: Float32Array; groupSize?: number } = {}): Buffer {
  const { dim, hidden, L, H, KV, V, seqLen } = raw;
  const hs = dim / H;
  const f = raw.f32;
  let p = 0;
  const take = (n: number): Float32Array => f.subarray(p, (p += n));
  const emb = take(V * dim), rmsAtt = take(L * dim), wq = take(L * dim * dim), wk = take(L * dim * KV * hs), wv = take(L * dim * KV * hs);
  const wo = take(L * dim * dim), rmsFfn = take(L * dim), w1 = take(L * dim * hidden), w2 = take(L * hidden * dim), w3 = take(L * dim * hidden);
  const rmsFinal = take(dim), freqs = take(seqLen * hs);
  const perLayer = (w: Float32Array): Float32Array[] => Array.from({ length: L }, (_, l) => w.subarray((l * w.length) / L, ((l + 1) * w.length) / L));
  const cls = opts.untied ? [opts.untied] : [];
  const f32 = (ws: Float32Array[]): Buffer => Buffer.concat(ws.map((w) => Buffer.from(Float32Array.from(w).buffer)));
  const ints = (xs: number[]): Buffer => Buffer.from(Int32Array.from(xs).buffer);
  if (version === 0) return Buffer.concat([ints([dim, hidden, L, H, KV, opts.untied ? -V : V, seqLen]), f32([emb, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, freqs, ...cls])]);
  const header = Buffer.alloc(256);
  header.writeUInt32LE(0x616b3432, 0);
  header.writeInt32LE(version, 4);
  ints([dim, hidden, L, H, KV, V, seqLen]).copy(header, 8);
  header[36] = opts.untied ? 0 : 1;
  const norms = [...perLayer(rmsAtt), ...perLayer(rmsFfn), rmsFinal];
  const mats = [emb, ...[wq, wk, wv, wo, w1, w2, w3].flatMap(perLayer), ...cls];
  if (version === 1) return Buffer.concat([header, f32([...norms, ...mats])]);
  const g = opts.groupSize!;
  header.writeInt32LE(g, 37);
  const q8 = mats.map((w) => {
    const q = new Int8Array(w.length), s = new Float32Array(w.length / g);
    for (let k = 0; k < s.length; k++) {
      let wmax = 0;
      for (let i = 0; i < g; i++) wmax = Math.max(wmax, Math.abs(w[k * g + i]!));
      s[k] = wmax / 127;
      for (let i = 0; i < g; i++) q[k * g + i] = Math.round(w[k * g + i]! / s[k]!);
    }
    return Buffer.concat([Buffer.from(q.buffer), Buffer.from(s.buffer)]);
  });
  return Buffer.concat([header, f32(norms), ...q8]);
}

test('export.py version 1, version 2 (Q8_0) and an untied classifier read back to the same weights', { skip }, () => {
  const raw = readRaw(BIN);
  const dir = mkdtempSync(join(tmpdir(), 'atlas-l2c-'));
  try {
    const v0 = openLlama2cWeights(BIN);
    const untied = Float32Array.from(raw.f32.subarray(0, raw.V * raw.dim), (x, i) => x * 0.5 + (i % 7) * 1e-3);
    const files = {
      v1: writeExport(raw, 1),
      v2: writeExport(raw, 2, { groupSize: 32 }),
      untied0: writeExport(raw, 0, { untied }),
      untied1: writeExport(raw, 1, { untied }),
    };
    for (const [name, buf] of Object.entries(files)) writeFileSync(join(dir, `${name}.bin`), buf);
    for (const name of ['v1', 'untied0', 'untied1']) {
      const w = openLlama2cWeights(join(dir, `${name}.bin`));
      assert.equal(w.header.version, name === 'untied0' ? 0 : 1);
      for (const n of v0.names()) assert.deepEqual(w.read(n).data, v0.read(n).data, `${name}: ${n}`);
      assert.equal(w.has('lm_head.weight'), name !== 'v1');
      if (name !== 'v1') assert.deepEqual(w.read('lm_head.weight').data, untied);
      assert.equal(w.config.tie_word_embeddings, name === 'v1');
      w.close();
    }
    const q = openLlama2cWeights(join(dir, 'v2.bin'));
    assert.equal(q.header.groupSize, 32);
    for (const n of v0.names()) {
      const a = q.read(n).data, b = v0.read(n).data;
      if (/norm/.test(n)) assert.deepEqual(a, b, n); // norms stay float32
      else {
        let maxAbs = 0, maxErr = 0;
        for (let i = 0; i < b.length; i++) maxAbs = Math.max(maxAbs, Math.abs(b[i]!));
        for (let i = 0; i < b.length; i++) maxErr = Math.max(maxErr, Math.abs(a[i]! - b[i]!));
        assert.ok(maxErr > 0 && maxErr <= maxAbs / 127, `${n}: Q8_0 error ${maxErr} vs max ${maxAbs}`);
      }
    }
    q.close();
    v0.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad llama2.c input: truncated file, bad magic and version, tokenizer vocab_size mismatch, two checkpoints in a folder', { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-l2c-bad-'));
  const atlas = (re: RegExp, file: string) => (e: unknown): boolean => {
    assert.ok(isAtlasError(e), String(e));
    assert.ok(e.message.includes(file), e.message);
    assert.match(e.message, re);
    return true;
  };
  try {
    const full = readFileSync(BIN);
    const cut = join(dir, 'cut.bin');
    writeFileSync(cut, full.subarray(0, 500000));
    assert.throws(() => openLlama2cWeights(cut), atlas(new RegExp(`truncated.*implies ${full.length} bytes, the file has 500000`), cut));
    const version = join(dir, 'version.bin');
    const h = Buffer.alloc(4096);
    h.writeUInt32LE(0x616b3432, 0);
    h.writeInt32LE(7, 4);
    writeFileSync(version, h);
    assert.throws(() => openLlama2cWeights(version), atlas(/field 'version'.*version 7/, version));
    const torch = join(dir, 'pytorch.bin');
    writeFileSync(torch, Buffer.concat([Buffer.from('PK\x03\x04'), Buffer.alloc(100, 0x41)]));
    assert.throws(() => openCheckpoint(torch), atlas(/header value .* PyTorch file/, torch));
    // The unigram fixture has 350 pieces; the model 512.
    const small = 'test/fixtures/sentencepiece/unigram.model';
    await assert.rejects(loadModel(BIN, { threads: 1, tokenizer: small }), atlas(/field 'vocab_size'.*350 tokens but the model's vocab_size is 512/, small));
    await assert.rejects(loadModel(BIN, { threads: 1, tokenizer: 'test/fixtures/sentencepiece/expected.json' }), /expected\.json/);
    copyFileSync(BIN, join(dir, 'a.bin'));
    copyFileSync(BIN, join(dir, 'b.bin'));
    rmSync(cut); rmSync(version); rmSync(torch);
    assert.throws(() => openCheckpoint(dir), atlas(/several llama2\.c checkpoints \(a\.bin, b\.bin\).*pass the \.bin file/, dir));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
