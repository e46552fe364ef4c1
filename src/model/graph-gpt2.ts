/**
 * GPT-2 forward graph (Hugging Face GPT2Model semantics): learned token + position embeddings, pre-LN blocks
 *   a = x + c_proj(attn(ln_1(x))),  x' = a + mlp.c_proj(act(mlp.c_fc(ln_2(a))))
 * with act = gelu_new (tanh approximation) unless the config says otherwise, LayerNorm eps from the config,
 * attention scale 1/sqrt(head_dim), causal mask. Conv1D weights are [in, out]: y = x W + b.
 *
 * Hidden states follow `output_hidden_states=True` exactly: hidden[0] = wte(ids) + wpe(pos), hidden[i] = output
 * of block i for i < n_layer, and hidden[n_layer] = ln_f(output of the last block). (In transformers'
 * GPT2Model.forward, `hidden_states = self.ln_f(hidden_states)` runs before the "Add last hidden state" append,
 * so the last element is the normalised one; the un-normalised output of the last block is not returned.)
 */
import { ForwardGraphContext, INPUT_IDS, type ForwardGraph, type OutputSelection, type WeightSource } from './graph-common.ts';

/**
 * `fusedAttention` (default true): q/k/v projection, causal + key-padding masked softmax attention in one
 * onnxruntime com.microsoft Attention node (mask_index = the 2-D attention mask, unidirectional=1, masked
 * scores get -10000 before softmax, which underflows to exactly 0); false: the same maths from plain ONNX ops
 * (graph-common.ts `attention`). Both are tested against the float64 reference.
 */
export function buildGpt2Graph(src: WeightSource, sel: OutputSelection, { fusedAttention = true } = {}): ForwardGraph {
  const ctx = new ForwardGraphContext(src, `gpt2_${sel.mlp ? 'mlp' : 'h'}_${sel.logits}`);
  const { g, cfg } = ctx;
  const d = cfg.dModel, dFF = cfg.dFF, L = cfg.nLayer, H = cfg.nHead, hd = cfg.headDim;
  const layerNorm = (x: string, prefix: string): string =>
    g.node('LayerNormalization', [x, ctx.weight(`${prefix}.weight`, [d]), ctx.weight(`${prefix}.bias`, [d])], 1, {
      axis: -1,
      epsilon: { f: cfg.normEps },
    });

  const wte = ctx.weight('wte.weight', [cfg.vocabSize, d]);
  const wpe = ctx.weight('wpe.weight', [cfg.maxPositions, d]);
  const emb = g.node('Add', [g.node('Gather', [wte, INPUT_IDS]), g.node('Gather', [wpe, ctx.positions])]);
  let h = g.node('Reshape', [emb, ctx.dims([-1, d])]);
  const hidden = [ctx.outputBTD(h, 'hidden_0', d)];
  const mlp: string[] = [];

  for (let l = 0; l < L; l++) {
    const p = `h.${l}`;
    const x = layerNorm(h, `${p}.ln_1`);
    const wqkv = ctx.weight(`${p}.attn.c_attn.weight`, [d, 3 * d]);
    const bqkv = ctx.weight(`${p}.attn.c_attn.bias`, [3 * d]);
    let att: string;
    if (fusedAttention) {
      const x3 = g.node('Reshape', [x, ctx.dims(['B', 'T', d])]);
      const a3 = g.node('Attention', [x3, wqkv, bqkv, ctx.maskInt32()], 1, { num_heads: H, unidirectional: 1 }, 'com.microsoft');
      att = g.node('Reshape', [a3, ctx.dims([-1, d])]);
    } else {
      const qkv = ctx.linear(x, wqkv, bqkv, false);
      const [q, k, v] = ctx.splitCols(qkv, [d, d, d]).map((t) => g.node('Reshape', [t, ctx.dims(['B', 'T', H, hd])]));
      att = ctx.attention(q!, k!, v!, H, H, hd);
    }
    h = g.node('Add', [h, ctx.linear(att, ctx.weight(`${p}.attn.c_proj.weight`, [d, d]), ctx.weight(`${p}.attn.c_proj.bias`, [d]), false)]);
    const x2 = layerNorm(h, `${p}.ln_2`);
    const f = ctx.linear(x2, ctx.weight(`${p}.mlp.c_fc.weight`, [d, dFF]), ctx.weight(`${p}.mlp.c_fc.bias`, [dFF]), false);
    const act = ctx.activation(f, cfg.activation);
    if (sel.mlp) mlp.push(ctx.outputBTD(act, `mlp_${l}`, dFF));
    h = g.node('Add', [h, ctx.linear(act, ctx.weight(`${p}.mlp.c_proj.weight`, [dFF, d]), ctx.weight(`${p}.mlp.c_proj.bias`, [d]), false)]);
    if (l < L - 1) hidden.push(ctx.outputBTD(h, `hidden_${l + 1}`, d));
  }
  const final = layerNorm(h, 'ln_f');
  hidden.push(ctx.outputBTD(final, `hidden_${L}`, d));
  const logits = sel.logits === 'none' ? undefined : ctx.logits(final, ctx.weight('lm_head.weight', [cfg.vocabSize, d]), sel.logits);
  return { graph: g, hidden, mlp, logits };
}
