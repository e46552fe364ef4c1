/**
 * Gemma (transformers models/gemma/modeling_gemma.py), float64. Llama's block with:
 * - GemmaRMSNorm: x / √(mean x² + eps) · (1 + w)  (the stored w is an offset from 1);
 * - embeddings multiplied by √hidden_size, rounded to the activation dtype (float32 here, as HF does for an
 *   fp32 model: `torch.tensor(hidden_size**0.5, dtype=hidden_states.dtype)`);
 * - head_dim from the config (independent of hidden/heads), MQA/GQA, rotate_half rotary, scale head_dim^-½;
 * - MLP down(gelu_tanh(gate(x)) ⊙ up(x)) with `hidden_activation` (older files: `hidden_act`);
 * - tied unembedding (tie_word_embeddings defaults to true).
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, applyRotary, attention, lastRow, linear, rmsNorm, ropeInvFreq, type F64 } from './math.ts';

export function gemmaForward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_attention_heads'), L = ctx.c<number>('num_hidden_layers');
  const KV = ctx.c<number>('num_key_value_heads', H), f = ctx.c<number>('intermediate_size'), V = ctx.c<number>('vocab_size');
  const hd = ctx.c<number>('head_dim', 256);
  const eps = ctx.c<number>('rms_norm_eps', 1e-6);
  const { invFreq, attentionFactor } = ropeInvFreq(hd, ctx.c<number>('rope_theta', 10000), ctx.config.rope_scaling as never,
    ctx.c<number>('max_position_embeddings', 8192), Math.max(...ctx.positions));
  const act = activation(ctx.c<string>('hidden_activation', ctx.c<string>('hidden_act', 'gelu_pytorch_tanh')));
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
      v: Vv, scale: 1 / Math.sqrt(hd), causal: true, mask: ctx.mask,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = proj(att.out, H * hd, `${q}.self_attn.o_proj`, d);
    ctx.rec('attn_out', l, attnOut);
    h = add(h, attnOut);
    ctx.rec('resid_mid', l, h);
    const x2 = norm(h, `${q}.post_attention_layernorm`);
    const gate = proj(x2, d, `${q}.mlp.gate_proj`, f), up = proj(x2, d, `${q}.mlp.up_proj`, f);
    const a = gate.map((g, i) => act(g) * up[i]!);
    ctx.rec('mlp_post', l, a);
    const mlpOut = proj(a, f, `${q}.mlp.down_proj`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = add(h, mlpOut);
    ctx.rec('resid_post', l, h);
  }
  const final = norm(h, `${p}norm`);
  const Wu = ctx.head('lm_head.weight', E, true);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined);
}
