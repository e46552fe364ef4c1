/**
 * How a ModelSpec wires its pieces — embeddings, each block's norms / attention / MLP / residual, the final
 * norm — written once, over an abstract set of operations. The reverse-mode engine (./backprop.ts) runs it
 * with operations that compute whole batches and record their adjoints on a tape; the Fisher tail
 * (src/fisher/tail.ts) runs it with operations that carry one token's value plus tangent rows. So an
 * architecture's maths (which norm where, parallel or sequential residual, sandwich norms, gated MLP) exists
 * in one place, and each engine only implements the operations.
 */
import { AtlasError } from '../errors.ts';
import { W, type UnembedSpec, type BlockSpec, type ModelSpec, type NormSpec, type ActivationKind } from '../model/spec.ts';

export interface BlockOps<V> {
  /** A norm with canonical weight `w` (and bias `b` when the spec has one). */
  norm(n: NormSpec, w: string, b: string, x: V): V;
  /** y = x·Wᵀ + b with W canonical [out, in]; `b` is read only when `hasBias`. */
  linear(x: V, w: string, b: string, hasBias: boolean): Promise<V>;
  /** Attention of block `layer` from the q / k / v projections ([rows, nHead·hd], [rows, nKvHead·hd] ×2), before rotary. */
  attention(q: V, k: V, v: V, layer: number): Promise<V>;
  /** act(x) (plain MLP) or act(gate) ⊙ x (gated). */
  activation(kind: ActivationKind, x: V, gate: V | null): V | Promise<V>;
  add(a: V, b: V): V;
}

/** Attention sub-layer: projections, attention, output projection, Gemma-2's post-attention norm. */
async function attentionBranch<V>(o: BlockOps<V>, s: BlockSpec, l: number, x: V): Promise<V> {
  const n = W.block(l);
  const bias = s.attn.qkvBias;
  const q = await o.linear(x, n.Wq, n.bq, bias);
  const k = await o.linear(x, n.Wk, n.bk, bias);
  const v = await o.linear(x, n.Wv, n.bv, bias);
  const y = await o.linear(await o.attention(q, k, v, l), n.Wo, n.bo, s.attn.outBias);
  return s.ln1Post ? o.norm(s.ln1Post, n.ln1PostW, '', y) : y;
}

/** MLP sub-layer: W_out · act(W_in x) or W_out · (act(W_gate x) ⊙ W_in x), Gemma-2's post-MLP norm. */
async function mlpBranch<V>(o: BlockOps<V>, s: BlockSpec, l: number, x: V): Promise<V> {
  const n = W.block(l);
  const bias = s.mlp.bias;
  const up = await o.linear(x, n.Win, n.bin, bias);
  const gate = s.mlp.gated ? await o.linear(x, n.Wgate, n.bgate, bias) : null;
  const y = await o.linear(await o.activation(s.mlp.activation, up, gate), n.Wout, n.bout, bias);
  return s.ln2Post ? o.norm(s.ln2Post, n.ln2PostW, '', y) : y;
}

/** Block `l` (see BlockSpec.residual for the three wirings). */
export async function runBlock<V>(o: BlockOps<V>, spec: ModelSpec, l: number, x: V): Promise<V> {
  const s = spec.blocks[l];
  const n = W.block(l);
  switch (s.residual) {
    case 'pre': {
      const a = o.add(x, await attentionBranch(o, s, l, o.norm(s.ln1, n.ln1W, n.ln1B, x)));
      return o.add(a, await mlpBranch(o, s, l, o.norm(s.ln2!, n.ln2W, n.ln2B, a)));
    }
    case 'parallel': {
      const h1 = o.norm(s.ln1, n.ln1W, n.ln1B, x);
      const h2 = s.ln2 ? o.norm(s.ln2, n.ln2W, n.ln2B, x) : h1;
      const attn = await attentionBranch(o, s, l, h1);
      return o.add(o.add(x, attn), await mlpBranch(o, s, l, h2));
    }
    case 'post': {
      const a = o.norm(s.ln1, n.ln1W, n.ln1B, o.add(x, await attentionBranch(o, s, l, x)));
      return o.norm(s.ln2!, n.ln2W, n.ln2B, o.add(a, await mlpBranch(o, s, l, a)));
    }
  }
}

/** The final norm (identity when the spec has none). */
export function runFinalNorm<V>(o: BlockOps<V>, spec: ModelSpec, x: V): V {
  return spec.finalNorm ? o.norm(spec.finalNorm, W.finalNormW, W.finalNormB, x) : x;
}

/** The embedding norm (BERT / RoBERTa; identity otherwise). */
export function runEmbedNorm<V>(o: BlockOps<V>, spec: ModelSpec, x: V): V {
  return spec.embed.norm ? o.norm(spec.embed.norm, W.embedNormW, W.embedNormB, x) : x;
}

/** The spec's LM head; encoders loaded without one get one clear error (`what`: what needed the head). */
export function requireLmHead(spec: ModelSpec, what: string): UnembedSpec {
  if (!spec.unembed) throw new AtlasError(`${what} needs a causal language-model head, and this ${spec.modelType} checkpoint is an encoder without one`, { field: 'model', hint: 'use a causal language model (gpt2, llama, …)' });
  return spec.unembed;
}
