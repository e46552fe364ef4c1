/**
 * The model zoo: for every family, a tiny random checkpoint with that family's real tensor names and
 * config.json keys (test/reference/hf/checkpoints.ts) is loaded by openCheckpoint and run by the runtime
 * (src/model/graph.ts, built from the family's ModelSpec). Every hook point of every block, the final norm,
 * HF's hidden_states and the logits must equal the INDEPENDENT float64 Hugging Face reference
 * (test/reference/hf/, written from transformers' modelling code, sharing nothing with src/) within 1e-4
 * max relative error, at every real position of a left-, right- and un-padded batch; a text's outputs must
 * not depend on the batch it is run in or on its padding.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { openCheckpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { type BlockHookKind, type HookPoint, hookName } from '../src/model/spec.ts';
import { HF_FAMILIES, tinyHfCheckpoint, writeHfCheckpoint, type HfFamily, type TinyOpts } from './reference/hf/checkpoints.ts';
import { hfReferenceForward } from './reference/hf/forward.ts';

const root = mkdtempSync(join(tmpdir(), 'atlas-zoo-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const MASK = [
  [1, 1, 1, 1, 1, 1, 1],
  [0, 0, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 0, 0, 0],
];
const ids = (pad: number): number[][] => [
  [5, 17, 42, 8, 91, 33, 60],
  [pad, pad, 12, 77, 3, 50, 29],
  [64, 9, 88, 21, pad, pad, pad],
];

const BLOCK_HOOKS: BlockHookKind[] = ['resid_pre', 'ln1', 'attn_out', 'resid_mid', 'mlp_post', 'mlp_out', 'resid_post', 'attn_pattern', 'attn_pattern_last', 'attn_v'];

/** The entries of x (shape [B, ...]) that belong to real tokens: rows (b, t) or, for patterns, query rows (b, h, i). */
function real(x: ArrayLike<number>, kind: string, mask: number[][]): number[] {
  const B = mask.length, T = mask[0]!.length, out: number[] = [];
  if (kind === 'attn_pattern') {
    const H = x.length / (B * T * T);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) for (let i = 0; i < T; i++) {
      if (mask[b]![i]) for (let j = 0; j < T; j++) out.push(x[((b * H + h) * T + i) * T + j]!);
    }
    return out;
  }
  if (kind === 'attn_pattern_last') return Array.from(x);
  const w = x.length / (B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) if (mask[b]![t]) for (let i = 0; i < w; i++) out.push(x[(b * T + t) * w + i]!);
  return out;
}

function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  let ref = 0, diff = 0;
  for (let i = 0; i < b.length; i++) {
    assert.ok(Number.isFinite(a[i]!), `${what}[${i}] = ${a[i]}`);
    ref = Math.max(ref, Math.abs(b[i]!));
    diff = Math.max(diff, Math.abs(a[i]! - b[i]!));
  }
  assert.ok(ref > 0, `${what}: reference is all zero (the comparison would be vacuous)`);
  assert.ok(diff / ref <= tol, `${what}: max rel error ${(diff / ref).toExponential(3)} > ${tol}`);
}

/** Cases: every family with its tiny defaults, plus variants exercising other spec paths. */
const CASES: [string, HfFamily, TinyOpts][] = [
  ...HF_FAMILIES.map((f): [string, HfFamily, TinyOpts] => [f, f, { seed: 3 }]),
  ['gpt_neox sequential, rotary_pct 0.25', 'gpt_neox', { seed: 4, config: { use_parallel_residual: false, rotary_pct: 0.25, partial_rotary_factor: 0.25 } }],
  ['llama rope_scaling linear, attention+mlp bias', 'llama', { seed: 5, config: { rope_scaling: { rope_type: 'linear', factor: 2 }, attention_bias: true, mlp_bias: true } }],
  ['llama rope_scaling dynamic (past max_position_embeddings)', 'llama', { seed: 6, config: { rope_scaling: { rope_type: 'dynamic', factor: 3 }, max_position_embeddings: 4 } }],
  ['llama rope_scaling llama3', 'llama', { seed: 7, config: { rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 }, rope_theta: 500 } }],
  ['phi3 partial rotary, sliding window, longrope', 'phi3', {
    seed: 8, config: { partial_rotary_factor: 0.5, sliding_window: 4, max_position_embeddings: 16, original_max_position_embeddings: 4, rope_scaling: { type: 'longrope', short_factor: [1, 1.5], long_factor: [2, 3.5] } },
  }],
  ['opt post-LN (do_layer_norm_before false)', 'opt', { seed: 9, config: { do_layer_norm_before: false } }],
  ['gpt2 base model, buffers stored', 'gpt2', { seed: 10, baseModel: true, buffers: true }],
  ['gpt_neox base model, buffers stored', 'gpt_neox', { seed: 11, baseModel: true, buffers: true }],
];

let counter = 0;
for (const [label, family, opts] of CASES) {
  test(`zoo: ${label} — every hook point, hidden_states and logits equal the HF float64 reference`, async () => {
    const dir = join(root, `m${counter++}`);
    const ckpt0 = tinyHfCheckpoint(family, opts);
    const stored = writeHfCheckpoint(dir, ckpt0, 'F32');
    const pad = typeof stored.config.pad_token_id === 'number' ? stored.config.pad_token_id : 0;
    const batch = ids(pad);
    const ref = hfReferenceForward(family, stored.config, stored.tensors, batch, MASK);
    const ckpt = openCheckpoint(dir);
    const rt = await TransformerRuntime.create(ckpt, { threads: 1 });
    try {
      const spec = rt.spec;
      const hooks: HookPoint[] = [];
      for (let l = 0; l < spec.nLayer; l++) {
        for (const kind of BLOCK_HOOKS) if (ref.hooks.has(hookName({ kind, layer: l }))) hooks.push({ kind, layer: l });
      }
      if (spec.finalNorm) hooks.push({ kind: 'final' });
      assert.ok(hooks.length >= spec.nLayer * 9, `reference records the hooks (${hooks.length})`);
      const withLogits = spec.unembed !== undefined && ref.logits !== undefined;
      const B = batch.length, T = batch[0]!.length;
      const input = { ids: Int32Array.from(batch.flat()), attentionMask: Uint8Array.from(MASK.flat()), batch: B, seqLen: T };
      const out = await rt.forwardHooks(input, hooks, withLogits ? 'all' : 'none');
      for (const h of hooks) {
        const name = hookName(h);
        assertClose(real(out.get(name)!.data, h.kind, MASK), real(ref.hooks.get(name)!, h.kind, MASK), 1e-4, name);
      }
      if (withLogits) assertClose(real(out.get('logits')!.data, 'logits', MASK), real(ref.logits!, 'logits', MASK), 1e-4, 'logits');
      const fwd = await rt.forward(input);
      assert.equal(fwd.hiddenStates.length, ref.hiddenStates.length);
      fwd.hiddenStates.forEach((hs, i) => assertClose(real(hs.data, 'hidden', MASK), real(ref.hiddenStates[i]!, 'hidden', MASK), 1e-4, `hidden_states[${i}]`));

      // Batch and padding invariance: each text alone, unpadded, gives the same values as inside the batch
      // (not for rope scalings that HF itself makes depend on the batch's longest text).
      const batchDependent = ['dynamic', 'longrope'].includes(String((stored.config.rope_scaling as { rope_type?: string; type?: string } | null)?.rope_type ?? (stored.config.rope_scaling as { type?: string } | null)?.type));
      for (let b = 0; b < (batchDependent ? 0 : B); b++) {
        const keep = MASK[b]!.map((m, t) => (m ? t : -1)).filter((t) => t >= 0);
        const solo = await rt.forwardHooks({ ids: Int32Array.from(keep.map((t) => batch[b]![t]!)), attentionMask: new Uint8Array(keep.length).fill(1), batch: 1, seqLen: keep.length }, hooks.filter((h) => h.kind !== 'attn_pattern'));
        for (const h of hooks) {
          if (h.kind === 'attn_pattern') continue;
          const name = hookName(h);
          const whole = out.get(name)!.data;
          const mine = h.kind === 'attn_pattern_last'
            ? Array.from(whole.subarray(b * (whole.length / B), (b + 1) * (whole.length / B))).filter((_, k) => MASK[b]![k % T])
            : keep.flatMap((t) => Array.from(whole.subarray((b * T + t) * (whole.length / (B * T)), (b * T + t + 1) * (whole.length / (B * T)))));
          assertClose(mine, solo.get(name)!.data, 1e-5, `text ${b} alone: ${name}`);
        }
      }
    } finally {
      await rt.release();
      ckpt.close();
    }
  });
}
