/**
 * Score-greedy pair merging, the BPE encoding loop shared by SentencePiece's BPE model (bpe_model.cc) and
 * llama2.c's run.c `encode`: repeatedly merge the adjacent pair whose concatenation is a vocabulary piece with
 * the highest score; ties go to the leftmost pair. Both tools define the same order (SentencePiece: a priority
 * queue ordered by score, then left position; run.c: a left-to-right scan keeping a strictly better score), so
 * one implementation serves both. A heap keeps it O(n log n) instead of run.c's O(n^2) rescans.
 */

export interface MergeSymbol {
  piece: string;
  /** Never merged with a neighbour (SentencePiece user-defined symbols). */
  frozen?: boolean;
}

interface Candidate {
  left: number;
  right: number;
  score: number;
  /** Length of the merged piece when it was proposed: a stale candidate no longer adds up. */
  size: number;
}

/** Max-heap on score, then min on left position. */
class CandidateHeap {
  private readonly items: Candidate[] = [];
  get size(): number {
    return this.items.length;
  }
  private before(a: Candidate, b: Candidate): boolean {
    return a.score > b.score || (a.score === b.score && a.left < b.left);
  }
  push(c: Candidate): void {
    const h = this.items;
    h.push(c);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): Candidate {
    const h = this.items;
    const top = h[0]!;
    const last = h.pop()!;
    if (h.length > 0) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let best = i;
        if (l < h.length && this.before(h[l]!, h[best]!)) best = l;
        if (r < h.length && this.before(h[r]!, h[best]!)) best = r;
        if (best === i) break;
        [h[i], h[best]] = [h[best]!, h[i]!];
        i = best;
      }
    }
    return top;
  }
}

/**
 * Merges `symbols` by score. `scoreOf(piece)` is the score of a vocabulary piece that pairs may merge into, or
 * undefined when the concatenation is not one. `onMerge` sees every merge (SentencePiece re-splits unused pieces).
 */
export function mergeByScore(
  symbols: MergeSymbol[],
  scoreOf: (piece: string) => number | undefined,
  onMerge?: (merged: string, left: string, right: string) => void,
): string[] {
  const n = symbols.length;
  const piece = symbols.map((s) => s.piece);
  const frozen = symbols.map((s) => s.frozen === true);
  const prev = Array.from({ length: n }, (_, i) => i - 1);
  const next = Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
  const heap = new CandidateHeap();
  const propose = (left: number, right: number): void => {
    if (left < 0 || right < 0 || frozen[left] || frozen[right]) return;
    const merged = piece[left]! + piece[right]!;
    const score = scoreOf(merged);
    if (score === undefined) return;
    heap.push({ left, right, score, size: merged.length });
  };
  for (let i = 1; i < n; i++) propose(i - 1, i);
  while (heap.size > 0) {
    const top = heap.pop();
    const l = piece[top.left]!, r = piece[top.right]!;
    // Skip candidates made stale by an earlier merge of one of their symbols.
    if (l === '' || r === '' || next[top.left] !== top.right || l.length + r.length !== top.size) continue;
    piece[top.left] = l + r;
    onMerge?.(l + r, l, r);
    piece[top.right] = '';
    next[top.left] = next[top.right]!;
    if (next[top.right]! >= 0) prev[next[top.right]!] = top.left;
    propose(prev[top.left]!, top.left);
    propose(top.left, next[top.left]!);
  }
  const out: string[] = [];
  for (let i = n > 0 ? 0 : -1; i !== -1; i = next[i]!) out.push(piece[i]!);
  return out;
}
