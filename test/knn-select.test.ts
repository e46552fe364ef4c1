import { test } from 'node:test';
import assert from 'node:assert/strict';
import { smallValue, scanBlock, makeLists, prepare } from '../src/geometry/knn-select.ts';
import { mulberry32 } from '../src/util/random.ts';

test('smallValue: the r-th smallest screened value h[t] − g[go + t], as a full sort gives it (ties, r = 0 and r = m − 1)', () => {
  const r0 = mulberry32(5);
  for (let trial = 0; trial < 200; trial++) {
    const m = 1 + Math.floor(r0() * 300);
    const go = Math.floor(r0() * 10);
    // Few distinct values in half the trials, so ties straddle the r-th position.
    const levels = trial % 2 ? 4 : 1e6;
    const h = Float64Array.from({ length: m }, () => Math.floor(r0() * levels) / 8);
    const g = Float32Array.from({ length: go + m }, () => Math.floor(r0() * levels) / 16);
    const sorted = Array.from(h, (v, t) => v - g[go + t]).sort((a, b) => a - b);
    for (const r of [0, Math.floor(r0() * m), m - 1]) {
      assert.equal(smallValue(h, g, go, m, r, new Float64Array(r + 1)), sorted[r], `m = ${m}, r = ${r}`);
    }
  }
});

test('scanBlock (rows in pairs) fills the candidate lists exactly as scanning one row at a time does', () => {
  const n = 401, d = 6, k = 5;
  const r0 = mulberry32(9);
  const X = { rows: n, cols: d, data: Float32Array.from({ length: n * d }, () => Math.round(r0() * 8) / 4) }; // ties
  const S = prepare(X, k, 'euclidean');
  const G = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let t = 0; t < d; t++) s += S.screen[i * d + t] * S.screen[j * d + t];
      G[i * n + j] = s;
    }
  }
  /** The product of rows [start, end) against columns [start, n), as the search lays it out. */
  const block = (start: number, end: number) => {
    const g = new Float32Array((end - start) * (n - start));
    for (let i = start; i < end; i++) g.set(G.subarray(i * n + start, (i + 1) * n), (i - start) * (n - start));
    return g;
  };
  for (const cap of [2 * k + 32, k + 2]) {
    const pairs = makeLists(S, cap, false);
    const single = makeLists(S, cap, false);
    // Some thresholds seeded low, some left open, as the search's seeds would leave them.
    for (let p = 0; p < n; p++) if (p % 3) pairs.thr[p] = single.thr[p] = S.halfSq[p] - G[p * n + p] + r0();
    for (let start = 0; start < n; start += 7) {
      const end = Math.min(n, start + 7);
      scanBlock(pairs, start, end, block(start, end));
      for (let i = start; i < end; i++) scanBlock(single, i, i + 1, block(i, i + 1));
    }
    assert.deepEqual(pairs.count, single.count, `counts, cap ${cap}`);
    assert.deepEqual(pairs.thr, single.thr, `thresholds, cap ${cap}`);
    assert.deepEqual(pairs.li, single.li, `entries, cap ${cap}`);
    assert.ok(pairs.count.some((c) => c === -1) === (cap === k + 2), 'the small capacity overflows some lists');
  }
});
