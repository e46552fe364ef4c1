import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTicks, linearScale, niceDomain, niceStep, niceTicks, padDegenerate } from '../src/plot/scale.ts';

/** Independent check: is `step` 1, 2 or 5 times a power of ten (within float tolerance)? */
function isNiceStep(step: number): boolean {
  const p = 10 ** Math.floor(Math.log10(step) + 1e-12);
  const m = step / p;
  return [1, 2, 5, 10].some((k) => Math.abs(m - k) < 1e-9);
}

function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

test('niceTicks: nice evenly spaced steps inside the domain, covering it to within one step', () => {
  const rnd = lcg(7);
  for (let trial = 0; trial < 500; trial++) {
    const scale = 10 ** Math.floor(rnd() * 12 - 6);
    const lo = (rnd() - 0.5) * 10 * scale;
    const hi = lo + (rnd() + 1e-3) * 10 * scale;
    for (const count of [3, 5, 10]) {
      const t = niceTicks(lo, hi, count);
      assert.ok(t.length >= 2 && t.length <= count * 2.5 + 1, `tick count ${t.length} for ${lo}..${hi} count ${count}`);
      const step = t[1]! - t[0]!;
      assert.ok(isNiceStep(step), `step ${step} not nice`);
      for (let i = 1; i < t.length; i++) assert.ok(Math.abs(t[i]! - t[i - 1]! - step) <= Math.abs(step) * 1e-9);
      assert.ok(t[0]! >= lo - step * 1e-9 && t.at(-1)! <= hi + step * 1e-9, 'ticks inside the domain');
      assert.ok(t[0]! - lo < step * (1 + 1e-9) && hi - t.at(-1)! < step * (1 + 1e-9), 'ticks cover the domain');
      for (const v of t) assert.ok(Math.abs(v / step - Math.round(v / step)) < 1e-6, 'ticks are multiples of the step');
    }
  }
});

test('niceTicks: exact decimals, no round-off noise; reversed and zero-width domains', () => {
  assert.deepEqual(niceTicks(0, 1, 10), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
  assert.deepEqual(niceTicks(-1, 1, 4), [-1, -0.5, 0, 0.5, 1]);
  assert.deepEqual(niceTicks(1, 0, 5), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(3, 3), [3]);
  assert.equal(niceStep(0, 100, 5), 20);
  assert.equal(niceStep(0, 8, 5), 2);
  assert.equal(niceStep(0, 7, 5), 1);
  assert.deepEqual(niceTicks(-0.99, 0.96, 3), [-0.5, 0, 0.5], 'steps down until two ticks fit');
  assert.equal(niceStep(0, 0.03, 3), 0.01);
});

test('niceDomain: contains the data and ends on ticks', () => {
  const rnd = lcg(3);
  for (let trial = 0; trial < 300; trial++) {
    const lo = (rnd() - 0.5) * 1000;
    const hi = lo + rnd() * 50 + 1e-6;
    const [a, b] = niceDomain(lo, hi, 5);
    assert.ok(a <= lo && b >= hi);
    const t = niceTicks(a, b, 5);
    assert.ok(Math.abs(t[0]! - a) < 1e-9 * Math.max(1, Math.abs(a)) && Math.abs(t.at(-1)! - b) < 1e-9 * Math.max(1, Math.abs(b)), `${a}..${b} vs ${t}`);
  }
  assert.deepEqual(padDegenerate(0, 0), [-0.5, 0.5]);
  assert.deepEqual(padDegenerate(10, 10), [9, 11]);
});

test('linearScale maps and inverts; works for inverted pixel ranges', () => {
  const s = linearScale([2, 6], [400, 0]);
  assert.equal(s(2), 400);
  assert.equal(s(6), 0);
  assert.equal(s(4), 200);
  assert.equal(s.invert(100), 5);
  const d = linearScale([5, 5], [0, 10]);
  assert.ok(Number.isFinite(d(5)) && d(5) === 5, 'degenerate domain is padded, maps its value to the middle');
});

test('formatTicks: shared decimals, no -0, exponent for extreme magnitudes', () => {
  assert.deepEqual(formatTicks([-0.5, 0, 0.5, 1]), ['-0.5', '0.0', '0.5', '1.0']);
  assert.deepEqual(formatTicks([0, 20, 40]), ['0', '20', '40']);
  assert.deepEqual(formatTicks([0.1 + 0.2, 0.4]), ['0.3', '0.4']);
  assert.deepEqual(formatTicks([-1e-7, 0, 1e-7]), ['-1e-7', '0', '1e-7']);
  assert.deepEqual(formatTicks([0, 2e6, 4e6]), ['0', '2e+6', '4e+6']);
});
