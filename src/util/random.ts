/**
 * mulberry32: a tiny, fast, seeded 32-bit generator of uniform numbers in [0, 1). Pure 32-bit integer
 * arithmetic, so a seed gives the same stream on every platform — the basis of every "fixed seed → identical
 * output" guarantee in tests, generated checkpoints and subsampling.
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
