/** Small statistics helpers shared by the parameter-space reports. */

/** Running sum / count / max / min of a stream of numbers. */
export class RunningStat {
  sum = 0;
  count = 0;
  max = -Infinity;
  min = Infinity;

  add(x: number): void {
    this.sum += x;
    this.count++;
    if (x > this.max) this.max = x;
    if (x < this.min) this.min = x;
  }

  merge(o: RunningStat): void {
    this.sum += o.sum;
    this.count += o.count;
    if (o.max > this.max) this.max = o.max;
    if (o.min < this.min) this.min = o.min;
  }

  toJSON(): { sum: number; mean: number; max: number; min: number; count: number } {
    return { sum: this.sum, mean: this.count ? this.sum / this.count : 0, max: this.count ? this.max : 0, min: this.count ? this.min : 0, count: this.count };
  }
}

/** The k largest values seen, with a payload (a min-heap of size k). */
export class TopK<P> {
  private readonly heap: { v: number; p: P }[] = [];
  constructor(readonly k: number) {}

  /** Lowest value that would still enter (−∞ until full): lets callers skip building payloads. */
  get threshold(): number {
    return this.heap.length < this.k ? -Infinity : this.heap[0].v;
  }

  push(v: number, p: P): void {
    const h = this.heap;
    if (h.length < this.k) {
      h.push({ v, p });
      let i = h.length - 1;
      while (i > 0) {
        const up = (i - 1) >> 1;
        if (h[up].v <= h[i].v) break;
        [h[up], h[i]] = [h[i], h[up]];
        i = up;
      }
      return;
    }
    if (v <= h[0].v) return;
    h[0] = { v, p };
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && h[l].v < h[m].v) m = l;
      if (r < h.length && h[r].v < h[m].v) m = r;
      if (m === i) break;
      [h[m], h[i]] = [h[i], h[m]];
      i = m;
    }
  }

  /** Largest first. */
  sorted(): { v: number; p: P }[] {
    return [...this.heap].sort((a, b) => b.v - a.v);
  }
}

/** Quantile with linear interpolation between order statistics (numpy's default 'linear'); sorts a copy. */
export function quantiles(values: ArrayLike<number>, qs: number[]): number[] {
  const s = Float64Array.from(values).sort();
  if (s.length === 0) return qs.map(() => NaN);
  return qs.map((q) => {
    const pos = q * (s.length - 1);
    const lo = Math.floor(pos);
    const hi = Math.min(lo + 1, s.length - 1);
    return s[lo] + (pos - lo) * (s[hi] - s[lo]);
  });
}

export function toCsv(rows: Record<string, string | number | null>[]): string {
  if (rows.length === 0) return '';
  const cols = Object.keys(rows[0]);
  const cell = (v: string | number | null): string => {
    const s = v === null ? '' : String(v);
    return /[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [cols.join(','), ...rows.map((r) => cols.map((c) => cell(r[c] ?? null)).join(','))].join('\n') + '\n';
}
