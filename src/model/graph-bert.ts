/**
 * BERT / DistilBERT encoder forward graph (Hugging Face BertModel / DistilBertModel semantics):
 *   e = LayerNorm(word[ids] + position[pos] + token_type[0])
 *   a = LayerNorm(x + attention.output.dense(attn(query(x), key(x), value(x))))      (post-LN)
 *   x' = LayerNorm(a + output.dense(act(intermediate.dense(a))))
 * with act = exact (erf) GELU unless the config says otherwise, LayerNorm eps from the config (1e-12 by
 * default), attention scale 1/sqrt(head_dim), bidirectional attention where padded KEYS are masked out.
 * nn.Linear weights [out, in]: y = x Wᵀ + b. Token types are all 0 (single-segment input).
 *
 * Hidden states follow `output_hidden_states=True`: hidden[0] = embeddings output (after the embeddings
 * LayerNorm), hidden[i] = output of layer i; there is no final norm (BERT has none).
 *
 * Positions: cumsum(attention_mask) - 1 (graph-common.ts). HF BERT uses arange(T); the two coincide for
 * unpadded and right-padded input (BERT tokenizers pad on the right), and ours also makes left padding give
 * the same states. Padded query rows still see every real key, so they stay finite (and are meaningless).
 */
import { AtlasError } from '../errors.ts';
import { ATTENTION_MASK, ForwardGraphContext, INPUT_IDS, type ForwardGraph, type OutputSelection, type WeightSource } from './graph-common.ts';

/** Additive score for a padded key: exp(score - 1e9) underflows to exactly 0 in float32. */
const MASKED = -1e9;

/**
 * `fusedAttention` (default true): q/k/v projection and key-padding-masked softmax attention in one onnxruntime
 * com.microsoft Attention node (unidirectional=0, mask_index = the 2-D attention mask); false: the same maths
 * from plain ONNX ops. Both are tested against the float64 reference.
 */
export function buildBertGraph(src: WeightSource, sel: OutputSelection, { fusedAttention = true } = {}): ForwardGraph {
  if (sel.logits !== 'none') {
    throw new AtlasError('logits are not available for BERT encoders (the runtime loads the bare encoder, without a masked-LM head)', { field: 'logits' });
  }
  const ctx = new ForwardGraphContext(src, `bert_${sel.mlp ? 'mlp' : 'h'}`);
  const { g, cfg } = ctx;
  const d = cfg.dModel, dFF = cfg.dFF, L = cfg.nLayer, H = cfg.nHead, hd = cfg.headDim;
  const layerNorm = (x: string, prefix: string): string =>
    g.node('LayerNormalization', [x, ctx.weight(`${prefix}.weight`, [d]), ctx.weight(`${prefix}.bias`, [d])], 1, {
      axis: -1,
      epsilon: { f: cfg.normEps },
    });
  const dense = (x: string, prefix: string, out: number, inp: number): string =>
    ctx.linear(x, ctx.weight(`${prefix}.weight`, [out, inp]), ctx.weight(`${prefix}.bias`, [out]), true);

  const word = ctx.weight('embeddings.word_embeddings.weight', [cfg.vocabSize, d]);
  const pos = ctx.weight('embeddings.position_embeddings.weight', [cfg.maxPositions, d]);
  let emb = g.node('Add', [g.node('Gather', [word, INPUT_IDS]), g.node('Gather', [pos, ctx.positions])]);
  const types = cfg.typeVocabSize ?? 0;
  if (types > 0) {
    // Token type 0 for every position: add row 0 of the table (a [d] constant, broadcast).
    const table = src.tensor('embeddings.token_type_embeddings.weight', [types, d]);
    if (table.shape[0] !== types || table.shape[1] !== d) {
      throw new AtlasError(`has shape [${table.shape}] but the config implies [${types},${d}]`, { field: 'embeddings.token_type_embeddings.weight' });
    }
    emb = g.node('Add', [emb, ctx.constant(table.data.slice(0, d), [d], 'token_type_0')]);
  }
  let h = layerNorm(g.node('Reshape', [emb, ctx.dims([-1, d])]), 'embeddings.LayerNorm');
  const hidden = [ctx.outputBTD(h, 'hidden_0', d)];
  const mlp: string[] = [];

  // Key-padding bias [B, 1, 1, T] for the plain-ops path.
  let keyBias: string | undefined;
  const plainAttention = (q: string, k: string, v: string): string => {
    keyBias ??= g.node('Unsqueeze', [
      g.node('Where', [g.node('Cast', [ATTENTION_MASK], 1, { to: 9 /* bool */ }), g.constF32(0), g.constF32(MASKED)]),
      g.constI64([1, 2]),
    ]);
    const heads = (t: string, perm: number[]): string => g.node('Transpose', [g.node('Reshape', [t, ctx.dims(['B', 'T', H, hd])])], 1, { perm });
    const q4 = heads(g.node('Mul', [q, g.constF32(1 / Math.sqrt(hd))]), [0, 2, 1, 3]); // [B,H,T,hd]
    const kT = heads(k, [0, 2, 3, 1]); // [B,H,hd,T]
    const v4 = heads(v, [0, 2, 1, 3]);
    const probs = g.node('Softmax', [g.node('Add', [g.node('MatMul', [q4, kT]), keyBias])], 1, { axis: -1 });
    const o = g.node('Transpose', [g.node('MatMul', [probs, v4])], 1, { perm: [0, 2, 1, 3] });
    return g.node('Reshape', [o, ctx.dims([-1, d])]);
  };

  for (let l = 0; l < L; l++) {
    const p = `encoder.layer.${l}`;
    const names = ['query', 'key', 'value'].map((n) => `${p}.attention.self.${n}`);
    let att: string;
    if (fusedAttention) {
      // The fused op wants W as [in, 3*out]: transpose each [out, in] nn.Linear weight and put them side by side.
      const w = new Float32Array(d * 3 * d);
      names.forEach((n, part) => {
        const t = src.tensor(`${n}.weight`, [d, d]);
        if (t.shape[0] !== d || t.shape[1] !== d) throw new AtlasError(`has shape [${t.shape}] but the config implies [${d},${d}]`, { field: `${n}.weight` });
        for (let o = 0; o < d; o++) for (let i = 0; i < d; i++) w[i * 3 * d + part * d + o] = t.data[o * d + i]!;
      });
      const b = ctx.concatRows(names.map((n) => `${n}.bias`), [[d], [d], [d]]);
      const x3 = g.node('Reshape', [h, ctx.dims(['B', 'T', d])]);
      const a3 = g.node(
        'Attention',
        [x3, ctx.constant(w, [d, 3 * d], `${p}.attention.qkv.weight`), ctx.constant(b.data, [3 * d], `${p}.attention.qkv.bias`), ctx.maskInt32()],
        1,
        { num_heads: H, unidirectional: 0 },
        'com.microsoft',
      );
      att = g.node('Reshape', [a3, ctx.dims([-1, d])]);
    } else {
      const [q, k, v] = names.map((n) => dense(h, n, d, d));
      att = plainAttention(q!, k!, v!);
    }
    const a = layerNorm(g.node('Add', [h, dense(att, `${p}.attention.output.dense`, d, d)]), `${p}.attention.output.LayerNorm`);
    const act = ctx.activation(dense(a, `${p}.intermediate.dense`, dFF, d), cfg.activation);
    if (sel.mlp) mlp.push(ctx.outputBTD(act, `mlp_${l}`, dFF));
    h = layerNorm(g.node('Add', [a, dense(act, `${p}.output.dense`, d, dFF)]), `${p}.output.LayerNorm`);
    hidden.push(ctx.outputBTD(h, `hidden_${l + 1}`, d));
  }
  return { graph: g, hidden, mlp };
}
