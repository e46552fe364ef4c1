/**
 * Points and per-point Fisher metrics of a list of texts at one layer.
 *
 * The point of a text is its LAST real token's residual state (aggregation 'final': that token's next-token
 * distribution is the p(y | h) whose Fisher metric we measure; mean-pooled vectors have no such distribution).
 * - layer < L: h = hidden_states[layer] of that token (as extraction gives it);
 * - layer = L, point 'pre-norm' (default): h = the last block's output BEFORE the final norm, so the metric
 *   includes the final norm's Jacobian (J = W · J_norm(h)); HF's hidden_states[L] is norm(h);
 * - layer = L, point 'post-norm': h = hidden_states[L] (after the norm), J = W. Useful to compare with tools
 *   that take HF's last hidden state as the point.
 * The model runs piece by piece (weight-source.ts: the embeddings, each block, the head) over a chunk of
 * batches: each batch through the params engine's forward of that piece (PiecewiseForward: the context
 * keys/values), then every text's token through the same piece of src/fisher/tail.ts, with the identity
 * seeded at `layer` (the exact Jacobian K, d directions). A model held whole runs one batch per chunk; a
 * layer-streamed one (FisherWeights.streamed) as many batches as the memory budget holds, each piece's
 * weights read once per chunk. The operations and their order per text are the same either way, so the
 * results are too.
 */
import { AtlasError } from '../errors.ts';
import { resolveMaxLength } from '../data/max-length.ts';
import type { AtlasTokenizer } from '../model/tokenizer.ts';
import { PiecewiseForward, type LayerKV } from '../params/backprop.ts';
import { ParamStore, type FloatArray } from '../params/param-store.ts';
import { mulberry32 } from '../model/tiny-checkpoint.ts';
import type { Matrix } from '../geometry/matrix.ts';
import { TokenTail, type TailContext } from './tail.ts';
import { requireLmHead } from '../params/block.ts';
import { exactFisher, lmHeadOf, monteCarloFisher } from './metric.ts';
import { wholeFisherWeights, type FisherWeights } from './weight-source.ts';
import { lowRankFactor, type MetricStore } from './store.ts';

export type FisherPoint = 'pre-norm' | 'post-norm';
export type FisherMethod = 'exact' | 'monte-carlo';

export interface FisherMetricOptions {
  /** Hidden layer 0..nLayer. Default nLayer (the last). */
  layer?: number;
  /** Default 'pre-norm' (only meaningful at the last layer). */
  point?: FisherPoint;
  /** Regulariser added to every G (never stored). Default 1e-4. */
  lambda?: number;
  /** Default 'exact'. */
  method?: FisherMethod;
  /** Monte-Carlo draws per point. Default 64. */
  samples?: number;
  /** Seed of the Monte-Carlo draws and the randomized factorisation. Default 0. */
  seed?: number;
  /** 'auto' (default): dense for exact metrics with d ≤ denseMaxDim, factor otherwise. */
  storage?: 'auto' | 'dense' | 'factor';
  /** Rank of the factor of exact metrics stored as 'factor'. Default 64. */
  rank?: number;
  /** Default 256. */
  denseMaxDim?: number;
  /** Texts per forward. Default 8. */
  batchSize?: number;
  /** Truncate texts to this many tokens. Default: the model's max positions. */
  maxLength?: number;
  /** Called after each text with the number done. */
  onProgress?: (done: number) => void;
}

export interface FisherMetrics {
  points: Matrix<Float32Array>;
  store: MetricStore;
  /** Entropy (nats) of p(y | h) per point. */
  entropy: Float64Array;
}

/**
 * Points and metrics of `texts`. `params`: the model held whole (a ParamStore) or read piece by piece
 * (weight-source.ts `streamedFisherWeights`, when its float32 weights do not fit the memory budget).
 */
export async function computeFisherMetrics(params: ParamStore | FisherWeights, tokenizer: AtlasTokenizer, texts: string[], opts: FisherMetricOptions = {}): Promise<FisherMetrics> {
  const source = params instanceof ParamStore ? wholeFisherWeights(params) : params;
  const spec = source.spec;
  requireLmHead(spec, 'the Fisher metric');
  const L = spec.nLayer;
  const d = spec.dModel;
  const layer = opts.layer ?? L;
  if (!Number.isInteger(layer) || layer < 0 || layer > L) throw new AtlasError(`layer ${layer} does not exist: hidden layers are 0..${L}`, { field: 'layer' });
  const point = opts.point ?? 'pre-norm';
  if (point !== 'pre-norm' && point !== 'post-norm') throw new AtlasError(`unknown point '${String(point)}'`, { field: 'point', hint: "use 'pre-norm' or 'post-norm'" });
  if (point === 'post-norm' && layer !== L) throw new AtlasError(`point 'post-norm' exists only at the last layer (${L}), not layer ${layer}`, { field: 'point' });
  const lambda = opts.lambda ?? 1e-4;
  if (!(lambda >= 0) || !Number.isFinite(lambda)) throw new AtlasError(`lambda must be a finite number ≥ 0, got ${lambda}`, { field: 'lambda' });
  const method = opts.method ?? 'exact';
  if (method !== 'exact' && method !== 'monte-carlo') throw new AtlasError(`unknown method '${String(method)}'`, { field: 'method', hint: "use 'exact' or 'monte-carlo'" });
  const samples = opts.samples ?? 64;
  const storageOpt = opts.storage ?? 'auto';
  const kind: 'dense' | 'factor' = storageOpt === 'dense' ? 'dense' : storageOpt === 'factor' ? 'factor' : method === 'exact' && d <= (opts.denseMaxDim ?? 256) ? 'dense' : 'factor';
  const rank = kind === 'dense' ? d : method === 'monte-carlo' ? samples : Math.min(d, opts.rank ?? 64);
  const n = texts.length;
  if (n === 0) throw new AtlasError('no texts', { field: 'texts' });
  const rand = mulberry32(opts.seed ?? 0);
  const points = new Float32Array(n * d);
  const data = new Float32Array(n * d * rank);
  const captured = new Float64Array(n).fill(1);
  const entropy = new Float64Array(n);
  const maxLength = resolveMaxLength(opts.maxLength, spec.maxPositions);
  const batchSize = opts.batchSize ?? 8;
  const lengths = texts.map((t) => tokenizer.encode(t).length);
  const order = texts.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const seeds = point === 'post-norm' ? undefined : 'identity' as const;
  // Held per text between pieces: its value + tangent rows (twice while a block maps them) and its share of
  // the batch's residual stream; in flight: one text's MLP rows inside a block.
  const word = source.f64 ? 8 : 4;
  const rows = 1 + (seeds ? d : 0);
  const dFF = Math.max(...spec.blocks.map((b) => b.mlp.dFF));
  const chunk = source.chunkTexts(batchSize, { perText: word * (2 * rows * d + 2 * Math.min(maxLength, Math.max(...lengths)) * d), inFlight: word * rows * (3 * dFF + 4 * d) });
  let done = 0;
  const postIdentity = (like: FloatArray): FloatArray => {
    const I = new (like.constructor as { new (n: number): FloatArray })(d * d);
    for (let i = 0; i < d; i++) I[i * d + i] = 1;
    return I;
  };
  for (let c0 = 0; c0 < n; c0 += chunk) {
    const batches: { ids: number[]; fwd: PiecewiseForward; ctx: TailContext; tails: TokenTail[] }[] = [];
    for (let s = c0; s < Math.min(n, c0 + chunk); s += batchSize) {
      const ids = order.slice(s, Math.min(s + batchSize, c0 + chunk));
      ids.forEach((i) => {
        if (texts[i].trim() === '') throw new AtlasError(`text ${i} is empty`, { field: 'texts', hint: 'remove empty rows' });
      });
      const enc = tokenizer.encodeBatch(ids.map((i) => texts[i]), { maxLength });
      const batch = { ids: enc.ids, attentionMask: enc.attentionMask, batch: ids.length, seqLen: enc.seqLen };
      const fwd = new PiecewiseForward(spec, batch, source.f64);
      // the tails see one block's keys/values at a time: layers[l] is set while block l runs
      const ctx: TailContext = { batch, positions: fwd.positions, ropeSeqLen: fwd.ropeSeqLen, layers: [] as LayerKV[] };
      batches.push({ ids, fwd, ctx, tails: ids.map((_, b) => new TokenTail(spec, ctx, b, { layer, seeds })) });
    }
    const embed = source.piece('embed');
    for (const bt of batches) {
      bt.fwd.embed(embed);
      for (const t of bt.tails) t.embed(embed);
    }
    for (let l = 0; l < L; l++) {
      const w = source.piece(l);
      for (const bt of batches) {
        bt.ctx.layers[l] = await bt.fwd.block(l, w);
        for (const t of bt.tails) await t.block(l, w);
        delete bt.ctx.layers[l];
      }
    }
    const headPiece = source.piece('head');
    const head = lmHeadOf(spec, headPiece);
    for (const bt of batches) {
      for (let b = 0; b < bt.ids.length; b++) {
        const i = bt.ids[b];
        const what = `text ${i}`;
        const r = bt.tails[b].finish(headPiece);
        const h = point === 'post-norm' ? r.postNorm : r.point;
        for (let a = 0; a < d; a++) {
          if (!Number.isFinite(h[a])) throw new AtlasError(`the hidden state of ${what} is not finite`, { field: 'points', hint: 'the checkpoint holds NaN/Inf values?' });
          points[i * d + a] = h[a];
        }
        const tangents = point === 'post-norm' ? postIdentity(head.W) : r.tangents!;
        let p: Float64Array;
        const base = i * d * rank;
        if (method === 'monte-carlo') {
          const mc = await monteCarloFisher(head, r.postNorm, tangents, d, samples, rand, what);
          p = mc.p;
          if (kind === 'factor') for (let k = 0; k < d * rank; k++) data[base + k] = mc.F[k];
          else for (let a = 0; a < d; a++) for (let c = 0; c < d; c++) {
            let t = 0;
            for (let k = 0; k < samples; k++) t += mc.F[a * samples + k] * mc.F[c * samples + k];
            data[base + a * d + c] = t;
          }
        } else {
          const ex = await exactFisher(head, r.postNorm, tangents, d, what);
          p = ex.p;
          if (kind === 'dense') for (let k = 0; k < d * d; k++) data[base + k] = ex.G[k];
          else {
            const f = await lowRankFactor(ex.G, d, rank, { seed: (opts.seed ?? 0) + i });
            for (let k = 0; k < d * rank; k++) data[base + k] = f.F[k];
            captured[i] = f.captured;
          }
        }
        let H = 0;
        for (const pv of p) if (pv > 0) H -= pv * Math.log(pv);
        entropy[i] = H;
        opts.onProgress?.(++done);
      }
    }
    source.released();
  }
  return { points: { rows: n, cols: d, data: points }, store: { n, d, lambda, kind, rank, data, captured }, entropy };
}
