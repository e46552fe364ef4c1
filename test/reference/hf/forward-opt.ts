/**
 * OPT (transformers models/opt/modeling_opt.py), float64.
 * - embed_tokens (no scaling) + embed_positions[position + 2] (OPTLearnedPositionalEmbedding offset 2);
 *   HF derives positions cumsum(mask)·mask − 1, which equals the project's cumsum(mask) − 1 at real tokens;
 * - do_layer_norm_before (true for all but opt-350m): h = h + attn(self_attn_layer_norm(h)),
 *   h = h + fc2(relu(fc1(final_layer_norm(h)))); false: post-LN (norm after each residual add);
 * - q is scaled by head_dim^-½ after q_proj (same as scaling the scores); biases per enable_bias;
 * - decoder.final_layer_norm when do_layer_norm_before and not _remove_final_layer_norm; tied lm_head.
 * word_embed_proj_dim ≠ hidden_size (project_in / project_out) is not implemented.
 * Post-LN blocks record resid_mid = x + attn_out and ln1 = its normalisation (TransformerLens BertBlock naming).
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, attention, lastRow, layerNorm, linear, mapInPlace, type F64 } from './math.ts';

export function optForward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_attention_heads'), L = ctx.c<number>('num_hidden_layers');
  const f = ctx.c<number>('ffn_dim'), V = ctx.c<number>('vocab_size'), hd = d / H;
  if (ctx.c<number>('word_embed_proj_dim', d) !== d) throw new Error('reference opt: word_embed_proj_dim ≠ hidden_size is not implemented');
  const pre = ctx.c<boolean>('do_layer_norm_before', true);
  const act = activation(ctx.c<string>('activation_function', 'relu'));
  const p = ctx.has('model.decoder.embed_tokens.weight') ? 'model.decoder.' : 'decoder.';
  const ln = (x: F64, name: string): F64 => layerNorm(x, d, ctx.t(`${name}.weight`, [d]), ctx.opt(`${name}.bias`), 1e-5);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}embed_tokens.weight`, [V, d]);
  const P = ctx.t(`${p}embed_positions.weight`);
  let h: F64 = add(ctx.gather(E, d, ctx.tokenRow), ctx.gather(P, d, (n) => ctx.positions[n]! + 2));
  for (let l = 0; l < L; l++) {
    const q = `${p}layers.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const x = pre ? ln(h, `${q}.self_attn_layer_norm`) : h;
    if (pre) ctx.rec('ln1', l, x);
    const Q = proj(x, d, `${q}.self_attn.q_proj`, d).map((v) => v * hd ** -0.5);
    const K = proj(x, d, `${q}.self_attn.k_proj`, d), Vv = proj(x, d, `${q}.self_attn.v_proj`, d);
    ctx.rec('attn_v', l, Vv);
    const att = attention({ B: ctx.B, T: ctx.T, nHead: H, nKv: H, headDim: hd, q: Q, k: K, v: Vv, scale: 1, causal: true, mask: ctx.mask });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = proj(att.out, d, `${q}.self_attn.out_proj`, d);
    ctx.rec('attn_out', l, attnOut);
    h = add(h, attnOut);
    ctx.rec('resid_mid', l, h);
    if (!pre) {
      h = ln(h, `${q}.self_attn_layer_norm`);
      ctx.rec('ln1', l, h);
    }
    const a = mapInPlace(proj(pre ? ln(h, `${q}.final_layer_norm`) : h, d, `${q}.fc1`, f), act);
    ctx.rec('mlp_post', l, a);
    const mlpOut = proj(a, f, `${q}.fc2`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = add(h, mlpOut);
    if (!pre) h = ln(h, `${q}.final_layer_norm`);
    ctx.rec('resid_post', l, h);
  }
  const hasFinal = ctx.has(`${p}final_layer_norm.weight`);
  const final = hasFinal ? ln(h, `${p}final_layer_norm`) : h;
  const Wu = ctx.head('lm_head.weight', E, true);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined, hasFinal);
}
