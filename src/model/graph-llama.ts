/**
 * Llama-family forward graph (Llama, Mistral, Qwen2, SmolLM; Hugging Face LlamaModel semantics):
 *   a = x + o_proj(attn(rope(q_proj(n1)), rope(k_proj(n1)), v_proj(n1))),  n1 = RMSNorm(x)
 *   x' = a + down_proj(act(gate_proj(n2)) * up_proj(n2)),                   n2 = RMSNorm(a)
 * RMSNorm(x) = x * rsqrt(mean(x²) + eps) * w in float32; rotary embeddings in HF's rotate_half convention
 * (dimension e pairs with e + head_dim/2, NOT interleaved) with angle pos * rope_theta^(-2e/head_dim);
 * grouped-query attention (query head h reads kv head floor(h / (n_head/n_kv_head))); scale 1/sqrt(head_dim);
 * nn.Linear weights [out, in]: y = x Wᵀ + b. q/k/v biases when config.qkvBias (Qwen2), o_proj bias when
 * config.attnOutBias, MLP biases when config.mlpBias.
 *
 * Hidden states follow `output_hidden_states=True`: hidden[0] = embed_tokens(ids), hidden[i] = output of
 * decoder layer i for i < n_layer, hidden[n_layer] = norm(output of the last layer) (transformers'
 * LlamaModel applies `self.norm` before appending the last hidden state).
 */
import { ForwardGraphContext, INPUT_IDS, type ForwardGraph, type OutputSelection, type WeightSource } from './graph-common.ts';

export function buildLlamaGraph(src: WeightSource, sel: OutputSelection): ForwardGraph {
  const ctx = new ForwardGraphContext(src, `llama_${sel.mlp ? 'mlp' : 'h'}_${sel.logits}`);
  const { g, cfg } = ctx;
  const d = cfg.dModel, dFF = cfg.dFF, L = cfg.nLayer, H = cfg.nHead, KV = cfg.nKvHead, hd = cfg.headDim;
  const rmsNorm = (x: string, name: string): string =>
    // onnxruntime's SimplifiedLayerNormalization = x / sqrt(mean(x²) + eps) * scale, computed in float32.
    g.node('SimplifiedLayerNormalization', [x, ctx.weight(name, [d])], 1, { axis: -1, epsilon: { f: cfg.normEps } });
  const optBias = (on: boolean, name: string, n: number): string | undefined => (on ? ctx.weight(name, [n]) : undefined);

  // Rotary tables [B, T, 1, hd] from the position ids, computed once per forward: angle = pos * inv_freq
  // in float32 as HF does (inv_freq itself computed in float64 and rounded).
  const half = hd / 2;
  const invFreq = Float32Array.from({ length: half }, (_, e) => Math.pow(cfg.ropeTheta, (-2 * e) / hd));
  const pos = g.node('Unsqueeze', [g.node('Cast', [ctx.positions], 1, { to: 1 }), g.constI64([2])]); // [B,T,1]
  const freqs = g.node('Mul', [pos, ctx.constant(invFreq, [half], 'inv_freq')]); // [B,T,half]
  const cosHalf = g.node('Cos', [freqs]);
  const sinHalf = g.node('Sin', [freqs]);
  const toHeads = (t: string): string => g.node('Unsqueeze', [t, g.constI64([2])]);
  const cos = toHeads(g.node('Concat', [cosHalf, cosHalf], 1, { axis: -1 }));
  // rotate_half(x) * sin = concat(-x2, x1) * concat(sin, sin) = concat(x2, x1) * concat(-sin, sin)
  const sinSigned = toHeads(g.node('Concat', [g.node('Neg', [sinHalf]), sinHalf], 1, { axis: -1 }));
  const rope = (x4: string): string => {
    const [x1, x2] = g.nodeMulti('Split', [x4, g.constI64([half, half])], 2, { axis: -1 });
    const swapped = g.node('Concat', [x2!, x1!], 1, { axis: -1 });
    return g.node('Add', [g.node('Mul', [x4, cos]), g.node('Mul', [swapped, sinSigned])]);
  };

  const emb = g.node('Gather', [ctx.weight('embed_tokens.weight', [cfg.vocabSize, d]), INPUT_IDS]);
  let h = g.node('Reshape', [emb, ctx.dims([-1, d])]);
  const hidden = [ctx.outputBTD(h, 'hidden_0', d)];
  const mlp: string[] = [];

  for (let l = 0; l < L; l++) {
    const p = `layers.${l}`;
    const a = `${p}.self_attn`;
    const x = rmsNorm(h, `${p}.input_layernorm.weight`);
    // q, k, v as ONE Gemm: their [out, in] weights stacked along out (a plain concatenation, row-major).
    const qkvW = ctx.concatRows(
      [`${a}.q_proj.weight`, `${a}.k_proj.weight`, `${a}.v_proj.weight`],
      [[H * hd, d], [KV * hd, d], [KV * hd, d]],
    );
    const qkvB = cfg.qkvBias
      ? ctx.concatRows([`${a}.q_proj.bias`, `${a}.k_proj.bias`, `${a}.v_proj.bias`], [[H * hd], [KV * hd], [KV * hd]])
      : undefined;
    const qkv = ctx.linear(
      x,
      ctx.constant(qkvW.data, [qkvW.rows, d], `${a}.qkv_proj.weight`),
      qkvB && ctx.constant(qkvB.data, [qkvB.rows], `${a}.qkv_proj.bias`),
      true,
    );
    const [q, k, v] = ctx.splitCols(qkv, [H * hd, KV * hd, KV * hd]);
    const q4 = rope(g.node('Reshape', [q!, ctx.dims(['B', 'T', H, hd])]));
    const k4 = rope(g.node('Reshape', [k!, ctx.dims(['B', 'T', KV, hd])]));
    const v4 = g.node('Reshape', [v!, ctx.dims(['B', 'T', KV, hd])]);
    const att = ctx.attention(q4, k4, v4, H, KV, hd);
    const o = ctx.linear(att, ctx.weight(`${a}.o_proj.weight`, [d, H * hd]), optBias(cfg.attnOutBias, `${a}.o_proj.bias`, d), true);
    h = g.node('Add', [h, o]);

    const x2 = rmsNorm(h, `${p}.post_attention_layernorm.weight`);
    const guW = ctx.concatRows([`${p}.mlp.gate_proj.weight`, `${p}.mlp.up_proj.weight`], [[dFF, d], [dFF, d]]);
    const guB = cfg.mlpBias ? ctx.concatRows([`${p}.mlp.gate_proj.bias`, `${p}.mlp.up_proj.bias`], [[dFF], [dFF]]) : undefined;
    const gu = ctx.linear(
      x2,
      ctx.constant(guW.data, [2 * dFF, d], `${p}.mlp.gate_up_proj.weight`),
      guB && ctx.constant(guB.data, [2 * dFF], `${p}.mlp.gate_up_proj.bias`),
      true,
    );
    const [gate, up] = ctx.splitCols(gu, [dFF, dFF]);
    const act = g.node('Mul', [ctx.activation(gate!, cfg.activation), up!]);
    if (sel.mlp) mlp.push(ctx.outputBTD(act, `mlp_${l}`, dFF));
    const down = ctx.linear(act, ctx.weight(`${p}.mlp.down_proj.weight`, [d, dFF]), optBias(cfg.mlpBias, `${p}.mlp.down_proj.bias`, d), true);
    h = g.node('Add', [h, down]);
    if (l < L - 1) hidden.push(ctx.outputBTD(h, `hidden_${l + 1}`, d));
  }
  const final = rmsNorm(h, 'norm.weight');
  hidden.push(ctx.outputBTD(final, `hidden_${L}`, d));
  const logits = sel.logits === 'none' ? undefined : ctx.logits(final, ctx.weight('lm_head.weight', [cfg.vocabSize, d]), sel.logits);
  return { graph: g, hidden, mlp, logits };
}
