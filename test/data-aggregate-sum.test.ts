import test from 'node:test';
import assert from 'node:assert/strict';
import { aggregate } from '../src/data/aggregate.ts';

test("aggregate 'sum' adds the real tokens' states (padding left out) and equals mean × length", () => {
  // 2 texts × 3 positions × d = 2; text 0 has 3 real tokens, text 1 two (right padding).
  const states = Float32Array.from([1, 2, 3, 4, 5, 6, 10, 20, 30, 40, 99, 99]);
  const attentionMask = Uint8Array.from([1, 1, 1, 1, 1, 0]);
  const input = { states, batch: 2, seqLen: 3, d: 2, attentionMask };
  const sum = aggregate(input, 'sum');
  assert.deepEqual(Array.from(sum.data), [9, 12, 40, 60]);
  const mean = aggregate(input, 'mean');
  assert.deepEqual(Array.from(mean.data), [3, 4, 20, 30]);
  assert.deepEqual(Array.from(sum.position), [-1, -1]);
});
