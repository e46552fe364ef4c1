import { test } from 'node:test';
import assert from 'node:assert/strict';
import { aggregate, parseAggregation } from '../src/data/aggregate.ts';
import { AtlasError } from '../src/errors.ts';

// Two texts, seqLen 3, d 2. Text 0 is right-padded (2 real tokens), text 1 is left-padded (1 real token).
const states = Float32Array.from([
  1, 2, 3, -4, 99, 99, // text 0: tokens (1,2), (3,-4), pad
  99, 99, 99, 99, 5, 6, // text 1: pad, pad, (5,6)
]);
const mask = Uint8Array.from([1, 1, 0, 0, 0, 1]);
const input = { states, batch: 2, seqLen: 3, d: 2, attentionMask: mask };

test('final / first pick the last / first real token whatever the padding side', () => {
  assert.deepEqual([...aggregate(input, 'final').data], [3, -4, 5, 6]);
  assert.deepEqual([...aggregate(input, 'first').data], [1, 2, 5, 6]);
  assert.deepEqual([...aggregate(input, 'final').position], [1, 2]);
});

test('mean and max ignore padding', () => {
  assert.deepEqual([...aggregate(input, 'mean').data], [2, -1, 5, 6]);
  assert.deepEqual([...aggregate(input, 'max').data], [3, 2, 5, 6]);
});

test('all returns one row per real token with its text and position', () => {
  const r = aggregate(input, 'all');
  assert.equal(r.rows, 3);
  assert.deepEqual([...r.textIndex], [0, 0, 1]);
  assert.deepEqual([...r.position], [0, 1, 2]);
  assert.deepEqual([...r.data], [1, 2, 3, -4, 5, 6]);
});

test('match reads the given position and refuses padding or missing positions', () => {
  assert.deepEqual([...aggregate({ ...input, matchPositions: [0, 2] }, 'match').data], [1, 2, 5, 6]);
  assert.throws(() => aggregate({ ...input, matchPositions: [2, 2] }, 'match'), AtlasError);
  assert.throws(() => aggregate(input, 'match'), AtlasError);
});

test('l2 normalisation gives unit rows in the same direction', () => {
  const r = aggregate(input, 'final', { l2Normalize: true });
  assert.ok(Math.abs(r.data[0] - 3 / 5) < 1e-7 && Math.abs(r.data[1] + 4 / 5) < 1e-7);
});

test('unknown aggregation names are rejected with the valid ones listed', () => {
  assert.throws(() => parseAggregation('last'), /use one of: final, mean/);
});
