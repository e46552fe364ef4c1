/**
 * Self-checks of the independent Hugging Face references (test/reference/hf/), without the runtime:
 * 1. real PyTorch (float64, transformers' modelling code re-written in torch: scripts/reference/hf_zoo.py and
 *    hf_forward.py) agrees with them on every hook, at every real position, for gpt_neox (parallel and
 *    sequential), gemma, gemma2, gptj, phi3, opt, gpt_neo, roberta, gpt2, llama (GQA) and qwen2;
 * 2. cross-family identities: a checkpoint of one family rewritten as another family's checkpoint gives the
 *    same states (gemma = llama with (1 + w) norms and a pre-scaled embedding, phi3 = llama / mistral with the
 *    fused tensors split, gptj = gpt_neox with the interleaved rotary dims permuted to half-split, gpt_neo =
 *    gpt2 with q pre-scaled by √hd, roberta = bert with the position table shifted, distilbert = bert);
 * 3. closed forms and invariances: softcap → ∞ is no cap, a window ≥ T is no window, rope_scaling limits,
 *    tied logits = final·Eᵀ, a one-token text's attention output = W_O·v + b_O, padding / batch invariance;
 * 4. the safetensors writer and the F16 / BF16 rounding.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readNpy } from '../src/data/npy.ts';
import { hookName, type BlockHookKind } from '../src/model/spec.ts';
import {
  HF_FAMILIES, readHfCheckpoint, readSafetensors, roundCheckpoint, safetensorsBytes, tinyHfCheckpoint, toBF16, toF16,
  writeHfCheckpoint, type HfCheckpoint, type HfFamily, type TinyOpts,
} from './reference/hf/checkpoints.ts';
import { blockHookName, FINAL_HOOK, hfReferenceForward, type HfReferenceOutput, type HfTensors } from './reference/hf/forward.ts';
import { TORCH_CASES } from './reference/hf/torch-cases.ts';

const FIX = join(import.meta.dirname, 'fixtures');

// ------------------------------------------------------------------------------------------------ helpers

const IDS = [
  [5, 17, 42, 8, 91, 33],
  [0, 0, 12, 77, 3, 50],
  [64, 9, 88, 21, 0, 0],
];
const MASK = [
  [1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1],
  [1, 1, 1, 1, 0, 0],
];

function run(c: HfCheckpoint, ids = IDS, mask = MASK): HfReferenceOutput {
  return hfReferenceForward(c.family, c.config, c.tensors, ids, mask);
}

/** max|a − b| / max|b|, asserting ≤ tol and that b is not all zero (a vacuous comparison). */
function close(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): number {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  let ref = 0, diff = 0;
  for (let i = 0; i < b.length; i++) {
    assert.ok(Number.isFinite(a[i]!), `${what}[${i}] = ${a[i]}`);
    ref = Math.max(ref, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  assert.ok(ref > 0, `${what}: reference is all zero`);
  assert.ok(diff / ref <= tol, `${what}: max rel error ${(diff / ref).toExponential(3)} > ${tol}`);
  return diff / ref;
}

function maxRelDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ref = 0, diff = 0;
  for (let i = 0; i < b.length; i++) {
    ref = Math.max(ref, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  return diff / ref;
}

/** Rows (b, t) with mask = 1 of a [B, T, w] array. */
function realRows(x: ArrayLike<number>, mask: number[][]): number[] {
  const B = mask.length, T = mask[0]!.length, w = x.length / (B * T);
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) if (mask[b]![t]) for (let i = 0; i < w; i++) out.push(x[(b * T + t) * w + i]!);
  return out;
}

/** Query rows (b, h, i) with mask[b][i] = 1 of a [B, H, T, T] pattern. */
function realPatternRows(x: ArrayLike<number>, mask: number[][]): number[] {
  const B = mask.length, T = mask[0]!.length, H = x.length / (B * T * T);
  const out: number[] = [];
  for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
    if (mask[b]![i]) for (let j = 0; j < T; j++) out.push(x[((b * H + h) * T + i) * T + j]!);
  }
  return out;
}

function hook(r: HfReferenceOutput, kind: BlockHookKind, l: number): Float64Array {
  const x = r.hooks.get(blockHookName(kind, l));
  assert.ok(x, `no hook ${blockHookName(kind, l)}`);
  return x;
}

function npyF64(path: string): { shape: number[]; data: Float64Array } {
  const a = readNpy(path);
  return { shape: a.shape, data: a.data instanceof Float64Array ? a.data : Float64Array.from(a.data as ArrayLike<number>) };
}

/** Layer l of a stacked [L, ...] fixture. */
function layer(a: { shape: number[]; data: Float64Array }, l: number): Float64Array {
  const n = a.data.length / a.shape[0]!;
  return a.data.subarray(l * n, (l + 1) * n);
}

const T = (m: HfTensors, name: string): Float64Array => {
  const t = m.get(name);
  assert.ok(t, `no tensor ${name}`);
  return t.data;
};

function rows(x: Float64Array, cols: number, start: number, count: number): Float64Array {
  return x.slice(start * cols, (start + count) * cols);
}

function transpose(x: Float64Array, r: number, c: number): Float64Array {
  const y = new Float64Array(r * c);
  for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) y[j * r + i] = x[i * c + j]!;
  return y;
}

function concat(...xs: Float64Array[]): Float64Array {
  const y = new Float64Array(xs.reduce((s, x) => s + x.length, 0));
  let o = 0;
  for (const x of xs) {
    y.set(x, o);
    o += x.length;
  }
  return y;
}

function withTensors(family: HfFamily, config: Record<string, unknown>, entries: [string, Float64Array, number[]][]): HfCheckpoint {
  return { family, config, tensors: new Map(entries.map(([n, data, shape]) => [n, { shape, data }])) };
}

function assertSameStates(a: HfReferenceOutput, b: HfReferenceOutput, tol: number, what: string, opts: { logits?: boolean } = {}): void {
  assert.equal(a.hiddenStates.length, b.hiddenStates.length, `${what}: hidden state count`);
  a.hiddenStates.forEach((h, i) => close(realRows(h, MASK), realRows(b.hiddenStates[i]!, MASK), tol, `${what} hidden[${i}]`));
  if (opts.logits !== false) close(realRows(a.logits!, MASK), realRows(b.logits!, MASK), tol, `${what} logits`);
}

// ------------------------------------------------------------------------------------------------ 0. names

test('hook names are spelled as src/model/spec.ts hookName() spells them', () => {
  const kinds: BlockHookKind[] = ['resid_pre', 'ln1', 'attn_out', 'resid_mid', 'mlp_post', 'mlp_out', 'resid_post', 'attn_pattern', 'attn_pattern_last', 'attn_v'];
  for (const k of kinds) assert.equal(blockHookName(k, 3), hookName({ kind: k, layer: 3 }));
  assert.equal(FINAL_HOOK, hookName({ kind: 'final' }));
});

test('every family: a tiny checkpoint runs, all hooks finite, shapes [B, T, width], hidden states = HF output_hidden_states', () => {
  for (const f of HF_FAMILIES) {
    const c = tinyHfCheckpoint(f);
    const r = run(c);
    const L = Number(c.config.num_hidden_layers ?? c.config.n_layer ?? c.config.num_layers ?? c.config.n_layers);
    const d = Number(c.config.hidden_size ?? c.config.n_embd ?? c.config.dim);
    assert.equal(r.hiddenStates.length, L + 1, f);
    for (const h of r.hiddenStates) assert.equal(h.length, 3 * 6 * d, f);
    for (const [n, x] of r.hooks) assert.ok(x.every(Number.isFinite), `${f} ${n}`);
    for (let l = 0; l < L; l++) {
      close(hook(r, 'resid_pre', l), r.hiddenStates[l]!, 0, `${f} resid_pre ${l} = hidden[${l}]`);
      assert.equal(hook(r, 'attn_pattern', l).length % (3 * 6 * 6), 0);
    }
    const encoder = f === 'bert' || f === 'roberta' || f === 'distilbert';
    if (encoder) close(hook(r, 'resid_post', L - 1), r.hiddenStates[L]!, 0, `${f} last hidden = resid_post`);
    else close(r.hooks.get(FINAL_HOOK)!, r.hiddenStates[L]!, 0, `${f} last hidden = final norm`);
    // Names and prefixes: every stored tensor is read by the reference (none is silently ignored) except buffers.
    assert.ok(r.logits, `${f}: has a head`);
  }
});

// ------------------------------------------------------------------------------------------------ 1. torch

for (const c of TORCH_CASES) {
  test(`real PyTorch (float64) agrees with the ${c.name} reference on every hook at every real position`, () => {
    const dir = join(FIX, 'hf-zoo', c.name);
    const ck = tinyHfCheckpoint(c.family, c.opts);
    const r = hfReferenceForward(c.family, ck.config, ck.tensors, c.ids, c.mask);
    const hidden = npyF64(join(dir, 'hidden.npy'));
    assert.equal(hidden.shape[0], r.hiddenStates.length);
    r.hiddenStates.forEach((h, i) => close(realRows(h, c.mask), realRows(layer(hidden, i), c.mask), 1e-10, `${c.name} hidden[${i}]`));
    close(realRows(r.logits!, c.mask), realRows(npyF64(join(dir, 'logits.npy')).data, c.mask), 1e-10, `${c.name} logits`);
    for (const kind of ['ln1', 'attn_v', 'attn_out', 'mlp_post', 'mlp_out', 'attn_pattern'] as const) {
      const fx = npyF64(join(dir, `${kind}.npy`));
      for (let l = 0; l < fx.shape[0]!; l++) {
        const mine = hook(r, kind, l), theirs = layer(fx, l);
        if (kind === 'attn_pattern') close(realPatternRows(mine, c.mask), realPatternRows(theirs, c.mask), 1e-10, `${c.name} ${kind} ${l}`);
        else close(realRows(mine, c.mask), realRows(theirs, c.mask), 1e-10, `${c.name} ${kind} ${l}`);
      }
    }
  });
}

for (const [name, family, L] of [['gpt2', 'gpt2', 3], ['llama-gqa', 'llama', 3], ['qwen2', 'qwen2', 2]] as const) {
  test(`real PyTorch (hf_forward.py fixtures) agrees with the ${name} reference on every hidden state`, () => {
    const model = join(FIX, 'reference', 'models', name), fwd = join(FIX, 'reference', 'forward', name);
    assert.ok(existsSync(model), model);
    const ck = readHfCheckpoint(model, family);
    const idsA = npyF64(join(fwd, 'ids.npy')), maskA = npyF64(join(fwd, 'mask.npy'));
    const [B, Tn] = idsA.shape as [number, number];
    const toRows = (a: Float64Array): number[][] => Array.from({ length: B }, (_, b) => Array.from(a.subarray(b * Tn, (b + 1) * Tn)));
    const ids = toRows(idsA.data), mask = toRows(maskA.data);
    const r = hfReferenceForward(family, ck.config, ck.tensors, ids, mask);
    const hidden = npyF64(join(fwd, 'hidden.npy'));
    assert.equal(hidden.shape[0], L + 1);
    r.hiddenStates.forEach((h, i) => close(realRows(h, mask), realRows(layer(hidden, i), mask), 1e-9, `${name} hidden[${i}]`));
  });
}

// ------------------------------------------------------------------------------------------------ 2. cross-family

test('gemma = llama with (1 + w) norms, the embedding pre-scaled by fround(√d) and an untied unscaled head', () => {
  const g = tinyHfCheckpoint('gemma', { seed: 3 });
  const c = g.config, d = c.hidden_size as number;
  const s = Math.fround(Math.sqrt(d));
  const E = T(g.tensors, 'model.embed_tokens.weight');
  const entries: [string, Float64Array, number[]][] = [];
  for (const [n, t] of g.tensors) {
    if (n === 'model.embed_tokens.weight') entries.push([n, E.map((v) => v * s), t.shape]);
    else if (n.endsWith('norm.weight')) entries.push([n, t.data.map((v) => v + 1), t.shape]);
    else entries.push([n, t.data, t.shape]);
  }
  entries.push(['lm_head.weight', E, [c.vocab_size as number, d]]);
  const llama = withTensors('llama', { ...c, model_type: 'llama', hidden_act: 'gelu_pytorch_tanh', tie_word_embeddings: false }, entries);
  assertSameStates(run(g), run(llama), 1e-12, 'gemma vs llama');
  // and the offset matters: reading gemma's norms as plain RMSNorm weights is far off
  const wrong = run(withTensors('llama', llama.config, [...g.tensors].map(([n, t]) => [n, t.data, t.shape] as [string, Float64Array, number[]]).concat([['lm_head.weight', E, [96, d]]])));
  assert.ok(maxRelDiff(realRows(wrong.hiddenStates[2]!, MASK), realRows(run(g).hiddenStates[2]!, MASK)) > 0.1);
});

function phi3AsLlama(p: HfCheckpoint, family: 'llama' | 'mistral'): HfCheckpoint {
  const c = p.config, d = c.hidden_size as number, H = c.num_attention_heads as number, KV = c.num_key_value_heads as number;
  const hd = d / H, f = c.intermediate_size as number;
  const entries: [string, Float64Array, number[]][] = [];
  for (const [n, t] of p.tensors) {
    if (n.endsWith('qkv_proj.weight')) {
      const b = n.replace('qkv_proj.weight', '');
      entries.push([`${b}q_proj.weight`, rows(t.data, d, 0, H * hd), [H * hd, d]]);
      entries.push([`${b}k_proj.weight`, rows(t.data, d, H * hd, KV * hd), [KV * hd, d]]);
      entries.push([`${b}v_proj.weight`, rows(t.data, d, (H + KV) * hd, KV * hd), [KV * hd, d]]);
    } else if (n.endsWith('gate_up_proj.weight')) {
      const b = n.replace('gate_up_proj.weight', '');
      entries.push([`${b}gate_proj.weight`, rows(t.data, d, 0, f), [f, d]]);
      entries.push([`${b}up_proj.weight`, rows(t.data, d, f, f), [f, d]]);
    } else entries.push([n, t.data, t.shape]);
  }
  return withTensors(family, { ...c, model_type: family }, entries);
}

test('phi3 = llama with qkv_proj split into q | k | v rows and gate_up_proj into gate | up (gate first)', () => {
  const p = tinyHfCheckpoint('phi3', { seed: 4 });
  assertSameStates(run(p), run(phi3AsLlama(p, 'llama')), 1e-12, 'phi3 vs llama');
  // swapping gate and up is visibly different (the order is checked, not assumed)
  const swapped = phi3AsLlama(p, 'llama');
  const g = swapped.tensors.get('model.layers.0.mlp.gate_proj.weight')!, u = swapped.tensors.get('model.layers.0.mlp.up_proj.weight')!;
  swapped.tensors.set('model.layers.0.mlp.gate_proj.weight', u);
  swapped.tensors.set('model.layers.0.mlp.up_proj.weight', g);
  assert.ok(maxRelDiff(realRows(run(swapped).hiddenStates[1]!, MASK), realRows(run(p).hiddenStates[1]!, MASK)) > 0.01);
});

test('phi3 with partial rotary and a sliding window = mistral with the same partial_rotary_factor and sliding_window', () => {
  const p = tinyHfCheckpoint('phi3', { seed: 5, config: { partial_rotary_factor: 0.5, sliding_window: 3 } });
  assertSameStates(run(p), run(phi3AsLlama(p, 'mistral')), 1e-12, 'phi3 vs mistral');
  const full = tinyHfCheckpoint('phi3', { seed: 5, config: { partial_rotary_factor: 1 } });
  assert.ok(maxRelDiff(realRows(run(full).hiddenStates[2]!, MASK), realRows(run(p).hiddenStates[2]!, MASK)) > 1e-3);
});

function gptjAsNeox(j: HfCheckpoint, permute: boolean): HfCheckpoint {
  const c = j.config, d = c.n_embd as number, H = c.n_head as number, hd = d / H, rot = c.rotary_dim as number, f = 4 * d;
  // neox row e ← gptj row 2e, neox row e + rot/2 ← gptj row 2e + 1 (within each head's rotary part)
  const perm = (W: Float64Array): Float64Array => {
    const y = Float64Array.from(W);
    if (!permute) return y;
    for (let h = 0; h < H; h++) for (let e = 0; e < rot / 2; e++) {
      y.set(W.subarray((h * hd + 2 * e) * d, (h * hd + 2 * e + 1) * d), (h * hd + e) * d);
      y.set(W.subarray((h * hd + 2 * e + 1) * d, (h * hd + 2 * e + 2) * d), (h * hd + e + rot / 2) * d);
    }
    return y;
  };
  const entries: [string, Float64Array, number[]][] = [['gpt_neox.embed_in.weight', T(j.tensors, 'transformer.wte.weight'), [96, d]]];
  for (let l = 0; l < (c.n_layer as number); l++) {
    const s = `transformer.h.${l}`, t = `gpt_neox.layers.${l}`;
    for (const ln of ['input_layernorm', 'post_attention_layernorm']) {
      entries.push([`${t}.${ln}.weight`, T(j.tensors, `${s}.ln_1.weight`), [d]], [`${t}.${ln}.bias`, T(j.tensors, `${s}.ln_1.bias`), [d]]);
    }
    const q = perm(T(j.tensors, `${s}.attn.q_proj.weight`)), k = perm(T(j.tensors, `${s}.attn.k_proj.weight`)), v = T(j.tensors, `${s}.attn.v_proj.weight`);
    const qkv = new Float64Array(3 * d * d); // GPT-NeoX's per-head [q_h; k_h; v_h] row blocks
    for (let h = 0; h < H; h++) {
      qkv.set(q.subarray(h * hd * d, (h + 1) * hd * d), (3 * h) * hd * d);
      qkv.set(k.subarray(h * hd * d, (h + 1) * hd * d), (3 * h + 1) * hd * d);
      qkv.set(v.subarray(h * hd * d, (h + 1) * hd * d), (3 * h + 2) * hd * d);
    }
    entries.push([`${t}.attention.query_key_value.weight`, qkv, [3 * d, d]], [`${t}.attention.dense.weight`, T(j.tensors, `${s}.attn.out_proj.weight`), [d, d]]);
    entries.push([`${t}.mlp.dense_h_to_4h.weight`, T(j.tensors, `${s}.mlp.fc_in.weight`), [f, d]], [`${t}.mlp.dense_h_to_4h.bias`, T(j.tensors, `${s}.mlp.fc_in.bias`), [f]]);
    entries.push([`${t}.mlp.dense_4h_to_h.weight`, T(j.tensors, `${s}.mlp.fc_out.weight`), [d, f]], [`${t}.mlp.dense_4h_to_h.bias`, T(j.tensors, `${s}.mlp.fc_out.bias`), [d]]);
  }
  entries.push(['gpt_neox.final_layer_norm.weight', T(j.tensors, 'transformer.ln_f.weight'), [d]], ['gpt_neox.final_layer_norm.bias', T(j.tensors, 'transformer.ln_f.bias'), [d]]);
  entries.push(['embed_out.weight', T(j.tensors, 'lm_head.weight'), [96, d]]);
  return withTensors('gpt_neox', {
    model_type: 'gpt_neox', hidden_size: d, num_attention_heads: H, num_hidden_layers: c.n_layer, intermediate_size: f, vocab_size: 96,
    hidden_act: 'gelu_new', rotary_pct: rot / hd, rotary_emb_base: 10000, use_parallel_residual: true, attention_bias: false,
    layer_norm_eps: c.layer_norm_epsilon, max_position_embeddings: 16,
  }, entries);
}

test('gptj = gpt_neox (parallel, one shared norm, no attention biases) with the interleaved rotary dims permuted to half-split', () => {
  const j = tinyHfCheckpoint('gptj', { seed: 6 });
  const rj = run(j), rn = run(gptjAsNeox(j, true));
  assertSameStates(rj, rn, 1e-12, 'gptj vs neox', { logits: false });
  // GPT-J's head has a bias: logits differ from NeoX's by exactly that bias
  const bias = T(j.tensors, 'lm_head.bias');
  close(realRows(rj.logits!.map((z, i) => z - bias[i % 96]!), MASK), realRows(rn.logits!, MASK), 1e-12, 'gptj logits − b_U');
  // without the permutation, interleaved ≠ half-split
  const unpermuted = run(gptjAsNeox(j, false));
  assert.ok(maxRelDiff(realRows(unpermuted.hiddenStates[2]!, MASK), realRows(rj.hiddenStates[2]!, MASK)) > 1e-4);
});

test('gpt_neo (global layers) = gpt2 with Conv1D = Linearᵀ and q pre-scaled by √head_dim (GPT-Neo does not scale scores)', () => {
  const n = tinyHfCheckpoint('gpt_neo', { seed: 7, config: { attention_layers: ['global', 'global'], attention_types: [[['global'], 2]] } });
  const c = n.config, d = c.hidden_size as number, H = c.num_heads as number, hd = d / H, f = 4 * d;
  const tn = (name: string): Float64Array => T(n.tensors, name);
  const entries: [string, Float64Array, number[]][] = [];
  for (const name of ['transformer.wte.weight', 'transformer.wpe.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias']) entries.push([name, tn(name), n.tensors.get(name)!.shape]);
  for (let l = 0; l < 2; l++) {
    const p = `transformer.h.${l}`, a = `${p}.attn.attention`;
    for (const ln of ['ln_1', 'ln_2']) entries.push([`${p}.${ln}.weight`, tn(`${p}.${ln}.weight`), [d]], [`${p}.${ln}.bias`, tn(`${p}.${ln}.bias`), [d]]);
    const qkvT = concat(tn(`${a}.q_proj.weight`).map((v) => v * Math.sqrt(hd)), tn(`${a}.k_proj.weight`), tn(`${a}.v_proj.weight`)); // [3d, d]
    entries.push([`${p}.attn.c_attn.weight`, transpose(qkvT, 3 * d, d), [d, 3 * d]], [`${p}.attn.c_attn.bias`, new Float64Array(3 * d), [3 * d]]);
    entries.push([`${p}.attn.c_proj.weight`, transpose(tn(`${a}.out_proj.weight`), d, d), [d, d]], [`${p}.attn.c_proj.bias`, tn(`${a}.out_proj.bias`), [d]]);
    entries.push([`${p}.mlp.c_fc.weight`, transpose(tn(`${p}.mlp.c_fc.weight`), f, d), [d, f]], [`${p}.mlp.c_fc.bias`, tn(`${p}.mlp.c_fc.bias`), [f]]);
    entries.push([`${p}.mlp.c_proj.weight`, transpose(tn(`${p}.mlp.c_proj.weight`), d, f), [f, d]], [`${p}.mlp.c_proj.bias`, tn(`${p}.mlp.c_proj.bias`), [d]]);
  }
  const gpt2 = withTensors('gpt2', { model_type: 'gpt2', n_embd: d, n_head: H, n_layer: 2, n_positions: 16, vocab_size: 96, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5 }, entries);
  assertSameStates(run(n), run(gpt2), 1e-12, 'gpt_neo vs gpt2');
  // the local layer (window 3) differs from the global one, and masks exactly the keys with i − j ≥ 3
  const local = run(tinyHfCheckpoint('gpt_neo', { seed: 7 }));
  const pat = hook(local, 'attn_pattern', 1);
  for (let h = 0; h < 4; h++) for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) {
    const p = pat[((0 * 4 + h) * 6 + i) * 6 + j]!;
    if (j > i || i - j >= 3) assert.equal(p, 0);
    else assert.ok(p > 0);
  }
});

test('roberta = bert with the position table shifted by padding_idx + 1 and the MLM head renamed', () => {
  const r = tinyHfCheckpoint('roberta', { seed: 8 });
  const off = (r.config.pad_token_id as number) + 1, d = 32;
  const entries: [string, Float64Array, number[]][] = [];
  for (const [n, t] of r.tensors) {
    let name = n.replace(/^roberta\./, 'bert.').replace(/^lm_head\.dense/, 'cls.predictions.transform.dense')
      .replace(/^lm_head\.layer_norm/, 'cls.predictions.transform.LayerNorm').replace(/^lm_head\.bias/, 'cls.predictions.bias');
    let data = t.data, shape = t.shape;
    if (n.endsWith('position_embeddings.weight')) {
      data = t.data.slice(off * d);
      shape = [t.shape[0]! - off, d];
    }
    entries.push([name, data, shape]);
  }
  const bert = withTensors('bert', { ...r.config, model_type: 'bert', max_position_embeddings: (r.config.max_position_embeddings as number) - off }, entries);
  assertSameStates(run(r), run(bert), 1e-12, 'roberta vs bert');
});

test('distilbert = bert (q_lin/k_lin/v_lin/out_lin, sa_layer_norm, ffn, no token types, eps 1e-12)', () => {
  const s = tinyHfCheckpoint('distilbert', { seed: 9 });
  const map: [RegExp, string][] = [
    [/^distilbert\.transformer\.layer\./, 'bert.encoder.layer.'], [/^distilbert\./, 'bert.'],
    [/attention\.q_lin/, 'attention.self.query'], [/attention\.k_lin/, 'attention.self.key'], [/attention\.v_lin/, 'attention.self.value'],
    [/attention\.out_lin/, 'attention.output.dense'], [/sa_layer_norm/, 'attention.output.LayerNorm'], [/ffn\.lin1/, 'intermediate.dense'],
    [/ffn\.lin2/, 'output.dense'], [/output_layer_norm/, 'output.LayerNorm'], [/^vocab_transform/, 'cls.predictions.transform.dense'],
    [/^vocab_layer_norm/, 'cls.predictions.transform.LayerNorm'], [/^vocab_projector\.bias/, 'cls.predictions.bias'],
  ];
  const entries = [...s.tensors].map(([n, t]) => [map.reduce((x, [re, to]) => x.replace(re, to), n), t.data, t.shape] as [string, Float64Array, number[]]);
  const c = s.config;
  const bert = withTensors('bert', {
    model_type: 'bert', hidden_size: c.dim, num_attention_heads: c.n_heads, num_hidden_layers: c.n_layers, intermediate_size: c.hidden_dim,
    hidden_act: c.activation, layer_norm_eps: 1e-12, vocab_size: c.vocab_size, max_position_embeddings: c.max_position_embeddings,
  }, entries);
  assertSameStates(run(s), run(bert), 1e-12, 'distilbert vs bert');
});

// ------------------------------------------------------------------------------------------------ 3. closed forms

test('gemma2: a huge softcap equals no softcap; a small one bounds the logits; logits = cap·tanh(final·Eᵀ / cap) (tied)', () => {
  const none = run(tinyHfCheckpoint('gemma2', { config: { attn_logit_softcapping: null, final_logit_softcapping: null } }));
  const huge = run(tinyHfCheckpoint('gemma2', { config: { attn_logit_softcapping: 1e9, final_logit_softcapping: 1e9 } }));
  assertSameStates(huge, none, 1e-9, 'cap 1e9 vs none');
  const ck = tinyHfCheckpoint('gemma2');
  const capped = run(ck);
  assert.ok(maxRelDiff(realRows(capped.hiddenStates[3]!, MASK), realRows(none.hiddenStates[3]!, MASK)) > 1e-3, 'attention softcap matters');
  const E = T(ck.tensors, 'model.embed_tokens.weight'), fin = capped.hooks.get(FINAL_HOOK)!, cap = 4;
  const expect = new Float64Array(3 * 6 * 96);
  for (let n = 0; n < 18; n++) for (let v = 0; v < 96; v++) {
    let s = 0;
    for (let i = 0; i < 32; i++) s += fin[n * 32 + i]! * E[v * 32 + i]!;
    expect[n * 96 + v] = cap * Math.tanh(s / cap);
  }
  close(capped.logits!, expect, 1e-12, 'softcapped tied logits');
  assert.ok(capped.logits!.every((z) => Math.abs(z) < cap));
});

test('gemma2: sliding layers (0, 2) mask keys with i − j ≥ window, the full layer (1) does not; window ≥ T = no window', () => {
  const r = run(tinyHfCheckpoint('gemma2'));
  for (const [l, sliding] of [[0, true], [1, false], [2, true]] as const) {
    const pat = hook(r, 'attn_pattern', l);
    let farMass = 0;
    for (let h = 0; h < 4; h++) for (let i = 0; i < 6; i++) for (let j = 0; j <= i - 3; j++) farMass += pat[((0 * 4 + h) * 6 + i) * 6 + j]!;
    if (sliding) assert.equal(farMass, 0, `layer ${l}`);
    else assert.ok(farMass > 0, `layer ${l}`);
  }
  const wide = run(tinyHfCheckpoint('gemma2', { config: { sliding_window: 6 } }));
  const full = run(tinyHfCheckpoint('gemma2', { config: { layer_types: ['full_attention', 'full_attention', 'full_attention'] } }));
  assertSameStates(wide, full, 0, 'window 6 vs full');
  // default layer_types (absent key) alternate sliding / full starting with sliding, as HF does
  const { layer_types: _, ...noTypes } = tinyHfCheckpoint('gemma2').config;
  assertSameStates(run({ ...tinyHfCheckpoint('gemma2'), config: noTypes }), r, 0, 'default layer_types');
});

test('gemma2: scores use query_pre_attn_scalar^-½ — equal to head_dim it matches the 1/√head_dim scaling, otherwise not', () => {
  const a = run(tinyHfCheckpoint('gemma2', { config: { query_pre_attn_scalar: 12 } }));
  const b = run(tinyHfCheckpoint('gemma2', { config: { query_pre_attn_scalar: 8 } }));
  assert.ok(maxRelDiff(realRows(a.hiddenStates[3]!, MASK), realRows(b.hiddenStates[3]!, MASK)) > 1e-3);
});

test('mistral: a window ≥ T equals llama (no window); window 2 masks i − j ≥ 2', () => {
  const m = tinyHfCheckpoint('mistral', { config: { sliding_window: 6 } });
  assertSameStates(run(m), run({ ...m, family: 'llama', config: { ...m.config, model_type: 'llama' } }), 0, 'mistral(6) vs llama');
  const r = run(tinyHfCheckpoint('mistral', { config: { sliding_window: 2 } }));
  const pat = hook(r, 'attn_pattern', 0);
  for (let i = 0; i < 6; i++) for (let j = 0; j < 6; j++) {
    const p = pat[i * 6 + j]!;
    assert.ok(j <= i && i - j < 2 ? p > 0 : p === 0, `(${i}, ${j})`);
  }
});

test('qwen2: sliding only with use_sliding_window and on layers ≥ max_window_layers', () => {
  const base = run(tinyHfCheckpoint('qwen2'));
  const off = run(tinyHfCheckpoint('qwen2', { config: { sliding_window: 2, use_sliding_window: false } }));
  assertSameStates(off, base, 0, 'use_sliding_window false');
  const on = run(tinyHfCheckpoint('qwen2', { config: { sliding_window: 2, use_sliding_window: true, max_window_layers: 1, layer_types: undefined } }));
  close(hook(on, 'attn_pattern', 0), hook(base, 'attn_pattern', 0), 0, 'layer 0 below max_window_layers');
  assert.equal(hook(on, 'attn_pattern', 1)[5 * 6 + 0], 0);
  assert.ok(hook(base, 'attn_pattern', 1)[5 * 6 + 0]! > 0);
});

test('llama rope_scaling: linear factor 1, dynamic below max_position_embeddings and llama3 with every wavelength short all equal no scaling; otherwise they differ', () => {
  const none = run(tinyHfCheckpoint('llama'));
  const same = (cfg: Record<string, unknown>): HfReferenceOutput => run(tinyHfCheckpoint('llama', { config: { rope_scaling: cfg } }));
  assertSameStates(same({ rope_type: 'linear', factor: 1 }), none, 1e-14, 'linear 1');
  assertSameStates(same({ type: 'dynamic', factor: 4 }), none, 1e-14, 'dynamic, short text');
  assertSameStates(same({ rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 1e9 }), none, 1e-14, 'llama3 all high-frequency');
  const far = (cfg: Record<string, unknown>, extra: Record<string, unknown> = {}): number =>
    maxRelDiff(realRows(run(tinyHfCheckpoint('llama', { config: { rope_scaling: cfg, ...extra } })).hiddenStates[2]!, MASK), realRows(none.hiddenStates[2]!, MASK));
  assert.ok(far({ rope_type: 'linear', factor: 4 }) > 1e-3);
  assert.ok(far({ rope_type: 'dynamic', factor: 4 }, { max_position_embeddings: 3 }) > 1e-3);
  assert.ok(far({ rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 4 }) > 1e-3);
});

test('linear rope_scaling factor s divides the angles: with identical tokens, keys at distance s·δ in the scaled model score as keys at δ in the plain one', () => {
  // one layer, one token repeated: the score of (i, j) depends on positions only through (i − j)·θ / s
  const s = 2;
  const scaled = tinyHfCheckpoint('llama', { config: { rope_scaling: { rope_type: 'linear', factor: s }, num_hidden_layers: 1 } });
  const plain = tinyHfCheckpoint('llama', { config: { num_hidden_layers: 1 } });
  const ids = [[7, 7, 7, 7, 7, 7]], mask = [[1, 1, 1, 1, 1, 1]];
  const pa = hook(hfReferenceForward('llama', scaled.config, scaled.tensors, ids, mask), 'attn_pattern', 0);
  const pb = hook(hfReferenceForward('llama', plain.config, plain.tensors, ids, mask), 'attn_pattern', 0);
  const logRatio = (p: Float64Array, i: number, j1: number, j2: number): number => Math.log(p[i * 6 + j1]! / p[i * 6 + j2]!);
  for (let h = 0; h < 4; h++) {
    const o = h * 36;
    assert.ok(Math.abs(logRatio(pa.subarray(o), 4, 2, 4) - logRatio(pb.subarray(o), 4, 3, 4)) < 1e-10, `head ${h}, δ = 1`);
    assert.ok(Math.abs(logRatio(pa.subarray(o), 4, 0, 4) - logRatio(pb.subarray(o), 4, 2, 4)) < 1e-10, `head ${h}, δ = 2`);
  }
  assert.ok(Math.abs(logRatio(pa, 4, 2, 4) - logRatio(pb, 4, 2, 4)) > 1e-6, 'and the scaling is not a no-op');
});

test('gpt_neox: rotary_pct 0 = no rotary (position-blind: permuting the prefix keeps the last token’s block-0 output); parallel ≠ sequential', () => {
  const noRot = tinyHfCheckpoint('gpt_neox', { config: { rotary_pct: 0, partial_rotary_factor: 0 } });
  const ids1 = [[5, 17, 42, 8]], ids2 = [[42, 5, 17, 8]], m = [[1, 1, 1, 1]];
  const last = (ck: HfCheckpoint, ids: number[][]): Float64Array => hfReferenceForward('gpt_neox', ck.config, ck.tensors, ids, m).hiddenStates[1]!.slice(3 * 32, 4 * 32);
  close(last(noRot, ids1), last(noRot, ids2), 1e-12, 'no rotary: order of the prefix does not matter');
  const rot = tinyHfCheckpoint('gpt_neox');
  assert.ok(maxRelDiff(last(rot, ids1), last(rot, ids2)) > 1e-3, 'with rotary it does');
  const seq = run(tinyHfCheckpoint('gpt_neox', { config: { use_parallel_residual: false } }));
  const par = run(rot);
  assert.ok(maxRelDiff(realRows(seq.hiddenStates[2]!, MASK), realRows(par.hiddenStates[2]!, MASK)) > 1e-3);
  assert.ok(!par.hooks.has(blockHookName('resid_mid', 0)) && seq.hooks.has(blockHookName('resid_mid', 0)));
});

test('one-token text: the attention output is W_O·v + b_O for every family (softmax over one key is 1)', () => {
  const out: Record<HfFamily, [w: string, b: string | null, conv: boolean]> = {
    gpt2: ['transformer.h.0.attn.c_proj.weight', 'transformer.h.0.attn.c_proj.bias', true],
    llama: ['model.layers.0.self_attn.o_proj.weight', null, false],
    mistral: ['model.layers.0.self_attn.o_proj.weight', null, false],
    qwen2: ['model.layers.0.self_attn.o_proj.weight', null, false],
    gemma: ['model.layers.0.self_attn.o_proj.weight', null, false],
    gemma2: ['model.layers.0.self_attn.o_proj.weight', null, false],
    phi3: ['model.layers.0.self_attn.o_proj.weight', null, false],
    bert: ['bert.encoder.layer.0.attention.output.dense.weight', 'bert.encoder.layer.0.attention.output.dense.bias', false],
    roberta: ['roberta.encoder.layer.0.attention.output.dense.weight', 'roberta.encoder.layer.0.attention.output.dense.bias', false],
    distilbert: ['distilbert.transformer.layer.0.attention.out_lin.weight', 'distilbert.transformer.layer.0.attention.out_lin.bias', false],
    gpt_neox: ['gpt_neox.layers.0.attention.dense.weight', 'gpt_neox.layers.0.attention.dense.bias', false],
    gpt_neo: ['transformer.h.0.attn.attention.out_proj.weight', 'transformer.h.0.attn.attention.out_proj.bias', false],
    gptj: ['transformer.h.0.attn.out_proj.weight', null, false],
    opt: ['model.decoder.layers.0.self_attn.out_proj.weight', 'model.decoder.layers.0.self_attn.out_proj.bias', false],
  };
  for (const f of HF_FAMILIES) {
    const ck = tinyHfCheckpoint(f);
    const r = hfReferenceForward(f, ck.config, ck.tensors, [[7]], [[1]]);
    const v = hook(r, 'attn_v', 0), pat = hook(r, 'attn_pattern', 0);
    assert.ok(pat.every((p) => p === 1), `${f} pattern`);
    const [wn, bn, conv] = out[f];
    const W = T(ck.tensors, wn), b = bn ? T(ck.tensors, bn) : undefined;
    const d = hook(r, 'attn_out', 0).length, H = pat.length, hdAll = W.length / d;
    const kv = v.length, hd = hdAll / H, rep = hdAll / kv;
    const vFull = Float64Array.from({ length: hdAll }, (_, i) => v[Math.floor(Math.floor(i / hd) / rep) * hd + (i % hd)]!); // repeat_kv
    const expect = Float64Array.from({ length: d }, (_, o) => {
      let s = b ? b[o]! : 0;
      for (let i = 0; i < hdAll; i++) s += vFull[i]! * (conv ? W[i * d + o]! : W[o * hdAll + i]!);
      return s;
    });
    let got = hook(r, 'attn_out', 0);
    if (f === 'gemma2') {
      // sandwich norm: attn_out is post_attention_layernorm(W_O·v); undo nothing, compare the pre-norm direction
      const w = T(ck.tensors, 'model.layers.0.post_attention_layernorm.weight');
      const ms = Math.sqrt(expect.reduce((s, x) => s + x * x, 0) / d + 1e-6);
      close(got, expect.map((x, i) => (x / ms) * (1 + w[i]!)), 1e-12, `${f} attn_out`);
      continue;
    }
    close(got, expect, 1e-12, `${f} attn_out`);
  }
});

test('tied models: logits = final · W_Eᵀ (gpt2, qwen2, gemma, gpt_neo, opt); untied: = final · W_Uᵀ', () => {
  const cases: [HfFamily, string, string][] = [
    ['gpt2', 'transformer.wte.weight', FINAL_HOOK], ['qwen2', 'model.embed_tokens.weight', FINAL_HOOK],
    ['gemma', 'model.embed_tokens.weight', FINAL_HOOK], ['gpt_neo', 'transformer.wte.weight', FINAL_HOOK],
    ['opt', 'model.decoder.embed_tokens.weight', FINAL_HOOK], ['llama', 'lm_head.weight', FINAL_HOOK],
    ['gpt_neox', 'embed_out.weight', FINAL_HOOK], ['phi3', 'lm_head.weight', FINAL_HOOK],
  ];
  for (const [f, wName, src] of cases) {
    const ck = tinyHfCheckpoint(f);
    const r = run(ck), fin = r.hooks.get(src)!, W = T(ck.tensors, wName), d = 32, V = 96;
    const expect = new Float64Array(18 * V);
    for (let n = 0; n < 18; n++) for (let v = 0; v < V; v++) for (let i = 0; i < d; i++) expect[n * V + v]! += fin[n * d + i]! * W[v * d + i]!;
    close(r.logits!, expect, 1e-12, `${f} logits`);
  }
});

test('opt: hidden[0] = embed_tokens[id] + embed_positions[position + 2]; do_layer_norm_before false is post-LN and different', () => {
  const ck = tinyHfCheckpoint('opt');
  const r = run(ck);
  const E = T(ck.tensors, 'model.decoder.embed_tokens.weight'), P = T(ck.tensors, 'model.decoder.embed_positions.weight');
  const b = 1, t = 4; // left-padded text: position 2 → row 4
  const h0 = r.hiddenStates[0]!;
  for (let i = 0; i < 32; i++) assert.equal(h0[(b * 6 + t) * 32 + i], E[IDS[b]![t]! * 32 + i]! + P[(2 + 2) * 32 + i]!);
  const post = run(tinyHfCheckpoint('opt', { config: { do_layer_norm_before: false } }));
  assert.ok(!post.hooks.has(FINAL_HOOK));
  assert.ok(maxRelDiff(realRows(post.hiddenStates[2]!, MASK), realRows(r.hiddenStates[2]!, MASK)) > 1e-2);
  // post-LN: every block output is a LayerNorm output (mean of (x − b)/w ≈ 0 is too weak; check resid_post = hidden[l+1])
  close(hook(post, 'resid_post', 0), post.hiddenStates[1]!, 0, 'post-LN resid_post');
});

test('padding and batch invariance: a text alone, left-padded and right-padded in a batch gives the same states at its real tokens, for every family', () => {
  const text = [12, 77, 3, 50];
  for (const f of HF_FAMILIES) {
    const ck = tinyHfCheckpoint(f);
    const pad = f === 'roberta' || f === 'opt' ? 1 : 0;
    const alone = hfReferenceForward(f, ck.config, ck.tensors, [text], [[1, 1, 1, 1]]);
    const batch = hfReferenceForward(f, ck.config, ck.tensors, [[pad, pad, ...text], [...text, pad, pad], [5, 6, 7, 8, 9, 10]],
      [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 1, 1]]);
    for (const [name, x] of alone.hooks) {
      if (name.includes('pattern')) continue;
      const w = x.length / 4, y = batch.hooks.get(name)!;
      close(y.slice(2 * w, 6 * w), x, 1e-12, `${f} ${name} left-padded`);
      close(y.slice(6 * w, 10 * w), x, 1e-12, `${f} ${name} right-padded`);
    }
    // patterns: the real-query rows restricted to real keys agree too
    const pa = hook(alone, 'attn_pattern', 0), pb = hook(batch, 'attn_pattern', 0);
    for (let h = 0; h < pa.length / 16; h++) for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
      assert.ok(Math.abs(pb[((0 * (pa.length / 16) + h) * 6 + i + 2) * 6 + j + 2]! - pa[(h * 4 + i) * 4 + j]!) < 1e-12, `${f} pattern`);
    }
  }
});

// ------------------------------------------------------------------------------------------------ 4. writer

test('writeHfCheckpoint: config.json + model.safetensors read back exactly (F32), rounded exactly (F16 / BF16); header is 8-aligned', () => {
  const dir = mkdtempSync(join(tmpdir(), 'hf-ref-'));
  try {
    const ck = tinyHfCheckpoint('gpt_neox', { buffers: true });
    for (const dtype of ['F32', 'F16', 'BF16'] as const) {
      const stored = writeHfCheckpoint(join(dir, dtype), ck, dtype);
      const back = readHfCheckpoint(join(dir, dtype), 'gpt_neox');
      assert.equal(back.config.torch_dtype, { F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype]);
      assert.deepEqual([...back.tensors.keys()], [...ck.tensors.keys()]);
      for (const [n, t] of back.tensors) {
        assert.deepEqual(t.shape, ck.tensors.get(n)!.shape);
        assert.deepEqual(t.data, stored.tensors.get(n)!.data, `${dtype} ${n}`);
        if (dtype === 'F32') assert.deepEqual(t.data, ck.tensors.get(n)!.data);
      }
      const buf = readFileSync(join(dir, dtype, 'model.safetensors'));
      assert.equal((8 + Number(buf.readBigUInt64LE(0))) % 8, 0);
    }
    // the rounded checkpoint is what the reference must run on: F16 changes the states a little, not a lot
    const h32 = run(ck).hiddenStates[2]!, h16 = run(roundCheckpoint(ck, 'F16')).hiddenStates[2]!;
    const e = maxRelDiff(realRows(h16, MASK), realRows(h32, MASK));
    assert.ok(e > 0 && e < 1e-2, `F16 rounding moved the states by ${e}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('F16 / BF16 encodings: known bit patterns, round to nearest even, subnormals', () => {
  assert.equal(toF16(1), 0x3c00);
  assert.equal(toF16(-2), 0xc000);
  assert.equal(toF16(65504), 0x7bff);
  assert.equal(toF16(2 ** -24), 0x0001);
  assert.equal(toF16(1 + 2 ** -11), 0x3c00); // halfway → even
  assert.equal(toF16(1 + 3 * 2 ** -11), 0x3c02); // halfway → even (up)
  assert.equal(toBF16(1), 0x3f80);
  assert.equal(toBF16(-0.5), 0xbf00);
  assert.equal(toBF16(1 + 2 ** -8), 0x3f80); // halfway → even
  assert.equal(toBF16(1 + 3 * 2 ** -8), 0x3f82);
  const buf = safetensorsBytes(new Map([['x', { shape: [2], data: Float64Array.from([1, -2]) }]]), 'F16');
  const header = JSON.parse(buf.subarray(8, 8 + Number(buf.readBigUInt64LE(0))).toString());
  assert.deepEqual(header.x, { dtype: 'F16', shape: [2], data_offsets: [0, 4] });
  assert.deepEqual([...readSafetensorsFromBuffer(buf)], [1, -2]);
});

function readSafetensorsFromBuffer(buf: Buffer): Float64Array {
  const dir = mkdtempSync(join(tmpdir(), 'hf-st-'));
  try {
    const p = join(dir, 'x.safetensors');
    writeFileSync(p, buf);
    return readSafetensors(p).get('x')!.data;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('tinyHfCheckpoint: real stored names with prefixes, base-model variant without them, deterministic from the seed', () => {
  const names = (f: HfFamily, o: TinyOpts = {}): string[] => [...tinyHfCheckpoint(f, o).tensors.keys()];
  assert.ok(names('gpt_neox').includes('gpt_neox.layers.0.attention.query_key_value.weight'));
  assert.ok(names('gpt_neox').includes('embed_out.weight'));
  assert.ok(names('gpt_neox', { baseModel: true }).includes('layers.0.attention.query_key_value.weight'));
  assert.ok(!names('gpt_neox', { baseModel: true }).includes('embed_out.weight'));
  assert.ok(names('roberta').includes('roberta.encoder.layer.0.attention.self.query.weight'));
  assert.ok(names('gemma2').includes('model.layers.0.pre_feedforward_layernorm.weight'));
  assert.ok(names('phi3').includes('model.layers.0.self_attn.qkv_proj.weight'));
  assert.ok(names('opt').includes('model.decoder.embed_positions.weight'));
  assert.ok(names('gptj').includes('lm_head.bias'));
  assert.ok(names('gpt_neo').includes('transformer.h.0.attn.attention.q_proj.weight'));
  assert.ok(!names('gemma').includes('lm_head.weight'), 'tied heads are not stored');
  assert.deepEqual(tinyHfCheckpoint('gemma2', { seed: 5 }).tensors.get('model.norm.weight')!.data, tinyHfCheckpoint('gemma2', { seed: 5 }).tensors.get('model.norm.weight')!.data);
  // base-model checkpoints run too (no head → no logits, same hidden states)
  for (const f of HF_FAMILIES) {
    const full = tinyHfCheckpoint(f), base = tinyHfCheckpoint(f, { baseModel: true });
    const a = run(full), b = run(base);
    const same = a.hiddenStates.length === b.hiddenStates.length;
    assert.ok(same, f);
    close(realRows(b.hiddenStates.at(-1)!, MASK), realRows(a.hiddenStates.at(-1)!, MASK), 1e-12, `${f} base model`);
  }
});
