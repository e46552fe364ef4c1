import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cleanDoubledMarks } from '../src/data/brown.ts';
import { loadDataset } from '../src/data/dataset.ts';

test("issue 15.8: Brown's doubled marks are single in the built-in texts; a passage never ends on a semicolon", async () => {
  assert.equal(cleanDoubledMarks('centered in Hempstead;; Levittown is next;; the end;;'), 'centered in Hempstead; Levittown is next; the end.');
  assert.equal(cleanDoubledMarks('Are tractors available?? Does anybody care!! "Communism"!!'), 'Are tractors available? Does anybody care! "Communism"!');
  assert.equal(cleanDoubledMarks('he said "flesh";;'), 'he said "flesh".');
  assert.equal(cleanDoubledMarks('a... b -- c'), 'a... b -- c', 'other punctuation untouched');
  const ds = await loadDataset('builtin:brown-genres');
  assert.equal(ds.texts.length, 300);
  // Before: 80 of 300 texts held ";;", "??" or "!!".
  assert.deepEqual(ds.texts.filter((t) => /;;|\?\?|!!/.test(t)), []);
  assert.deepEqual(ds.texts.filter((t) => /;["')\]]*$/.test(t)), []);
});
