/**
 * BERT and RoBERTa encoders (transformers models/bert/modeling_bert.py; modeling_roberta.py copies its encoder),
 * float64, eager attention:
 * - embeddings = LayerNorm(word[id] + position[pos] + token_type[0]); BERT pos = the project's mask-derived
 *   position (cumsum(mask) − 1, clamped at 0); RoBERTa pos = that + padding_idx + 1 (HF's
 *   create_position_ids_from_input_ids gives padding_idx + cumsum at real tokens);
 * - post-LN blocks: a = LayerNorm(x + dense(attn(x))), out = LayerNorm(a + output.dense(act(intermediate.dense(a))));
 * - bidirectional attention; padded KEYS masked; scores / √head_dim;
 * - hidden_states: the embedding output, then every layer's output (no final norm).
 * - MLM logits when the head is stored: BERT cls.predictions (dense → hidden_act → LayerNorm → Eᵀ + bias),
 *   RoBERTa lm_head (dense → exact gelu → layer_norm → Eᵀ + bias).
 * Hooks of a post-LN block: resid_pre = x, attn_out = attention output projection, resid_mid = x + attn_out,
 * ln1 = LayerNorm(resid_mid) (TransformerLens BertBlock naming), mlp_post, mlp_out, resid_post; no 'final'.
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, attention, lastRow, layerNorm, linear, mapInPlace, type F64 } from './math.ts';

export function bertForward(ctx: RefContext): HfReferenceOutput {
  const roberta = ctx.family === 'roberta';
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_attention_heads'), L = ctx.c<number>('num_hidden_layers');
  const f = ctx.c<number>('intermediate_size'), V = ctx.c<number>('vocab_size'), hd = d / H;
  const eps = ctx.c<number>('layer_norm_eps', 1e-12);
  const act = activation(ctx.c<string>('hidden_act', 'gelu'));
  const offset = roberta ? ctx.c<number>('pad_token_id', 1) + 1 : 0;
  if (ctx.c<string>('position_embedding_type', 'absolute') !== 'absolute') throw new Error('reference bert: only absolute positions');
  const p = ctx.prefix(`${ctx.family}.`);
  const ln = (x: F64, name: string): F64 => layerNorm(x, d, ctx.t(`${name}.weight`, [d]), ctx.opt(`${name}.bias`), eps);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}embeddings.word_embeddings.weight`, [V, d]);
  const types = ctx.opt(`${p}embeddings.token_type_embeddings.weight`);
  let h: F64 = add(ctx.gather(E, d, ctx.tokenRow), ctx.gather(ctx.t(`${p}embeddings.position_embeddings.weight`), d, (n) => ctx.positions[n]! + offset));
  if (types) h = add(h, ctx.gather(types, d, () => 0));
  h = ln(h, `${p}embeddings.LayerNorm`);
  for (let l = 0; l < L; l++) {
    const q = `${p}encoder.layer.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const s = `${q}.attention.self`;
    const Vv = proj(h, d, `${s}.value`, d);
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: H, headDim: hd, q: proj(h, d, `${s}.query`, d), k: proj(h, d, `${s}.key`, d), v: Vv,
      scale: 1 / Math.sqrt(hd), causal: false, mask: ctx.mask,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = proj(att.out, d, `${q}.attention.output.dense`, d);
    ctx.rec('attn_out', l, attnOut);
    const mid = add(h, attnOut);
    ctx.rec('resid_mid', l, mid);
    const a = ln(mid, `${q}.attention.output.LayerNorm`);
    ctx.rec('ln1', l, a);
    const m = mapInPlace(proj(a, d, `${q}.intermediate.dense`, f), act);
    ctx.rec('mlp_post', l, m);
    const mlpOut = proj(m, f, `${q}.output.dense`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = ln(add(a, mlpOut), `${q}.output.LayerNorm`);
    ctx.rec('resid_post', l, h);
  }
  ctx.hidden.push(Float64Array.from(h));
  let logits: F64 | undefined;
  const head = roberta ? 'lm_head' : 'cls.predictions';
  if (ctx.has(roberta ? 'lm_head.dense.weight' : 'cls.predictions.transform.dense.weight')) {
    const t = roberta ? head : `${head}.transform`;
    const z = mapInPlace(proj(h, d, `${t}.dense`, d), roberta ? activation('gelu') : act);
    const n = ln(z, roberta ? `${t}.layer_norm` : `${t}.LayerNorm`);
    logits = ctx.logits(n, d, ctx.opt(`${head}.decoder.weight`) ?? E, ctx.t(`${head}.bias`, [V]), V);
  }
  return { hooks: ctx.hooks, hiddenStates: ctx.hidden, logits };
}
