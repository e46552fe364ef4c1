/**
 * File names and layout of the logit lens stored beside extracted activations (`extract --lens`), shared by the
 * writer (src/data/extract.ts) and every reader (map --align bundles, the explorer): one description, no second
 * spelling of a name.
 *
 * Stored in the activation cache entry folder (next to layer-<L>.npy and meta.json), one row per text:
 *   lens-entropy.npy    float32 (rows, L)     entropy in nats of softmax(unembed(final_norm(h_ℓ)))
 *   lens-rank.npy       int32   (rows, L)     rank (0 = top) at layer ℓ of the model's own final top-1 token
 *   lens-top-ids.npy    int32   (rows, L, K)  the K most probable token ids at layer ℓ, most probable first
 *   lens-top-probs.npy  float32 (rows, L, K)  their probabilities
 *   lens.json           {version, layers: number[], k, position: 'final'|…, tokens: {id: text} for every id used}
 * Layer ℓ follows the cache's layer numbering (HF hidden_states index: 0 = embeddings, L = last block after the
 * final norm, where the lens equals the model's logits).
 */
export const LENS_FILES = {
  entropy: 'lens-entropy.npy',
  rank: 'lens-rank.npy',
  topIds: 'lens-top-ids.npy',
  topProbs: 'lens-top-probs.npy',
  meta: 'lens.json',
  version: 1,
} as const;

export interface LensMeta {
  version: number;
  layers: number[];
  k: number;
  /** Which token position of each text was decoded (the aggregation's position: 'final' by default). */
  position: string;
  /** Decoded text of every token id that appears in lens-top-ids.npy. */
  tokens: Record<string, string>;
}
