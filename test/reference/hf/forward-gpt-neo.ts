/**
 * GPT-Neo (transformers models/gpt_neo/modeling_gpt_neo.py), float64. GPT-2's pre-LN block with:
 * - nn.Linear layers ([out, in]); q/k/v_proj without bias, out_proj with bias;
 * - NO score scaling (q·k as is);
 * - per-layer attention_layers 'global' | 'local'; local = causal AND i − j < window_size;
 * - learned positions wpe (no offset), tied lm_head by default.
 */
import { RefContext, type HfReferenceOutput } from './common.ts';
import { activation, add, attention, lastRow, layerNorm, linear, mapInPlace, type F64 } from './math.ts';

export function gptNeoForward(ctx: RefContext): HfReferenceOutput {
  const d = ctx.c<number>('hidden_size'), H = ctx.c<number>('num_heads'), L = ctx.c<number>('num_layers'), V = ctx.c<number>('vocab_size');
  const f = ctx.c<number>('intermediate_size', 4 * d), hd = d / H;
  const eps = ctx.c<number>('layer_norm_epsilon', 1e-5);
  const act = activation(ctx.c<string>('activation_function', 'gelu_new'));
  let layers = ctx.config.attention_layers as string[] | undefined;
  if (!layers) {
    layers = [];
    for (const [kinds, n] of ctx.c<[string[], number][]>('attention_types')) for (let i = 0; i < n; i++) layers.push(...kinds);
  }
  const windowSize = ctx.c<number>('window_size', 256);
  const p = ctx.prefix('transformer.');
  const ln = (x: F64, name: string): F64 => layerNorm(x, d, ctx.t(`${name}.weight`, [d]), ctx.opt(`${name}.bias`), eps);
  const proj = (x: F64, inDim: number, name: string, out: number): F64 => linear(x, inDim, ctx.t(`${name}.weight`, [out, inDim]), ctx.opt(`${name}.bias`), out);

  const E = ctx.t(`${p}wte.weight`, [V, d]);
  const P = ctx.t(`${p}wpe.weight`);
  let h: F64 = add(ctx.gather(E, d, ctx.tokenRow), ctx.gather(P, d, (n) => ctx.positions[n]!));
  for (let l = 0; l < L; l++) {
    const q = `${p}h.${l}`;
    ctx.hidden.push(Float64Array.from(h));
    ctx.rec('resid_pre', l, h);
    const x = ln(h, `${q}.ln_1`);
    ctx.rec('ln1', l, x);
    const at = `${q}.attn.attention`;
    const Q = proj(x, d, `${at}.q_proj`, d), K = proj(x, d, `${at}.k_proj`, d), Vv = proj(x, d, `${at}.v_proj`, d);
    ctx.rec('attn_v', l, Vv);
    const att = attention({
      B: ctx.B, T: ctx.T, nHead: H, nKv: H, headDim: hd, q: Q, k: K, v: Vv, scale: 1, causal: true, mask: ctx.mask,
      window: layers[l] === 'local' ? windowSize : undefined,
    });
    ctx.rec('attn_pattern', l, att.pattern);
    ctx.rec('attn_pattern_last', l, lastRow(att.pattern, ctx.mask, H, ctx.T));
    const attnOut = proj(att.out, d, `${at}.out_proj`, d);
    ctx.rec('attn_out', l, attnOut);
    h = add(h, attnOut);
    ctx.rec('resid_mid', l, h);
    const a = mapInPlace(proj(ln(h, `${q}.ln_2`), d, `${q}.mlp.c_fc`, f), act);
    ctx.rec('mlp_post', l, a);
    const mlpOut = proj(a, f, `${q}.mlp.c_proj`, d);
    ctx.rec('mlp_out', l, mlpOut);
    h = add(h, mlpOut);
    ctx.rec('resid_post', l, h);
  }
  const final = ln(h, `${p}ln_f`);
  const Wu = ctx.head('lm_head.weight', E, true);
  return ctx.decoderOutput(final, Wu ? ctx.logits(final, d, Wu, undefined, V) : undefined);
}
