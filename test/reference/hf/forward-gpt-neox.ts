/**
 * GPT-NeoX / Pythia (transformers models/gpt_neox/modeling_gpt_neox.py), float64.
 * - embed_in, no positions; LayerNorm (layer_norm_eps) with bias;
 * - query_key_value [3d, d] is laid out PER HEAD: view(B, T, nHead, 3·hd), then q = [..., :hd], k = [hd:2hd],
 *   v = [2hd:] (not q-block, k-block, v-block as in GPT-2);
 * - partial rotary: the first int(hd · rotary_pct) dims of each head, rotate_half, base rotary_emb_base;
 * - use_parallel_residual: out = x + attn(ln1(x)) + mlp(ln2(x)); else a = x + attn(ln1(x)), out = a + mlp(ln2(a));
 * - mlp = dense_4h_to_h(act(dense_h_to_4h(x))), hidden_act 'gelu' = exact erf GELU;
 * - final_layer_norm, embed_out (separate, no bias).
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, applyRotary, attention, lastRow, layerNorm, linear, mapInPlace, ropeInvFreq, type F64 } from './math.ts';

export function gptNeoxForward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_attention_heads'), L = ctx.c<number>('num_hidden_layers');
  const f = ctx.c<number>('intermediate_size'), V = ctx.c<number>('vocab_size');
  const hd = d / H;
  const eps = ctx.c<number>('layer_norm_eps', 1e-5);
  const dims = Math.floor(hd * ctx.c<number>('rotary_pct', 0.25));
  const base = ctx.c<number>('rotary_emb_base', 10000);
  const parallel = ctx.c<boolean>('use_parallel_residual', true);
  const act = activation(ctx.c<string>('hidden_act', 'gelu'));
  const { invFreq, attentionFactor } = ropeInvFreq(dims, base, ctx.config.rope_scaling as never, ctx.c<number>('max_position_embeddings', 2048), Math.max(...ctx.positions));
  const p = ctx.prefix('gpt_neox.');
  const ln = (x: F64, name: string): F64 => layerNorm(x, d, ctx.t(`${name}.weight`, [d]), ctx.opt(`${name}.bias`), eps);

  let h: F64 = ctx.gather(ctx.t(`${p}embed_in.weight`, [V, d]), d, ctx.tokenRow);
  for (let l = 0; l < L; l++) {
    const q = `${p}layers.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const x = ln(h, `${q}.input_layernorm`);
    ctx.rec('ln1', l, x);
    // GPTNeoXAttention: qkv.view(B, T, H, 3·hd).chunk(3, -1)
    const qkv = linear(x, d, ctx.t(`${q}.attention.query_key_value.weight`, [3 * d, d]), ctx.opt(`${q}.attention.query_key_value.bias`), 3 * d);
    const Q = new Float64Array(ctx.N * d), K = new Float64Array(ctx.N * d), Vv = new Float64Array(ctx.N * d);
    for (let n = 0; n < ctx.N; n++) {
      for (let hh = 0; hh < H; hh++) {
        for (let e = 0; e < hd; e++) {
          const src = n * 3 * d + hh * 3 * hd + e;
          Q[n * d + hh * hd + e] = qkv[src]!;
          K[n * d + hh * hd + e] = qkv[src + hd]!;
          Vv[n * d + hh * hd + e] = qkv[src + 2 * hd]!;
        }
      }
    }
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: H, headDim: hd,
      q: applyRotary(Q, H, hd, ctx.positions, dims, invFreq, 'half', attentionFactor),
      k: applyRotary(K, H, hd, ctx.positions, dims, invFreq, 'half', attentionFactor),
      v: Vv, scale: 1 / Math.sqrt(hd), causal: true, mask: ctx.mask,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = linear(att.out, d, ctx.t(`${q}.attention.dense.weight`, [d, d]), ctx.opt(`${q}.attention.dense.bias`), d);
    ctx.rec('attn_out', l, attnOut);
    const mlpIn = parallel ? h : add(h, attnOut);
    if (!parallel) ctx.rec('resid_mid', l, mlpIn);
    const x2 = ln(mlpIn, `${q}.post_attention_layernorm`);
    const a = mapInPlace(linear(x2, d, ctx.t(`${q}.mlp.dense_h_to_4h.weight`, [f, d]), ctx.opt(`${q}.mlp.dense_h_to_4h.bias`), f), act);
    ctx.rec('mlp_post', l, a);
    const mlpOut = linear(a, f, ctx.t(`${q}.mlp.dense_4h_to_h.weight`, [d, f]), ctx.opt(`${q}.mlp.dense_4h_to_h.bias`), d);
    ctx.rec('mlp_out', l, mlpOut);
    h = parallel ? add(h, attnOut, mlpOut) : add(mlpIn, mlpOut);
    ctx.rec('resid_post', l, h);
  }
  const final = ln(h, `${p}final_layer_norm`);
  const Wu = ctx.head('embed_out.weight', ctx.t(`${p}embed_in.weight`), false);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined);
}
