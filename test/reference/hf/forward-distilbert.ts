/**
 * DistilBERT (transformers models/distilbert/modeling_distilbert.py), float64.
 * - embeddings = LayerNorm(word[id] + position[pos]) (eps 1e-12, no token types; pos mask-derived as for BERT);
 * - TransformerBlock: sa = LayerNorm(x + out_lin(attn(q_lin, k_lin, v_lin))) (sa_layer_norm, eps 1e-12);
 *   out = LayerNorm(sa + lin2(act(lin1(sa)))) (output_layer_norm); q scaled by head_dim^-½; padded keys masked;
 * - MLM logits when stored: vocab_projector(vocab_layer_norm(act(vocab_transform(h)))) with the tied embedding.
 * Hooks as for BERT (post-LN): resid_mid = x + attn_out, ln1 = sa_layer_norm(resid_mid).
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, attention, lastRow, layerNorm, linear, mapInPlace, type F64 } from './math.ts';

export function distilbertForward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('dim'), H = ctx.c<number>('n_heads'), L = ctx.c<number>('n_layers');
  const f = ctx.c<number>('hidden_dim'), V = ctx.c<number>('vocab_size'), hd = d / H;
  if (ctx.c<boolean>('sinusoidal_pos_embds', false)) throw new Error('reference distilbert: sinusoidal_pos_embds is not implemented');
  const act = activation(ctx.c<string>('activation', 'gelu'));
  const p = ctx.prefix('distilbert.');
  const ln = (x: F64, name: string): F64 => layerNorm(x, d, ctx.t(`${name}.weight`, [d]), ctx.opt(`${name}.bias`), 1e-12);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}embeddings.word_embeddings.weight`, [V, d]);
  let h: F64 = ln(add(ctx.gather(E, d, ctx.tokenRow), ctx.gather(ctx.t(`${p}embeddings.position_embeddings.weight`), d, (n) => ctx.positions[n]!)), `${p}embeddings.LayerNorm`);
  for (let l = 0; l < L; l++) {
    const q = `${p}transformer.layer.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const Vv = proj(h, d, `${q}.attention.v_lin`, d);
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: H, headDim: hd, q: proj(h, d, `${q}.attention.q_lin`, d).map((v) => v / Math.sqrt(hd)),
      k: proj(h, d, `${q}.attention.k_lin`, d), v: Vv, scale: 1, causal: false, mask: ctx.mask,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = proj(att.out, d, `${q}.attention.out_lin`, d);
    ctx.rec('attn_out', l, attnOut);
    const mid = add(h, attnOut);
    ctx.rec('resid_mid', l, mid);
    const sa = ln(mid, `${q}.sa_layer_norm`);
    ctx.rec('ln1', l, sa);
    const m = mapInPlace(proj(sa, d, `${q}.ffn.lin1`, f), act);
    ctx.rec('mlp_post', l, m);
    const mlpOut = proj(m, f, `${q}.ffn.lin2`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = ln(add(sa, mlpOut), `${q}.output_layer_norm`);
    ctx.rec('resid_post', l, h);
  }
  ctx.hidden.push(Float64Array.from(h));
  let logits: F64 | undefined;
  if (ctx.has('vocab_transform.weight')) {
    const n = ln(mapInPlace(proj(h, d, 'vocab_transform', d), act), 'vocab_layer_norm');
    logits = ctx.logits(n, d, ctx.opt('vocab_projector.weight') ?? E, ctx.t('vocab_projector.bias', [V]), V);
  }
  return { hooks: ctx.hooks, hiddenStates: ctx.hidden, logits };
}
