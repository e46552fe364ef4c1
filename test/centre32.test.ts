import { test } from 'node:test';
import assert from 'node:assert/strict';
import { centre32, type CentredProduct } from '../src/geometry/centre32.ts';
import { gramPanels } from '../src/geometry/symmetric-gram.ts';
import { prng } from './reference/random-weights.ts';

/** Float64 reference written from the definition: column means, centred copy, the cross-product by loops. */
function reference(x: Float32Array, n: number, d: number, product: 'covariance' | 'gram') {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += x[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j] /= n;
  const xc = new Float64Array(n * d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) xc[i * d + j] = x[i * d + j]! - mean[j]!;
  const m = product === 'covariance' ? d : n;
  const g = new Float64Array(m * m);
  for (let a = 0; a < m; a++) {
    for (let b = 0; b < m; b++) {
      let s = 0;
      if (product === 'covariance') for (let i = 0; i < n; i++) s += xc[i * d + a]! * xc[i * d + b]!;
      else for (let j = 0; j < d; j++) s += xc[a * d + j]! * xc[b * d + j]!;
      g[a * m + b] = s;
    }
  }
  let ss = 0;
  for (const v of xc) ss += v * v;
  return { mean, g, ss, m };
}

// Sizes that give several panels (gramPanels cuts ~256-row panels), so block rows, their suffixes and the
// mirrored lower triangle are all exercised; and one size with a single panel.
const cases: [CentredProduct & ('covariance' | 'gram'), number, number][] = [
  ['covariance', 700, 520],
  ['gram', 530, 610],
  ['covariance', 300, 90],
];

for (const [product, n, d] of cases) {
  test(`centre32 ${product} ${n}×${d} (${gramPanels(product === 'covariance' ? d : n).length - 1} panels) = float64 definition up to float32 rounding, exactly symmetric`, async () => {
    const r = prng(11);
    // An offset column mean: the centring must happen before the product.
    const x = Float32Array.from({ length: n * d }, (_, i) => 3 + (i % d) * 0.01 + (r() - 0.5) * (1 + (i % 7)));
    const ours = await centre32(x, n, d, product, 2);
    const ref = reference(x, n, d, product);
    assert.ok(ours.product);
    const g = ours.product.data;
    assert.equal(ours.product.rows, ref.m);
    let maxRef = 0;
    for (const v of ref.g) maxRef = Math.max(maxRef, Math.abs(v));
    let worst = 0;
    for (let a = 0; a < ref.m; a++) {
      for (let b = 0; b < ref.m; b++) {
        assert.equal(g[a * ref.m + b], g[b * ref.m + a], `G[${a},${b}] mirrors G[${b},${a}]`);
        worst = Math.max(worst, Math.abs(g[a * ref.m + b]! - ref.g[a * ref.m + b]!));
      }
    }
    assert.ok(worst <= 2e-5 * maxRef, `max |ΔG| ${worst} vs max |G| ${maxRef}`);
    assert.ok(Math.abs(ours.sumOfSquares - ref.ss) <= 1e-5 * ref.ss, `Σ xc² ${ours.sumOfSquares} vs ${ref.ss}`);
    for (let j = 0; j < d; j++) assert.ok(Math.abs(ours.mean[j]! - ref.mean[j]!) <= 1e-5 * 4, `mean ${j}`);
  });
}
