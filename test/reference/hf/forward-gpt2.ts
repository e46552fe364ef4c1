/**
 * GPT-2 (transformers models/gpt2/modeling_gpt2.py), float64.
 * - wte + wpe[position]; pre-LN blocks with LayerNorm (layer_norm_epsilon);
 * - Conv1D layers (x·W + b, W stored [in, out]); c_attn output split into q | k | v blocks of d columns;
 * - scores / √head_dim when scale_attn_weights, and / (layer + 1) when scale_attn_by_inverse_layer_idx;
 * - mlp = c_proj(act(c_fc(x))), activation_function (gelu_new); ln_f; tied lm_head unless one is stored.
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, attention, conv1d, lastRow, layerNorm, mapInPlace, sliceCols, type F64 } from './math.ts';

export function gpt2Forward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('n_embd'), H = ctx.c<number>('n_head'), L = ctx.c<number>('n_layer'), V = ctx.c<number>('vocab_size');
  const f = ctx.c<number>('n_inner', 4 * d), hd = d / H;
  const eps = ctx.c<number>('layer_norm_epsilon', 1e-5);
  const act = activation(ctx.c<string>('activation_function', 'gelu_new'));
  const byDim = ctx.c<boolean>('scale_attn_weights', true), byLayer = ctx.c<boolean>('scale_attn_by_inverse_layer_idx', false);
  const p = ctx.prefix('transformer.');
  const ln = (x: F64, name: string): F64 => layerNorm(x, d, ctx.t(`${name}.weight`, [d]), ctx.opt(`${name}.bias`), eps);
  const c1d = (x: F64, inDim: number, name: string, out: number): F64 => conv1d(x, inDim, ctx.t(`${name}.weight`, [inDim, out]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}wte.weight`, [V, d]);
  let h: F64 = add(ctx.gather(E, d, ctx.tokenRow), ctx.gather(ctx.t(`${p}wpe.weight`), d, (n) => ctx.positions[n]!));
  for (let l = 0; l < L; l++) {
    const q = `${p}h.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const x = ln(h, `${q}.ln_1`);
    ctx.rec('ln1', l, x);
    const qkv = c1d(x, d, `${q}.attn.c_attn`, 3 * d);
    const Vv = sliceCols(qkv, 3 * d, 2 * d, d);
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: H, headDim: hd, q: sliceCols(qkv, 3 * d, 0, d), k: sliceCols(qkv, 3 * d, d, d), v: Vv,
      scale: (byDim ? 1 / Math.sqrt(hd) : 1) / (byLayer ? l + 1 : 1), causal: true, mask: ctx.mask,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = c1d(att.out, d, `${q}.attn.c_proj`, d);
    ctx.rec('attn_out', l, attnOut);
    h = add(h, attnOut);
    ctx.rec('resid_mid', l, h);
    const a = mapInPlace(c1d(ln(h, `${q}.ln_2`), d, `${q}.mlp.c_fc`, f), act);
    ctx.rec('mlp_post', l, a);
    const mlpOut = c1d(a, f, `${q}.mlp.c_proj`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = add(h, mlpOut);
    ctx.rec('resid_post', l, h);
  }
  const final = ln(h, `${p}ln_f`);
  const Wu = ctx.head('lm_head.weight', E, true);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined);
}
