/**
 * Llama / Mistral / Qwen2 (transformers models/{llama,mistral,qwen2}/modeling_*.py), float64.
 * - embed_tokens, no positions; RMSNorm w · x / √(mean x² + eps);
 * - q/k/v/o projections, GQA via repeat_kv; head_dim from config (or hidden/heads); rotate_half rotary on the
 *   full head with partial_rotary_factor (default 1), rope_theta and rope_scaling (linear, dynamic, llama3);
 * - biases: Qwen2 always has q/k/v biases and no o bias; Llama has them all iff attention_bias; mlp_bias for the MLP;
 * - sliding window: Mistral's `sliding_window` on every layer; Qwen2 only with use_sliding_window, on layers
 *   ≥ max_window_layers (its `layer_types`); key j visible to query i iff i − j < window;
 * - mlp = down(act(gate(x)) ⊙ up(x)); final norm; lm_head or the tied embedding.
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, applyRotary, attention, lastRow, linear, rmsNorm, ropeInvFreq, type F64 } from './math.ts';

export function llamaForward(ctx: RefContext): HfReferenceOutput {
  const fam = ctx.family;
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_attention_heads'), L = ctx.c<number>('num_hidden_layers');
  const KV = ctx.c<number>('num_key_value_heads', H), f = ctx.c<number>('intermediate_size'), V = ctx.c<number>('vocab_size');
  const hd = ctx.c<number>('head_dim', d / H);
  const eps = ctx.c<number>('rms_norm_eps', 1e-6);
  const dims = Math.floor(hd * ctx.c<number>('partial_rotary_factor', 1));
  const { invFreq, attentionFactor } = ropeInvFreq(dims, ctx.c<number>('rope_theta', 10000), ctx.config.rope_scaling as never,
    ctx.c<number>('max_position_embeddings', 2048), Math.max(...ctx.positions));
  const act = activation(ctx.c<string>('hidden_act', 'silu'));
  const window = (l: number): number | undefined => {
    if (fam === 'mistral') return (ctx.config.sliding_window as number | null | undefined) ?? undefined;
    if (fam === 'qwen2') {
      if (!ctx.c<boolean>('use_sliding_window', false)) return undefined;
      const types = ctx.config.layer_types as string[] | undefined;
      const sliding = types ? types[l] === 'sliding_attention' : l >= ctx.c<number>('max_window_layers', 28);
      return sliding ? ctx.c<number>('sliding_window') : undefined;
    }
    return undefined;
  };
  const p = ctx.prefix('model.');
  const norm = (x: F64, name: string): F64 => rmsNorm(x, d, ctx.t(`${name}.weight`, [d]), eps);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}embed_tokens.weight`, [V, d]);
  let h: F64 = ctx.gather(E, d, ctx.tokenRow);
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
      q: applyRotary(Q, H, hd, ctx.positions, dims, invFreq, 'half', attentionFactor),
      k: applyRotary(K, KV, hd, ctx.positions, dims, invFreq, 'half', attentionFactor),
      v: Vv, scale: 1 / Math.sqrt(hd), causal: true, window: window(l), mask: ctx.mask,
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
  const Wu = ctx.head('lm_head.weight', E, false);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined);
}
