/**
 * UMAP's layout optimisation, as umap-learn 0.5's optimize_layout_euclidean (move_other, no densMAP): every
 * epoch walks the edges in order; an edge due (its next-sample epoch reached) pulls its two ends together with
 * the attractive gradient −2ab·d^(2(b−1)) / (1 + a·d^(2b)), then pushes its head away from
 * ⌊(epoch − next negative epoch) / epochs-per-negative-sample⌋ uniformly drawn points with the repulsive
 * gradient 2γb / ((0.001 + d²)(1 + a·d^(2b))); every coordinate of a gradient is clipped to ±4 and scaled by
 * the learning rate α, which decays linearly to 0.
 *
 * One deliberate difference: an edge's negative samples all see the head where the attraction left it, and
 * their clipped gradients are summed into one move, where umap-learn moves the head after each sample. Each
 * sample then no longer waits on the previous one's update (a chain of power, division and store that bounds
 * the loop's speed): the whole of UMAP runs ~1.5× faster, and the embeddings are as good as umap-learn's
 * (trustworthiness and 15-NN overlap against its own embeddings, test/ref-umap.test.ts).
 *
 * Why it is fast (this loop is nearly all of UMAP's time: 5 negative samples per positive one):
 *  - coordinates in float32, as umap-learn's embedding (5,000 points in 2-D: 40 kB, in L1);
 *  - d^(2b) by `power` below (float32 bit fields and small tables, no Math.pow / Math.exp / Math.log), one power
 *    per sample (d^(2(b−1)) = d^(2b)/d²);
 *  - negative samples drawn with umap-learn's Tausworthe generator (tau_rand_int) held in local integers, scaled
 *    to [0, n) by a multiplication instead of an integer division;
 *  - the epoch of each edge's next sample and next negative samples precomputed arrays, as umap-learn.
 * The random stream differs from umap-learn's (seeding differs anyway), so embeddings agree in quality, not digits.
 */

/** The Tausworthe generator's three words (umap-learn's rng_state), each above its minimum (2, 8, 16). */
export type TauState = Int32Array;

/** A generator state from a seed stream's 32-bit draws, forced above the words' minima. */
export function tauState(draw: () => number): TauState {
  const s = new Int32Array(3);
  for (let i = 0; i < 3; i++) s[i] = (Math.floor(draw() * 4294967296) | 16) | 0;
  return s;
}

/** The edges' sampling schedule: umap-learn's epochs_per_sample (−1: never sampled) and its derived counters. */
export interface Schedule {
  head: Int32Array;
  tail: Int32Array;
  epochsPerSample: Float64Array;
  epochsPerNegative: Float64Array;
  nextSample: Float64Array;
  nextNegative: Float64Array;
}

/** umap-learn's make_epochs_per_sample: an edge of weight w is sampled nEpochs·w/max(w) times. */
export function schedule(head: Int32Array, tail: Int32Array, weight: Float64Array, nEpochs: number, negativeSampleRate: number): Schedule {
  const m = head.length;
  let maxW = 0;
  for (let e = 0; e < m; e++) if (weight[e] > maxW) maxW = weight[e];
  const epochsPerSample = new Float64Array(m);
  for (let e = 0; e < m; e++) {
    const samples = (nEpochs * weight[e]) / maxW;
    epochsPerSample[e] = samples > 0 ? nEpochs / samples : -1;
  }
  const epochsPerNegative = epochsPerSample.map((v) => v / negativeSampleRate);
  return { head, tail, epochsPerSample, epochsPerNegative, nextSample: epochsPerSample.slice(), nextNegative: epochsPerNegative.slice() };
}

export interface SgdParams {
  n: number;
  dim: number;
  a: number;
  b: number;
  gamma: number;
}

/** Clip bound of every gradient coordinate (umap-learn's clip). */
const CLIP = 4;

/**
 * One epoch over edges [from, to) of the schedule, moving `y` (n×dim, float32) with learning rate `alpha`;
 * the generator state `rng` is advanced in place.
 */
export function sgdEpoch(y: Float32Array, s: Schedule, from: number, to: number, epoch: number, alpha: number, p: SgdParams, rng: TauState): void {
  if (p.dim === 2) return sgdEpoch2(y, s, from, to, epoch, alpha, p, rng);
  const { n, dim, a, b } = p;
  const pw = tableFor(b);
  const { head, tail, epochsPerSample, epochsPerNegative, nextSample, nextNegative } = s;
  const attract = -2 * a * b;
  const repel = 2 * p.gamma * b;
  const toIndex = n / 4294967296;
  const acc = new Float64Array(dim);
  let s0 = rng[0], s1 = rng[1], s2 = rng[2];
  for (let e = from; e < to; e++) {
    if (nextSample[e] > epoch) continue;
    const j = head[e];
    const oj = j * dim;
    const ok = tail[e] * dim;
    let d2 = 0;
    for (let c = 0; c < dim; c++) {
      const d = y[oj + c] - y[ok + c];
      d2 += d * d;
    }
    let coeff = 0;
    if (d2 > 0) {
      const pb = power(d2, pw);
      coeff = (attract * (pb / d2)) / (a * pb + 1);
    }
    for (let c = 0; c < dim; c++) {
      let g = coeff * (y[oj + c] - y[ok + c]);
      g = (g > CLIP ? CLIP : g < -CLIP ? -CLIP : g) * alpha;
      y[oj + c] += g;
      y[ok + c] -= g;
    }
    nextSample[e] += epochsPerSample[e];
    const nNeg = Math.floor((epoch - nextNegative[e]) / epochsPerNegative[e]);
    if (nNeg > 0) {
      // The negative samples' clipped gradients, summed at the head's current place (see the file comment).
      acc.fill(0);
      for (let q = 0; q < nNeg; q++) {
        // tau_rand_int: three Tausworthe words combined.
        s0 = ((s0 & -2) << 12) ^ (((s0 << 13) ^ s0) >>> 19);
        s1 = ((s1 & -8) << 4) ^ (((s1 << 2) ^ s1) >>> 25);
        s2 = ((s2 & -16) << 17) ^ (((s2 << 3) ^ s2) >>> 11);
        const r = (((s0 ^ s1 ^ s2) >>> 0) * toIndex) | 0;
        const or = r * dim;
        let r2 = 0;
        for (let c = 0; c < dim; c++) {
          const d = y[oj + c] - y[or + c];
          r2 += d * d;
        }
        if (r2 > 0) {
          const rc = repel / ((0.001 + r2) * (a * power(r2, pw) + 1));
          for (let c = 0; c < dim; c++) {
            const g = rc * (y[oj + c] - y[or + c]);
            acc[c] += g > CLIP ? CLIP : g < -CLIP ? -CLIP : g;
          }
        } else if (r !== j) {
          // A different point at the same place: umap-learn pushes by the clip bound in every coordinate.
          for (let c = 0; c < dim; c++) acc[c] += CLIP;
        }
      }
      for (let c = 0; c < dim; c++) y[oj + c] += acc[c] * alpha;
    }
    nextNegative[e] += nNeg * epochsPerNegative[e];
  }
  rng[0] = s0; rng[1] = s1; rng[2] = s2;
}

/** sgdEpoch for dim = 2 (the usual case): the head's coordinates and the summed repulsion in locals (~1.5× faster). */
function sgdEpoch2(y: Float32Array, s: Schedule, from: number, to: number, epoch: number, alpha: number, p: SgdParams, rng: TauState): void {
  const { n, a, b } = p;
  const pw = tableFor(b);
  const { head, tail, epochsPerSample, epochsPerNegative, nextSample, nextNegative } = s;
  const attract = -2 * a * b;
  const repel = 2 * p.gamma * b;
  const toIndex = n / 4294967296;
  let s0 = rng[0], s1 = rng[1], s2 = rng[2];
  for (let e = from; e < to; e++) {
    if (nextSample[e] > epoch) continue;
    const j = head[e];
    const oj = 2 * j;
    const ok = 2 * tail[e];
    const dx = y[oj] - y[ok], dy = y[oj + 1] - y[ok + 1];
    const d2 = dx * dx + dy * dy;
    let coeff = 0;
    if (d2 > 0) {
      const pb = power(d2, pw);
      coeff = (attract * (pb / d2)) / (a * pb + 1);
    }
    let gx = coeff * dx, gy = coeff * dy;
    gx = (gx > CLIP ? CLIP : gx < -CLIP ? -CLIP : gx) * alpha;
    gy = (gy > CLIP ? CLIP : gy < -CLIP ? -CLIP : gy) * alpha;
    // The head's new coordinates, rounded to float32 as stored.
    const cx = Math.fround(y[oj] + gx), cy = Math.fround(y[oj + 1] + gy);
    y[ok] -= gx;
    y[ok + 1] -= gy;
    nextSample[e] += epochsPerSample[e];
    const nNeg = Math.floor((epoch - nextNegative[e]) / epochsPerNegative[e]);
    let sx = 0, sy = 0;
    for (let q = 0; q < nNeg; q++) {
      s0 = ((s0 & -2) << 12) ^ (((s0 << 13) ^ s0) >>> 19);
      s1 = ((s1 & -8) << 4) ^ (((s1 << 2) ^ s1) >>> 25);
      s2 = ((s2 & -16) << 17) ^ (((s2 << 3) ^ s2) >>> 11);
      const r = (((s0 ^ s1 ^ s2) >>> 0) * toIndex) | 0;
      const ex = cx - y[2 * r], ey = cy - y[2 * r + 1];
      const r2 = ex * ex + ey * ey;
      if (r2 > 0) {
        const rc = repel / ((0.001 + r2) * (a * power(r2, pw) + 1));
        const hx = rc * ex, hy = rc * ey;
        sx += hx > CLIP ? CLIP : hx < -CLIP ? -CLIP : hx;
        sy += hy > CLIP ? CLIP : hy < -CLIP ? -CLIP : hy;
      } else if (r !== j) {
        sx += CLIP;
        sy += CLIP;
      }
    }
    y[oj] = cx + sx * alpha;
    y[oj + 1] = cy + sy * alpha;
    nextNegative[e] += nNeg * epochsPerNegative[e];
  }
  rng[0] = s0; rng[1] = s1; rng[2] = s2;
}

/** All epochs on one thread: the learning rate decays as umap-learn's, α = α₀·(1 − epoch/nEpochs). */
export function optimizeLayout(y: Float32Array, s: Schedule, nEpochs: number, initialAlpha: number, p: SgdParams, rng: TauState): void {
  for (let epoch = 0; epoch < nEpochs; epoch++) sgdEpoch(y, s, 0, s.head.length, epoch, initialAlpha * (1 - epoch / nEpochs), p, rng);
}

// Float32 bit fields: 8 exponent bits, then the mantissa's leading TABLE_BITS and the REST_BITS after them.
const TABLE_BITS = 8;
const REST_BITS = 23 - TABLE_BITS;
const SCALE = 0;
const HEAD = 256;
const INV = HEAD + (1 << TABLE_BITS);
const COEF = INV + (1 << TABLE_BITS);
const F32 = new Float32Array(1);
const F32_BITS = new Int32Array(F32.buffer);

/**
 * Tables for `power(x, t)` = x^b: 2^((e − 127)·b) for every float32 exponent e, m^b and 2⁻²³/m for the 256
 * mantissas m = 1 + j/256, and the Taylor coefficients of (1 + r)^b.
 */
export function powerTable(b: number): Float64Array {
  const t = new Float64Array(COEF + 3);
  for (let e = 0; e < 256; e++) t[SCALE + e] = 2 ** ((e - 127) * b);
  for (let j = 0; j < 1 << TABLE_BITS; j++) {
    const m = 1 + j / (1 << TABLE_BITS);
    t[HEAD + j] = m ** b;
    t[INV + j] = 2 ** -23 / m;
  }
  t[COEF] = b;
  t[COEF + 1] = (b * (b - 1)) / 2;
  t[COEF + 2] = (b * (b - 1) * (b - 2)) / 6;
  return t;
}

let cached: { b: number; table: Float64Array } | null = null;
/** The last b's table (every epoch of a run asks for the same one). */
function tableFor(b: number): Float64Array {
  if (cached?.b !== b) cached = { b, table: powerTable(b) };
  return cached.table;
}

/**
 * x^b (b fixed by the table) for x in float32's normal range, x rounded to float32 first (umap-learn's squared
 * distances are float32): x = 2^e·m·(1 + r) with m from the mantissa's leading 8 bits and r < 2⁻⁸ from the
 * rest, so x^b = 2^(e·b)·m^b·(1 + r)^b, the last factor a cubic (truncation ≤ r⁴/24 < 1e-10 relative). About
 * 3× cheaper than Math.pow or Math.exp(b·Math.log(x)), which V8 calls out of line.
 */
export function power(x: number, t: Float64Array): number {
  F32[0] = x;
  const bits = F32_BITS[0];
  const j = (bits >>> REST_BITS) & ((1 << TABLE_BITS) - 1);
  const r = (bits & ((1 << REST_BITS) - 1)) * t[INV + j];
  return t[SCALE + (bits >>> 23)] * t[HEAD + j] * (1 + r * (t[COEF] + r * (t[COEF + 1] + r * t[COEF + 2])));
}
