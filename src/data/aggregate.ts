import { AtlasError } from '../errors.ts';

/**
 * How a text's token states become one vector (or several, for `all`).
 * - `final`: the last non-pad token — what a causal LM "has read" the whole text at (the default, as in the
 *   reference tools for decoder models).
 * - `mean`: mean over non-pad tokens. `sum`: their sum (the seed-001 notebook's pooling). `max`: element-wise
 *   maximum over non-pad tokens.
 * - `first`: the first non-pad token (BOS for checkpoints whose tokenizer prepends one).
 * - `match`: the token where the text's regex match starts (see Dataset.matches); needs per-text token positions.
 * - `all`: every non-pad token, one row each, with (text, position) recorded.
 */
export type Aggregation = 'final' | 'mean' | 'sum' | 'max' | 'first' | 'match' | 'all';
export const AGGREGATIONS: readonly Aggregation[] = ['final', 'mean', 'sum', 'max', 'first', 'match', 'all'];

export interface AggregateInput {
  /** One layer's states, [batch, seqLen, d] row-major. */
  states: Float32Array;
  batch: number;
  seqLen: number;
  d: number;
  /** [batch, seqLen], 1 for real tokens. */
  attentionMask: Uint8Array;
  /** For `match`: per text, the position (index into its seqLen row, padding included) of the matched token. */
  matchPositions?: number[];
}

export interface AggregateResult {
  /** rows × d */
  data: Float32Array;
  rows: number;
  /** For each row, the text (batch index) it belongs to. */
  textIndex: Int32Array;
  /** For each row, the token position within the padded row it was read at (-1 for mean/max). */
  position: Int32Array;
}

export function parseAggregation(value: string): Aggregation {
  if ((AGGREGATIONS as readonly string[]).includes(value)) return value as Aggregation;
  throw new AtlasError(`unknown aggregation '${value}'`, { field: 'aggregate', hint: `use one of: ${AGGREGATIONS.join(', ')}` });
}

/** Positions of the real tokens of text b, in order. */
function realPositions(mask: Uint8Array, b: number, seqLen: number): number[] {
  const out: number[] = [];
  for (let t = 0; t < seqLen; t++) if (mask[b * seqLen + t]) out.push(t);
  return out;
}

/** Aggregates one layer's token states per text; optionally L2-normalises each resulting row. */
export function aggregate(input: AggregateInput, how: Aggregation, opts: { l2Normalize?: boolean } = {}): AggregateResult {
  const { states, batch, seqLen, d, attentionMask } = input;
  const rows: Float32Array[] = [];
  const textIndex: number[] = [];
  const position: number[] = [];
  for (let b = 0; b < batch; b++) {
    const real = realPositions(attentionMask, b, seqLen);
    if (real.length === 0) throw new AtlasError(`text ${b} of the batch has no tokens`, { hint: 'empty texts cannot be aggregated' });
    const at = (t: number) => states.subarray((b * seqLen + t) * d, (b * seqLen + t + 1) * d);
    const pick = (t: number) => { rows.push(Float32Array.from(at(t))); textIndex.push(b); position.push(t); };
    switch (how) {
      case 'final': pick(real[real.length - 1]); break;
      case 'first': pick(real[0]); break;
      case 'match': {
        const t = input.matchPositions?.[b];
        if (t === undefined || t < 0 || !attentionMask[b * seqLen + t]) {
          throw new AtlasError(`text ${b} has no matched token position`, { field: 'aggregate', hint: "'match' needs a dataset with regex matches (corpus filter or a built-in match dataset)" });
        }
        pick(t);
        break;
      }
      case 'all': for (const t of real) pick(t); break;
      case 'mean': case 'sum': case 'max': {
        // Accumulate in float64: a mean over hundreds of tokens in float32 loses digits the reference keeps.
        const acc = new Float64Array(d).fill(how === 'max' ? -Infinity : 0);
        for (const t of real) {
          const v = at(t);
          if (how !== 'max') for (let j = 0; j < d; j++) acc[j] += v[j];
          else for (let j = 0; j < d; j++) if (v[j] > acc[j]) acc[j] = v[j];
        }
        if (how === 'mean') for (let j = 0; j < d; j++) acc[j] /= real.length;
        rows.push(Float32Array.from(acc)); textIndex.push(b); position.push(-1);
        break;
      }
    }
  }
  const data = new Float32Array(rows.length * d);
  rows.forEach((r, i) => {
    if (opts.l2Normalize) {
      let s = 0;
      for (let j = 0; j < d; j++) s += r[j] * r[j];
      const n = Math.sqrt(s);
      if (n > 0) for (let j = 0; j < d; j++) r[j] /= n;
    }
    data.set(r, i * d);
  });
  return { data, rows: rows.length, textIndex: Int32Array.from(textIndex), position: Int32Array.from(position) };
}
