/**
 * Linear scales and "nice" ticks (steps of 1, 2 or 5 times a power of ten), the same rule as d3's ticks() and
 * matplotlib's MaxNLocator with steps [1, 2, 5, 10], so axes read like those tools'.
 */

/** The step (1, 2 or 5 × 10^k) that gives about `count` intervals over [lo, hi]. */
export function niceStep(lo: number, hi: number, count: number): number {
  const raw = Math.abs(hi - lo) / Math.max(1, count);
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = Math.floor(Math.log10(raw));
  const base = 10 ** power;
  const err = raw / base;
  // Thresholds are the geometric means of neighbouring steps (sqrt(50), sqrt(10), sqrt(2)), as in d3.
  const mult = err >= Math.sqrt(50) ? 10 : err >= Math.sqrt(10) ? 5 : err >= Math.sqrt(2) ? 2 : 1;
  return mult * base;
}

/**
 * Ticks at multiples of a nice step that lie inside [lo, hi]. Multiples are computed as integer × step (and
 * divided when the step is < 1) so 0.1 + 0.2 round-off never shows up as 0.30000000000000004.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (lo > hi) [lo, hi] = [hi, lo];
  if (lo === hi) return [lo];
  let step = niceStep(lo, hi, count);
  // A wide step can leave a single multiple inside the domain; an axis needs two ticks, so step down (5 → 2 → 1).
  while (Math.floor(hi / step + 1e-9) - Math.ceil(lo / step - 1e-9) < 1) step = smallerNiceStep(step);
  const inv = step < 1 ? Math.round(1 / step) : 0;
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  const ticks: number[] = [];
  for (let k = first; k <= last; k++) {
    const v = inv ? k / inv : k * step;
    ticks.push(Object.is(v, -0) ? 0 : v);
  }
  return ticks;
}

/** The next smaller step in the 1, 2, 5 sequence. */
function smallerNiceStep(step: number): number {
  const power = 10 ** Math.floor(Math.log10(step) + 1e-9);
  const m = Math.round(step / power);
  return m === 5 ? 2 * power : m === 2 ? power : power / 2;
}

/** Widens [lo, hi] outward to multiples of the nice step, so the axis starts and ends on a tick. */
export function niceDomain(lo: number, hi: number, count = 5): [number, number] {
  [lo, hi] = padDegenerate(lo, hi);
  // Widening can change the step niceTicks picks for the new domain; repeat until it is stable (as d3's nice()).
  let prev = NaN;
  for (let iter = 0; iter < 10; iter++) {
    const step = niceStep(lo, hi, count);
    if (step === prev) break;
    prev = step;
    const inv = step < 1 ? Math.round(1 / step) : 0;
    const a = Math.floor(lo / step + 1e-9);
    const b = Math.ceil(hi / step - 1e-9);
    [lo, hi] = inv ? [a / inv, b / inv] : [a * step, b * step];
  }
  return [lo, hi];
}

/** A zero-width domain (one point, constant series) gets ±0.5 or ±10 % so it can still be drawn. */
export function padDegenerate(lo: number, hi: number): [number, number] {
  if (lo !== hi) return lo < hi ? [lo, hi] : [hi, lo];
  const d = lo === 0 ? 0.5 : Math.abs(lo) * 0.1;
  return [lo - d, hi + d];
}

/** Min and max of the finite values; undefined when there are none. */
export function extent(values: Iterable<number>): [number, number] | undefined {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  return lo <= hi ? [lo, hi] : undefined;
}

export interface LinearScale {
  (v: number): number;
  domain: [number, number];
  range: [number, number];
  invert(p: number): number;
  ticks(count?: number): number[];
}

/** Maps domain [d0, d1] linearly onto range [r0, r1] (r0 > r1 is fine: SVG y grows downward). */
export function linearScale(domain: [number, number], range: [number, number]): LinearScale {
  const [d0, d1] = padDegenerate(domain[0], domain[1]);
  const [r0, r1] = range;
  const k = (r1 - r0) / (d1 - d0);
  const f = ((v: number) => r0 + (v - d0) * k) as LinearScale;
  f.domain = [d0, d1];
  f.range = [r0, r1];
  f.invert = (p: number) => d0 + (p - r0) / k;
  f.ticks = (count = 5) => niceTicks(d0, d1, count);
  return f;
}

/**
 * Labels for a set of ticks with a shared number of decimals (taken from the step), so "0.5, 1.0, 1.5" line up;
 * very large or small magnitudes switch to exponent notation.
 */
export function formatTicks(ticks: readonly number[]): string[] {
  if (ticks.length === 0) return [];
  const step = ticks.length > 1 ? Math.abs(ticks[1]! - ticks[0]!) : Math.abs(ticks[0]!) || 1;
  const maxAbs = Math.max(...ticks.map(Math.abs));
  if (maxAbs >= 1e6 || (maxAbs > 0 && maxAbs < 1e-4) || step < 1e-6) {
    return ticks.map((t) => (t === 0 ? '0' : t.toExponential(Math.max(0, Math.min(6, significantDigits(step, maxAbs) - 1)))));
  }
  const decimals = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
  return ticks.map((t) => {
    const s = t.toFixed(decimals);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  });
}

function significantDigits(step: number, maxAbs: number): number {
  return Math.max(1, Math.floor(Math.log10(maxAbs)) - Math.floor(Math.log10(step)) + 1);
}

/** Formats one value for tooltips and cell annotations: 4 significant digits, no trailing zeros. */
export function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(3).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(4)));
}

/** Widens [lo, hi] by `fraction` of its width on each side (a zero-width extent is padded first). */
export function padExtent([lo, hi]: [number, number], fraction: number): [number, number] {
  [lo, hi] = padDegenerate(lo, hi);
  const d = (hi - lo) * fraction;
  return [lo - d, hi + d];
}
