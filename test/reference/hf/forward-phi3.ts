/**
 * Phi-3 (transformers models/phi3/modeling_phi3.py), float64. Llama's sequential block with fused projections:
 * - qkv_proj [(H + 2·KV)·hd, d]: q = rows [0, H·hd), k = the next KV·hd, v = the rest (no biases);
 * - gate_up_proj [2f, d]: gate = FIRST half, up = second half; mlp = down(up ⊙ act(gate));
 * - rotary on the first int(hd · partial_rotary_factor) dims, rotate_half, rope_scaling 'longrope' (short /
 *   long factors chosen by max position + 1 vs original_max_position_embeddings, cos/sin scaled by the
 *   attention factor) or none;
 * - sliding_window (when not null) on every layer; final norm, lm_head.
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, applyRotary, attention, lastRow, linear, rmsNorm, ropeInvFreq, sliceCols, type F64 } from './math.ts';

export function phi3Forward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_attention_heads'), L = ctx.c<number>('num_hidden_layers');
  const KV = ctx.c<number>('num_key_value_heads', H), f = ctx.c<number>('intermediate_size'), V = ctx.c<number>('vocab_size');
  const hd = ctx.c<number>('head_dim', d / H);
  const eps = ctx.c<number>('rms_norm_eps', 1e-5);
  const dims = Math.floor(hd * ctx.c<number>('partial_rotary_factor', 1));
  const { invFreq, attentionFactor } = ropeInvFreq(dims, ctx.c<number>('rope_theta', 10000), ctx.config.rope_scaling as never,
    ctx.c<number>('max_position_embeddings', 4096), Math.max(...ctx.positions), ctx.config.original_max_position_embeddings as number | undefined);
  const act = activation(ctx.c<string>('hidden_act', 'silu'));
  const window = (ctx.config.sliding_window as number | null | undefined) ?? undefined;
  const p = ctx.prefix('model.');
  const norm = (x: F64, name: string): F64 => rmsNorm(x, d, ctx.t(`${name}.weight`, [d]), eps);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}embed_tokens.weight`, [V, d]);
  let h: F64 = ctx.gather(E, d, ctx.tokenRow);
  const qkvCols = (H + 2 * KV) * hd;
  for (let l = 0; l < L; l++) {
    const q = `${p}layers.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const x = norm(h, `${q}.input_layernorm`);
    ctx.rec('ln1', l, x);
    const qkv = proj(x, d, `${q}.self_attn.qkv_proj`, qkvCols);
    const Q = sliceCols(qkv, qkvCols, 0, H * hd);
    const K = sliceCols(qkv, qkvCols, H * hd, KV * hd);
    const Vv = sliceCols(qkv, qkvCols, (H + KV) * hd, KV * hd);
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: KV, headDim: hd,
      q: applyRotary(Q, H, hd, ctx.positions, dims, invFreq, 'half', attentionFactor),
      k: applyRotary(K, KV, hd, ctx.positions, dims, invFreq, 'half', attentionFactor),
      v: Vv, scale: 1 / Math.sqrt(hd), causal: true, window, mask: ctx.mask,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = proj(att.out, H * hd, `${q}.self_attn.o_proj`, d);
    ctx.rec('attn_out', l, attnOut);
    h = add(h, attnOut);
    ctx.rec('resid_mid', l, h);
    const x2 = norm(h, `${q}.post_attention_layernorm`);
    const gu = proj(x2, d, `${q}.mlp.gate_up_proj`, 2 * f);
    const gate = sliceCols(gu, 2 * f, 0, f), up = sliceCols(gu, 2 * f, f, f);
    const a = up.map((u, i) => u * act(gate[i]!));
    ctx.rec('mlp_post', l, a);
    const mlpOut = proj(a, f, `${q}.mlp.down_proj`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = add(h, mlpOut);
    ctx.rec('resid_post', l, h);
  }
  const final = norm(h, `${p}norm`);
  const Wu = ctx.head('lm_head.weight', E, false);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined);
}
