/**
 * GPT-J (transformers models/gptj/modeling_gptj.py), float64.
 * - wte, no learned positions; ONE LayerNorm per block, parallel residual: out = x + attn(ln_1(x)) + mlp(ln_1(x));
 * - q/k/v/out_proj without biases; rotary on the first rotary_dim dims of each head (all of it when null),
 *   INTERLEAVED (rotate_every_two: dims 2e and 2e+1 pair), base 10000, sin/cos repeat_interleave'd;
 * - scores / √head_dim; mlp = fc_out(gelu_new(fc_in(x))); ln_f; lm_head WITH bias.
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, applyRotary, attention, lastRow, layerNorm, linear, mapInPlace, ropeInvFreq, type F64 } from './math.ts';

export function gptjForward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('n_embd'), H = ctx.c<number>('n_head'), L = ctx.c<number>('n_layer'), V = ctx.c<number>('vocab_size');
  const f = ctx.c<number>('n_inner', 4 * d), hd = d / H;
  const eps = ctx.c<number>('layer_norm_epsilon', 1e-5);
  const dims = (ctx.config.rotary_dim as number | null | undefined) ?? hd;
  const { invFreq } = ropeInvFreq(dims, 10000, null, 0, 0);
  const act = activation(ctx.c<string>('activation_function', 'gelu_new'));
  const p = ctx.prefix('transformer.');
  const ln = (x: F64, name: string): F64 => layerNorm(x, d, ctx.t(`${name}.weight`, [d]), ctx.opt(`${name}.bias`), eps);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}wte.weight`, [V, d]);
  let h: F64 = ctx.gather(E, d, ctx.tokenRow);
  for (let l = 0; l < L; l++) {
    const q = `${p}h.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const x = ln(h, `${q}.ln_1`);
    ctx.rec('ln1', l, x);
    const Q = proj(x, d, `${q}.attn.q_proj`, d), K = proj(x, d, `${q}.attn.k_proj`, d), Vv = proj(x, d, `${q}.attn.v_proj`, d);
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: H, headDim: hd,
      q: applyRotary(Q, H, hd, ctx.positions, dims, invFreq, 'interleaved'),
      k: applyRotary(K, H, hd, ctx.positions, dims, invFreq, 'interleaved'),
      v: Vv, scale: 1 / Math.sqrt(hd), causal: true, mask: ctx.mask,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = proj(att.out, d, `${q}.attn.out_proj`, d);
    ctx.rec('attn_out', l, attnOut);
    const a = mapInPlace(proj(x, d, `${q}.mlp.fc_in`, f), act);
    ctx.rec('mlp_post', l, a);
    const mlpOut = proj(a, f, `${q}.mlp.fc_out`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = add(h, attnOut, mlpOut);
    ctx.rec('resid_post', l, h);
  }
  const final = ln(h, `${p}ln_f`);
  const Wu = ctx.head('lm_head.weight', E, false);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, ctx.opt('lm_head.bias'), V) : undefined);
}
