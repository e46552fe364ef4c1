import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, type ModelConfig } from '../src/model/config.ts';
import { expectedTensorShapes, openCheckpoint, validateCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime, type ForwardOutput, type WeightSource } from '../src/model/runtime.ts';
import { writeTinyCheckpoint, tinyTensorValues } from '../src/model/tiny-checkpoint.ts';
import { writeSafetensors, type TensorSource } from '../src/model/safetensors.ts';
import { loadModel } from '../src/model/load.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { tinyWordPieceVocab } from '../src/model/tiny-wordpiece.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations } from '../src/data/extract.ts';
import { isAtlasError } from '../src/errors.ts';
import type { F32Tensor } from '../src/model/tensor.ts';
import { referenceForwardBert } from './reference/forward64.ts';
import { prng } from './reference/random-weights.ts';

process.env.LATENT_ATLAS_QUIET = '1';

/** max|a-b| / max|b| ≤ rtol, plus elementwise |a-b| ≤ rtol|b| + 0.1 rtol max|b| (as runtime-forward.test.ts). */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) maxRef = Math.max(maxRef, Math.abs(b[i]!));
  assert.ok(maxRef > 0, `${what}: reference is all zero`);
  let maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    assert.ok(Number.isFinite(a[i]!), `${what}[${i}] is not finite`);
    const diff = Math.abs(a[i]! - b[i]!);
    assert.ok(diff <= rtol * Math.abs(b[i]!) + 0.1 * rtol * maxRef, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
    maxDiff = Math.max(maxDiff, diff);
  }
  assert.ok(maxDiff / maxRef <= rtol, `${what}: rel error ${maxDiff / maxRef}`);
}

/** Random BERT weights under canonical names: matrices U(±√3/√d), LayerNorm gains 1 ± 0.2, biases ± 0.1. */
function randomBert(raw: Record<string, unknown>, seed: number): WeightSource {
  const config = parseConfig(raw);
  const r = prng(seed);
  const half = Math.sqrt(3 / config.dModel);
  const tensors = new Map<string, F32Tensor>();
  for (const [name, shape] of expectedTensorShapes(config)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const gain = name.endsWith('LayerNorm.weight');
    const bias = name.endsWith('.bias');
    for (let i = 0; i < data.length; i++) {
      const u = 2 * r() - 1;
      data[i] = gain ? 1 + 0.2 * u : bias ? 0.1 * u : name.includes('embeddings') ? u : half * u;
    }
    tensors.set(name, { shape, data });
  }
  return {
    config,
    tensor(name) {
      const t = tensors.get(name);
      if (!t) throw new Error(`no tensor ${name}`);
      return t;
    },
  };
}

const BERT = {
  model_type: 'bert', num_hidden_layers: 3, hidden_size: 24, num_attention_heads: 4, intermediate_size: 40,
  vocab_size: 57, max_position_embeddings: 32, type_vocab_size: 2, layer_norm_eps: 1e-12, hidden_act: 'gelu',
};
const DISTILBERT = { model_type: 'distilbert', n_layers: 2, dim: 16, n_heads: 2, hidden_dim: 36, vocab_size: 41, max_position_embeddings: 24 };

test('config: bert and distilbert fields, defaults and errors', () => {
  const b = parseConfig(BERT);
  assert.equal(b.architecture, 'bert');
  assert.deepEqual([b.nLayer, b.dModel, b.nHead, b.headDim, b.dFF, b.maxPositions, b.typeVocabSize, b.normEps, b.activation], [3, 24, 4, 6, 40, 32, 2, 1e-12, 'gelu']);
  const d = parseConfig(DISTILBERT);
  assert.equal(d.architecture, 'bert');
  assert.equal(d.modelType, 'distilbert');
  assert.deepEqual([d.nLayer, d.dModel, d.nHead, d.dFF, d.typeVocabSize, d.normEps, d.activation], [2, 16, 2, 36, 0, 1e-12, 'gelu']);
  const defaults = parseConfig({ model_type: 'bert', num_hidden_layers: 1, hidden_size: 8, num_attention_heads: 2, intermediate_size: 16, vocab_size: 10 });
  assert.deepEqual([defaults.maxPositions, defaults.typeVocabSize, defaults.normEps], [512, 2, 1e-12]);
  assert.throws(() => parseConfig({ ...BERT, num_attention_heads: 5 }), (e: unknown) => isAtlasError(e) && /divisible/.test((e as Error).message));
  assert.throws(() => parseConfig({ ...BERT, position_embedding_type: 'relative_key' }), (e: unknown) => isAtlasError(e) && /position_embedding_type/.test((e as Error).message));
  assert.throws(() => parseConfig({ ...BERT, hidden_act: 'mish' }), (e: unknown) => isAtlasError(e) && /hidden_act/.test((e as Error).message));
});

const CASES: [string, Record<string, unknown>, boolean][] = [
  ['bert, fused attention', BERT, true],
  ['bert, plain ONNX attention', BERT, false],
  ['bert, relu, eps 1e-5, no token types', { ...BERT, hidden_act: 'relu', layer_norm_eps: 1e-5, type_vocab_size: 0 }, true],
  ['distilbert', DISTILBERT, true],
];

for (const [label, raw, fusedAttention] of CASES) {
  test(`BERT runtime matches the float64 reference on every hidden state: ${label}`, async () => {
    const src = randomBert(raw, 7);
    const c = src.config;
    const rt = await TransformerRuntime.create(src, { threads: 1, fusedAttention });
    try {
      const r = prng(3);
      const ids = Array.from({ length: 11 }, () => Math.floor(r() * c.vocabSize));
      const ref = referenceForwardBert(src, ids);
      const out = await rt.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length }, { mlp: true });
      assert.equal(out.hiddenStates.length, c.nLayer + 1);
      out.hiddenStates.forEach((h, i) => assertClose(h.data, ref.hidden[i]!, 1e-4, `hidden[${i}]`));
      out.mlp!.forEach((m, i) => assertClose(m.data, ref.mlp[i]!, 1e-4, `mlp[${i}]`));
      await assert.rejects(rt.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length }, { logits: 'all' }), (e: unknown) => isAtlasError(e) && /logits/.test((e as Error).message));
    } finally {
      await rt.release();
    }
  });
}

function pack(texts: number[][], side: 'left' | 'right', T: number) {
  const ids = new Int32Array(texts.length * T).fill(5); // padded ids are garbage on purpose
  const mask = new Uint8Array(texts.length * T);
  texts.forEach((t, b) => {
    const off = side === 'left' ? T - t.length : 0;
    t.forEach((id, j) => {
      ids[b * T + off + j] = id;
      mask[b * T + off + j] = 1;
    });
  });
  return { ids, attentionMask: mask, batch: texts.length, seqLen: T };
}

for (const fusedAttention of [true, false]) {
  test(`BERT padding invariance (left and right padding, batch composition)${fusedAttention ? '' : ', plain attention'}`, async () => {
    const src = randomBert(BERT, 19);
    const c = src.config;
    const rt = await TransformerRuntime.create(src, { threads: 2, fusedAttention });
    try {
      const r = prng(9);
      const texts = [5, 12, 2].map((n) => Array.from({ length: n }, () => Math.floor(r() * c.vocabSize)));
      const solo: ForwardOutput[] = [];
      for (const t of texts) solo.push(await rt.forward(pack([t], 'right', t.length)));
      for (const side of ['left', 'right'] as const) {
        const batch = pack(texts, side, 14);
        const out = await rt.forward(batch);
        texts.forEach((t, b) => {
          const off = side === 'left' ? batch.seqLen - t.length : 0;
          out.hiddenStates.forEach((h, i) => {
            const rows = h.data.subarray((b * batch.seqLen + off) * c.dModel, (b * batch.seqLen + off + t.length) * c.dModel);
            assertClose(rows, solo[b]!.hiddenStates[i]!.data, 1e-5, `${side} text ${b} hidden[${i}]`);
          });
        });
        for (const h of out.hiddenStates) for (const v of h.data) assert.ok(Number.isFinite(v), 'padded positions stay finite');
      }
      // Right-padded rows against the reference run WITH the padding mask (HF semantics: padded keys masked,
      // positions arange(T)): the real tokens' states equal the reference's.
      const batch = pack(texts, 'right', 14);
      const out = await rt.forward(batch);
      texts.forEach((t, b) => {
        const ids = Array.from(batch.ids.subarray(b * 14, (b + 1) * 14));
        const mask = Array.from(batch.attentionMask.subarray(b * 14, (b + 1) * 14));
        const ref = referenceForwardBert(src, ids, mask);
        out.hiddenStates.forEach((h, i) => {
          const rows = h.data.subarray(b * 14 * c.dModel, (b * 14 + t.length) * c.dModel);
          assertClose(rows, ref.hidden[i]!.subarray(0, t.length * c.dModel), 1e-4, `masked reference text ${b} hidden[${i}]`);
        });
      });
    } finally {
      await rt.release();
    }
  });
}

test('tiny BERT checkpoint: WordPiece tokenizer with [CLS]/[SEP], loader, runtime vs reference, [CLS] and mean extraction', async () => {
  const root = mkdtempSync(join(tmpdir(), 'atlas-bert-'));
  try {
    const dir = join(root, 'bert');
    writeTinyCheckpoint(dir, { architecture: 'bert', seed: 4, nLayer: 2, dModel: 16, nHead: 2 });
    const tok = await loadTokenizer(dir);
    const vocab = tinyWordPieceVocab();
    const ids = tok.encode('The cats, happily!');
    assert.deepEqual(ids.map((i) => vocab[i]), ['[CLS]', 'the', 'cat', '##s', ',', 'h', '##a', '##p', '##p', '##i', '##ly', '!', '[SEP]'] /* greedy longest match: 'happy' is no prefix of 'happily' */);
    assert.equal(tok.padTokenId, 0);
    assert.equal(tok.paddingSide, 'right');
    assert.equal(tok.addBos, false);
    assert.equal(tok.encode('Élan')[1], vocab.indexOf('e'), 'BertNormalizer lowercases and strips accents');
    assert.equal(tok.encode('猫')[1], vocab.indexOf('[UNK]'));
    const enc = tok.encodeBatch(['good movie', 'a']);
    assert.deepEqual(Array.from(enc.ids), [2, vocab.indexOf('good'), vocab.indexOf('movie'), 3, 2, vocab.indexOf('a'), 3, 0]);

    const ckpt = openCheckpoint(dir);
    try {
      validateCheckpoint(ckpt);
      assert.ok(ckpt.names().includes('encoder.layer.1.attention.self.query.weight'));
    } finally {
      ckpt.close();
    }
    const model = await loadModel(dir, { threads: 1 });
    try {
      const ref = referenceForwardBert(model.checkpoint, ids);
      const out = await model.runtime.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length });
      out.hiddenStates.forEach((h, i) => assertClose(h.data, ref.hidden[i]!, 1e-4, `checkpoint hidden[${i}]`));

      const texts = ['good movie', 'a bad film , very bad', 'the story'];
      const ds = assembleDataset({ name: 'bert-ds', source: 'memory', texts, labelNames: ['p', 'n', 'p'] });
      const d = model.checkpoint.config.dModel;
      for (const how of ['first', 'mean'] as const) {
        const ex = await extractActivations(model, ds, { aggregate: how, cacheRoot: join(root, 'cache'), batchSize: 2, progress: false });
        for (let l = 0; l <= 2; l++) {
          const layer = ex.readLayer(l);
          texts.forEach((t, k) => {
            const tids = tok.encode(t);
            const r = referenceForwardBert(model.checkpoint, tids).hidden[l]!;
            const want = new Float64Array(d);
            if (how === 'first') want.set(r.subarray(0, d));
            else for (let p = 0; p < tids.length; p++) for (let j = 0; j < d; j++) want[j]! += r[p * d + j]! / tids.length;
            assertClose(layer.data.subarray(k * d, (k + 1) * d), want, 1e-4, `${how} text ${k} layer ${l}`);
          });
        }
      }
    } finally {
      await model.release();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

/** Writes a BERT-family checkpoint whose stored names come from `rename(canonical)`. */
function writeRenamed(dir: string, config: ModelConfig, raw: Record<string, unknown>, rename: (n: string) => string): void {
  writeTinyCheckpoint(dir, { architecture: 'bert', nLayer: config.nLayer, dModel: config.dModel, nHead: config.nHead, dFF: config.dFF }); // tokenizer files
  const tensors: [string, TensorSource][] = [];
  for (const [name, shape] of expectedTensorShapes(config)) {
    tensors.push([rename(name), { shape, data: tinyTensorValues(name, shape, 2, 0.05) }]);
  }
  tensors.push([rename('embeddings.position_ids'), { shape: [1, config.maxPositions], data: new Float32Array(config.maxPositions) }]);
  writeSafetensors(join(dir, 'model.safetensors'), tensors);
  writeFileSync(join(dir, 'config.json'), JSON.stringify(raw)); // the family's own field names
}

test('checkpoint names: bert. prefix, old LayerNorm.gamma/beta, DistilBERT layout map to the same canonical tensors', async () => {
  const root = mkdtempSync(join(tmpdir(), 'atlas-bert-names-'));
  try {
    const vocab = tinyWordPieceVocab().length;
    const bertRaw = { ...BERT, vocab_size: vocab, hidden_size: 16, num_attention_heads: 2, intermediate_size: 24, num_hidden_layers: 2 };
    const bertCfg = parseConfig(bertRaw);
    const old = join(root, 'old');
    writeRenamed(old, bertCfg, bertRaw, (n) => 'bert.' + n.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta'));
    const distilRaw = { model_type: 'distilbert', n_layers: 2, dim: 16, n_heads: 2, hidden_dim: 24, vocab_size: vocab, max_position_embeddings: 32 };
    const distilCfg = parseConfig(distilRaw);
    const distil = join(root, 'distil');
    const toDistil = (n: string): string =>
      'distilbert.' +
      n
        .replace(/^encoder\.layer\.(\d+)\.attention\.self\.query\./, 'transformer.layer.$1.attention.q_lin.')
        .replace(/^encoder\.layer\.(\d+)\.attention\.self\.key\./, 'transformer.layer.$1.attention.k_lin.')
        .replace(/^encoder\.layer\.(\d+)\.attention\.self\.value\./, 'transformer.layer.$1.attention.v_lin.')
        .replace(/^encoder\.layer\.(\d+)\.attention\.output\.dense\./, 'transformer.layer.$1.attention.out_lin.')
        .replace(/^encoder\.layer\.(\d+)\.attention\.output\.LayerNorm\./, 'transformer.layer.$1.sa_layer_norm.')
        .replace(/^encoder\.layer\.(\d+)\.intermediate\.dense\./, 'transformer.layer.$1.ffn.lin1.')
        .replace(/^encoder\.layer\.(\d+)\.output\.dense\./, 'transformer.layer.$1.ffn.lin2.')
        .replace(/^encoder\.layer\.(\d+)\.output\.LayerNorm\./, 'transformer.layer.$1.output_layer_norm.');
    writeRenamed(distil, distilCfg, distilRaw, toDistil);
    for (const dir of [old, distil]) {
      const ckpt = openCheckpoint(dir);
      try {
        validateCheckpoint(ckpt);
        assert.ok(!ckpt.names().some((n) => n.includes('position_ids')), 'position_ids buffer is skipped');
        const w = ckpt.tensor('encoder.layer.1.output.LayerNorm.weight');
        assert.deepEqual(Array.from(w.data), Array.from(tinyTensorValues('encoder.layer.1.output.LayerNorm.weight', [16], 2, 0.05)));
      } finally {
        ckpt.close();
      }
      const model = await loadModel(dir, { threads: 1 });
      try {
        const ids = model.tokenizer.encode('a good story');
        const ref = referenceForwardBert(model.checkpoint, ids);
        const out = await model.runtime.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(ids.length).fill(1), batch: 1, seqLen: ids.length });
        out.hiddenStates.forEach((h, i) => assertClose(h.data, ref.hidden[i]!, 1e-4, `${dir} hidden[${i}]`));
      } finally {
        await model.release();
      }
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('BERT rejects texts longer than its learned positions', async () => {
  const src = randomBert({ ...BERT, max_position_embeddings: 8 }, 1);
  const rt = await TransformerRuntime.create(src, { threads: 1 });
  try {
    await assert.rejects(rt.forward(pack([Array.from({ length: 9 }, () => 1)], 'right', 9)), (e: unknown) => isAtlasError(e) && /learned positions/.test((e as Error).message));
  } finally {
    await rt.release();
  }
});
