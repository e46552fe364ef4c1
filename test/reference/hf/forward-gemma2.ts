/**
 * Gemma-2 (transformers models/gemma2/modeling_gemma2.py), float64. Gemma plus:
 * - sandwich norms: h = h + post_attention_layernorm(attn(input_layernorm(h)));
 *                   h = h + post_feedforward_layernorm(mlp(pre_feedforward_layernorm(h)))   (all (1 + w) RMSNorms)
 *   so the hooks attn_out / mlp_out are the POST-normed outputs (what is added to the residual);
 * - scores scaled by query_pre_attn_scalar^-½ (not head_dim), then soft-capped
 *   attn_logit_softcapping · tanh(s / attn_logit_softcapping) BEFORE the mask;
 * - sliding_window on the layers whose layer_types entry is 'sliding_attention' (default: even layers 0, 2, …);
 * - logits soft-capped by final_logit_softcapping.
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, applyRotary, attention, lastRow, linear, rmsNorm, ropeInvFreq, type F64 } from './math.ts';

export function gemma2Forward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_attention_heads'), L = ctx.c<number>('num_hidden_layers');
  const KV = ctx.c<number>('num_key_value_heads', H), f = ctx.c<number>('intermediate_size'), V = ctx.c<number>('vocab_size');
  const hd = ctx.c<number>('head_dim', 256);
  const eps = ctx.c<number>('rms_norm_eps', 1e-6);
  const { invFreq, attentionFactor } = ropeInvFreq(hd, ctx.c<number>('rope_theta', 10000), ctx.config.rope_scaling as never,
    ctx.c<number>('max_position_embeddings', 8192), Math.max(...ctx.positions));
  const act = activation(ctx.c<string>('hidden_activation', ctx.c<string>('hidden_act', 'gelu_pytorch_tanh')));
  const scale = Math.pow(ctx.c<number>('query_pre_attn_scalar', 256), -0.5);
  // null in config.json = no capping
  const attnCap = (ctx.config.attn_logit_softcapping as number | null | undefined) === undefined ? 50 : (ctx.config.attn_logit_softcapping as number | null) ?? undefined;
  const finalCap = (ctx.config.final_logit_softcapping as number | null | undefined) === undefined ? 30 : (ctx.config.final_logit_softcapping as number | null) ?? undefined;
  const types = (ctx.config.layer_types as string[] | undefined) ?? Array.from({ length: L }, (_, i) => ((i + 1) % 2 ? 'sliding_attention' : 'full_attention'));
  const slidingWindow = ctx.c<number>('sliding_window', 4096);
  const p = ctx.prefix('model.');
  const norm = (x: F64, name: string): F64 => rmsNorm(x, d, ctx.t(`${name}.weight`, [d]), eps, 1);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}embed_tokens.weight`, [V, d]);
  const normalizer = Math.fround(Math.sqrt(d));
  let h: F64 = ctx.gather(E, d, ctx.tokenRow).map((v) => v * normalizer);
  for (let l = 0; l < L; l++) {
    const q = `${p}layers.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const x = norm(h, `${q}.input_layernorm`);
    ctx.rec('ln1', l, x);
    const Q = proj(x, d, `${q}.self_attn.q_proj`, H * hd);
    const K = proj(x, d, `${q}.self_attn.k_proj`, KV * hd);
    const Vv = proj(x, d, `${q}.self_attn.v_proj`, KV * hd);
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: KV, headDim: hd,
      q: applyRotary(Q, H, hd, ctx.positions, hd, invFreq, 'half', attentionFactor),
      k: applyRotary(K, KV, hd, ctx.positions, hd, invFreq, 'half', attentionFactor),
      v: Vv, scale, causal: true, softcap: attnCap, mask: ctx.mask,
      window: types[l] === 'sliding_attention' ? slidingWindow : undefined,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = norm(proj(att.out, H * hd, `${q}.self_attn.o_proj`, d), `${q}.post_attention_layernorm`);
    ctx.rec('attn_out', l, attnOut);
    h = add(h, attnOut);
    ctx.rec('resid_mid', l, h);
    const x2 = norm(h, `${q}.pre_feedforward_layernorm`);
    const gate = proj(x2, d, `${q}.mlp.gate_proj`, f), up = proj(x2, d, `${q}.mlp.up_proj`, f);
    const a = gate.map((g, i) => act(g) * up[i]!);
    ctx.rec('mlp_post', l, a);
    const mlpOut = norm(proj(a, f, `${q}.mlp.down_proj`, d), `${q}.post_feedforward_layernorm`);
    ctx.rec('mlp_out', l, mlpOut);
    h = add(h, mlpOut);
    ctx.rec('resid_post', l, h);
  }
  const final = norm(h, `${p}norm`);
  const Wu = ctx.head('lm_head.weight', E, true);
  let logits: F64 | undefined = Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined;
  if (logits && finalCap !== undefined) logits = logits.map((z) => finalCap * Math.tanh(z / finalCap));
  return ctx.decoderOutput(final, logits);
}
