/**
 * Training a GPT-2 with its full 50,257-token vocabulary on a 1M-token corpus spends most of its time in the
 * LM head and softmax, over tokens the corpus never (or almost never) uses. A compact vocabulary keeps the
 * `maxActive` most frequent tokens as their own rows and maps every other token to ONE shared "rare" row.
 *
 * This is exact, not an approximation: the exported full-vocabulary model gives every rare token a copy of
 * the shared row, so its K rare logits are equal and its softmax normaliser is Σ_active e^z + K·e^z_rare. The
 * compact model reproduces that by adding log K to the rare logit inside the softmax (see
 * compactCrossEntropy): its loss equals the full model's loss for every text, rare tokens included.
 */
export interface CompactVocab {
  /** Size of the real (tokenizer's) vocabulary. */
  fullSize: number;
  /** Full id of each compact row < rare (ascending full ids). */
  active: Int32Array;
  /** Full id → compact id (rare tokens → `rare`). */
  toCompact: Int32Array;
  /** Compact id of the shared rare row (= active.length), or -1 when every token is active. */
  rare: number;
  /** Number of full-vocabulary tokens sharing the rare row. */
  rareCount: number;
  /** Rows of the compact embedding: active.length (+1 with a rare row). */
  size: number;
}

/**
 * Keeps the `maxActive` most frequent tokens of `counts` (ties broken by smaller id) plus every id in
 * `always` (e.g. the end-of-text token used as document separator).
 */
export function buildCompactVocab(counts: ArrayLike<number>, maxActive: number, always: number[] = []): CompactVocab {
  const fullSize = counts.length;
  const order = Array.from({ length: fullSize }, (_, i) => i).filter((i) => counts[i] > 0);
  order.sort((a, b) => counts[b] - counts[a] || a - b);
  const keep = new Set<number>(always);
  for (const id of order) {
    if (keep.size >= maxActive) break;
    keep.add(id);
  }
  const active = Int32Array.from([...keep].sort((a, b) => a - b));
  const rareCount = fullSize - active.length;
  const rare = rareCount > 0 ? active.length : -1;
  const toCompact = new Int32Array(fullSize).fill(rare);
  active.forEach((id, c) => { toCompact[id] = c; });
  return { fullSize, active, toCompact, rare, rareCount, size: active.length + (rareCount > 0 ? 1 : 0) };
}

/** Maps full token ids to compact ids. */
export function compactIds(vocab: CompactVocab, ids: ArrayLike<number>): Int32Array {
  const out = new Int32Array(ids.length);
  for (let i = 0; i < ids.length; i++) out[i] = ids[i] < 0 ? ids[i] : vocab.toCompact[ids[i]];
  return out;
}

/** Full-vocabulary embedding [fullSize, d] from a compact one [size, d]: rare tokens get copies of the rare row. */
export function expandEmbedding(vocab: CompactVocab, compact: Float32Array, d: number): Float32Array {
  const full = new Float32Array(vocab.fullSize * d);
  for (let id = 0; id < vocab.fullSize; id++) {
    const c = vocab.toCompact[id];
    full.set(compact.subarray(c * d, (c + 1) * d), id * d);
  }
  return full;
}

export interface CrossEntropyResult {
  /** Σ over scored positions of -log p(target) (nats, float64). */
  lossSum: number;
  /** Number of scored positions (targets ≥ 0). */
  count: number;
}

/**
 * Next-token cross-entropy over a compact vocabulary, in one pass per row: with `grad`, the logits buffer is
 * overwritten IN PLACE by scale·∂loss/∂logits (softmax − one-hot; rows without a target become 0), which the
 * backward pass reads instead of a second N×V array. The rare column's softmax weight is K·e^z (log K added
 * to its logit); the loss of a rare target is lse − z_rare, the full model's loss for any one rare token.
 */
export function compactCrossEntropy(logits: Float32Array | Float64Array, targets: Int32Array, V: number, vocab: Pick<CompactVocab, 'rare' | 'rareCount'>, opts: { grad?: boolean; scale?: number } = {}): CrossEntropyResult {
  const grad = opts.grad ?? false;
  const scale = opts.scale ?? 1;
  const rare = vocab.rare;
  const logK = vocab.rareCount > 0 ? Math.log(vocab.rareCount) : 0;
  let lossSum = 0;
  let count = 0;
  const rows = targets.length;
  for (let r = 0; r < rows; r++) {
    const o = r * V;
    const y = targets[r];
    if (y < 0) {
      if (grad) logits.fill(0, o, o + V);
      continue;
    }
    if (rare >= 0) logits[o + rare] += logK;
    // z_y: the raw logit of the target (the rare column was shifted by log K above)
    const zy = logits[o + y] - (y === rare ? logK : 0);
    let max = -Infinity;
    for (let j = 0; j < V; j++) if (logits[o + j] > max) max = logits[o + j];
    let sum = 0;
    if (grad) {
      for (let j = 0; j < V; j++) {
        const e = Math.exp(logits[o + j] - max);
        sum += e;
        logits[o + j] = e;
      }
    } else {
      for (let j = 0; j < V; j++) sum += Math.exp(logits[o + j] - max);
    }
    const lse = max + Math.log(sum);
    lossSum += lse - zy;
    count++;
    if (grad) {
      const inv = scale / sum;
      for (let j = 0; j < V; j++) logits[o + j] *= inv;
      logits[o + y] -= scale;
    } else if (rare >= 0) {
      logits[o + rare] -= logK;
    }
  }
  return { lossSum, count };
}
