/**
 * Seeded pseudo-random numbers for every stochastic step of the geometry code (initialisations, random
 * projections, negative sampling, subsampling). The same seed gives the same stream on every platform, so a
 * fixed seed gives bit-identical embeddings. (The streams differ from NumPy's: results agree with
 * scikit-learn/umap-learn in distribution, not digit for digit.) Generator: mulberry32 seeded through splitmix32.
 */
export class Rng {
  private state: number;
  private spare: number | null = null;

  constructor(seed = 0) {
    // splitmix32 scramble so that nearby seeds give unrelated streams.
    let z = (seed | 0) + 0x9e3779b9;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    this.state = (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = this.next();
    const v = this.next();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }
}
