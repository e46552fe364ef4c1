import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TransformerRuntime, type ForwardOutput } from '../src/model/runtime.ts';
import { isAtlasError } from '../src/errors.ts';
import { referenceForward } from './reference/forward64.ts';
import { randomWeightSource, prng } from './reference/random-weights.ts';

/**
 * rel error = max|a-b| / max|b| over the array must be <= rtol, and elementwise |a-b| <= rtol |b| + floor with
 * floor = 0.1 rtol max|b| (float32 rounding of a sum scales with its largest terms, not with a small result).
 */
function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, rtol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  let maxRef = 0;
  for (let i = 0; i < b.length; i++) maxRef = Math.max(maxRef, Math.abs(b[i]!));
  assert.ok(maxRef > 0, `${what}: reference is all zero (test would be vacuous)`);
  const floor = 0.1 * rtol * maxRef;
  let maxDiff = 0;
  for (let i = 0; i < b.length; i++) {
    assert.ok(Number.isFinite(a[i]!), `${what}[${i}] is not finite`);
    const diff = Math.abs(a[i]! - b[i]!);
    assert.ok(diff <= rtol * Math.abs(b[i]!) + floor, `${what}[${i}]: ${a[i]} vs ${b[i]}`);
    maxDiff = Math.max(maxDiff, diff);
  }
  assert.ok(maxDiff / maxRef <= rtol, `${what}: rel error ${maxDiff / maxRef}`);
}

const CONFIGS: Record<string, Record<string, unknown>> = {
  'gpt2 (tied head, gelu_new)': { model_type: 'gpt2', n_layer: 3, n_embd: 24, n_head: 4, vocab_size: 61, n_positions: 40, layer_norm_epsilon: 1e-5 },
  'gpt2 (untied head, exact gelu, n_inner)': {
    model_type: 'gpt2', n_layer: 2, n_embd: 16, n_head: 2, n_inner: 40, vocab_size: 37, n_positions: 20,
    activation_function: 'gelu', tie_word_embeddings: false, layer_norm_epsilon: 1e-3,
  },
  'llama (MHA, tied, no biases)': {
    model_type: 'llama', num_hidden_layers: 3, hidden_size: 24, num_attention_heads: 4, intermediate_size: 40,
    vocab_size: 53, rope_theta: 10000, rms_norm_eps: 1e-6, tie_word_embeddings: true,
  },
  'qwen2 (GQA 6/2, qkv biases, untied, theta 1e6)': {
    model_type: 'qwen2', num_hidden_layers: 2, hidden_size: 24, num_attention_heads: 6, num_key_value_heads: 2,
    intermediate_size: 32, vocab_size: 47, rope_theta: 1e6, rms_norm_eps: 1e-5, tie_word_embeddings: false,
  },
  'llama (GQA 4/1, head_dim 8 != d/H, attention+mlp biases)': {
    model_type: 'llama', num_hidden_layers: 2, hidden_size: 16, num_attention_heads: 4, num_key_value_heads: 1,
    head_dim: 8, intermediate_size: 24, vocab_size: 41, rope_theta: 500, rms_norm_eps: 1e-5, attention_bias: true, mlp_bias: true,
  },
};

function randomIds(n: number, vocab: number, seed: number): number[] {
  const r = prng(seed);
  return Array.from({ length: n }, () => Math.floor(r() * vocab));
}

const CASES: [string, Record<string, unknown>, boolean][] = [
  ...Object.entries(CONFIGS).map(([label, raw]): [string, Record<string, unknown>, boolean] => [label, raw, true]),
  ['gpt2 (tied head, gelu_new), attention from plain ONNX ops', CONFIGS['gpt2 (tied head, gelu_new)']!, false],
];

for (const [label, raw, fusedAttention] of CASES) {
  test(`runtime matches the float64 reference: ${label}`, async () => {
    const src = randomWeightSource(raw, 11);
    const c = src.config;
    const rt = await TransformerRuntime.create(src, { threads: 1, fusedAttention });
    try {
      const ids = randomIds(13, c.vocabSize, 5);
      const T = ids.length;
      const ref = referenceForward(src, ids);
      const out = await rt.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(T).fill(1), batch: 1, seqLen: T }, { mlp: true, logits: 'all' });
      assert.equal(out.hiddenStates.length, c.nLayer + 1);
      out.hiddenStates.forEach((h, i) => {
        assert.deepEqual(h.shape, [1, T, c.dModel]);
        assertClose(h.data, ref.hidden[i]!, 1e-4, `hidden[${i}]`);
      });
      assert.equal(out.mlp!.length, c.nLayer);
      out.mlp!.forEach((m, i) => {
        assert.deepEqual(m.shape, [1, T, c.dFF]);
        assertClose(m.data, ref.mlp[i]!, 1e-4, `mlp[${i}]`);
      });
      assert.deepEqual(out.logits!.shape, [1, T, c.vocabSize]);
      assertClose(out.logits!.data, ref.logits, 1e-4, 'logits vs reference');
      // logits = lm_head(final hidden state) computed here from the runtime's own last hidden state
      const W = src.tensor('lm_head.weight').data;
      const hL = out.hiddenStates[c.nLayer]!.data;
      const mine = new Float64Array(T * c.vocabSize);
      for (let t = 0; t < T; t++)
        for (let v = 0; v < c.vocabSize; v++) {
          let s = 0;
          for (let i = 0; i < c.dModel; i++) s += hL[t * c.dModel + i]! * W[v * c.dModel + i]!;
          mine[t * c.vocabSize + v] = s;
        }
      assertClose(out.logits!.data, mine, 1e-5, 'logits vs lm_head(hidden[L])');
      // hidden states alone (a different cached session) give the same numbers
      const plain = await rt.forward({ ids: Int32Array.from(ids), attentionMask: new Uint8Array(T).fill(1), batch: 1, seqLen: T });
      assert.equal(plain.mlp, undefined);
      assert.equal(plain.logits, undefined);
      plain.hiddenStates.forEach((h, i) => assertClose(h.data, out.hiddenStates[i]!.data, 1e-6, `hidden-only[${i}]`));
    } finally {
      await rt.release();
    }
  });
}

/** Packs texts into one padded batch. */
function pack(texts: number[][], side: 'left' | 'right', T = Math.max(...texts.map((t) => t.length))) {
  const ids = new Int32Array(texts.length * T);
  const mask = new Uint8Array(texts.length * T);
  texts.forEach((t, b) => {
    const off = side === 'left' ? T - t.length : 0;
    t.forEach((id, j) => {
      ids[b * T + off + j] = id;
      mask[b * T + off + j] = 1;
    });
    // padded ids deliberately nonzero garbage: they must not matter
    for (let j = 0; j < T; j++) if (!mask[b * T + j]) ids[b * T + j] = 1 + ((b * 7 + j) % 5);
  });
  return { ids, attentionMask: mask, batch: texts.length, seqLen: T };
}

for (const [label, fusedAttention] of [
  ['gpt2 (tied head, gelu_new)', true],
  ['gpt2 (tied head, gelu_new)', false],
  ['qwen2 (GQA 6/2, qkv biases, untied, theta 1e6)', true],
] as const) {
  test(`batch composition and padding side do not change a text's states: ${label}${fusedAttention ? '' : ', plain attention'}`, async () => {
    const src = randomWeightSource(CONFIGS[label]!, 23);
    const c = src.config;
    const rt = await TransformerRuntime.create(src, { threads: 2, fusedAttention });
    try {
      const texts = [randomIds(7, c.vocabSize, 1), randomIds(12, c.vocabSize, 2), randomIds(3, c.vocabSize, 3)];
      const solo: ForwardOutput[] = [];
      for (const t of texts) solo.push(await rt.forward(pack([t], 'right'), { mlp: true, logits: 'all' }));
      for (const side of ['left', 'right'] as const) {
        const batch = pack(texts, side, 14); // T longer than every text: extra padding too
        const out = await rt.forward(batch, { mlp: true, logits: 'all' });
        const last = await rt.forward(batch, { logits: 'last' });
        assert.deepEqual(last.logits!.shape, [texts.length, c.vocabSize]);
        texts.forEach((t, b) => {
          const off = side === 'left' ? batch.seqLen - t.length : 0;
          const rows = (x: Float32Array, width: number) => x.subarray((b * batch.seqLen + off) * width, (b * batch.seqLen + off + t.length) * width);
          out.hiddenStates.forEach((h, i) => assertClose(rows(h.data, c.dModel), solo[b]!.hiddenStates[i]!.data, 1e-5, `${side} text ${b} hidden[${i}]`));
          out.mlp!.forEach((m, i) => assertClose(rows(m.data, c.dFF), solo[b]!.mlp![i]!.data, 1e-5, `${side} text ${b} mlp[${i}]`));
          const lg = rows(out.logits!.data, c.vocabSize);
          assertClose(lg, solo[b]!.logits!.data, 1e-5, `${side} text ${b} logits`);
          const lastRow = lg.subarray((t.length - 1) * c.vocabSize, t.length * c.vocabSize);
          assertClose(last.logits!.data.subarray(b * c.vocabSize, (b + 1) * c.vocabSize), lastRow, 1e-5, `${side} text ${b} last logits`);
          for (const h of out.hiddenStates) for (const v of h.data) assert.ok(Number.isFinite(v), 'padded positions must stay finite');
        });
      }
    } finally {
      await rt.release();
    }
  });
}

test('runtime rejects malformed input with AtlasError', async () => {
  const src = randomWeightSource(CONFIGS['gpt2 (untied head, exact gelu, n_inner)']!, 3);
  const rt = await TransformerRuntime.create(src, { threads: 1 });
  try {
    const ok = pack([[1, 2, 3]], 'right');
    const bad = async (input: typeof ok, re: RegExp) =>
      assert.rejects(rt.forward(input), (e: unknown) => isAtlasError(e) && re.test((e as Error).message));
    await bad({ ...ok, ids: Int32Array.from([1, 2, 999]) }, /outside the vocabulary/);
    await bad({ ...ok, attentionMask: Uint8Array.from([1, 2, 1]) }, /0 or 1/);
    await bad({ ...ok, attentionMask: Uint8Array.from([0, 0, 0]) }, /no real token/);
    await bad({ ...ok, seqLen: 4 }, /batch\*seqLen/);
    await bad(pack([randomIds(21, 37, 1)], 'right'), /learned positions/);
  } finally {
    await rt.release();
  }
});
