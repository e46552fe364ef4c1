/**
 * The session cache (issue 18, session-cache.ts): a second runtime on the same model and output selection loads
 * the saved session without reading a single weight and gives the same numbers; another output selection, a
 * changed checkpoint or an incomplete entry are misses; streamed segments are cached too; the CLI flag works.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyFamilyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { openCheckpoint, type Checkpoint } from '../src/model/checkpoint.ts';
import { TransformerRuntime } from '../src/model/runtime.ts';
import { StreamedRuntime } from '../src/model/streamed-runtime.ts';
import { modelKeyFromFolder } from '../src/data/activation-cache.ts';
import { SESSION_CACHE_COMPLETE } from '../src/model/session-cache.ts';
import { runCli } from './cli-inprocess.ts';

const root = mkdtempSync(join(tmpdir(), 'atlas-session-cache-'));
after(() => rmSync(root, { recursive: true, force: true }));

/**
 * Counts the weight matrices (canonical tensors of ≥ 2 dims) a runtime reads from the checkpoint. The graph's
 * small eager constants (biases, norm scales, folded in at build time) are read on a hit too; matrices never.
 */
function countReads(ckpt: Checkpoint): { n: number } {
  const count = { n: 0 };
  const get = ckpt.weights.get.bind(ckpt.weights);
  ckpt.weights.get = (name, scratch) => {
    const t = get(name, scratch);
    if (t.shape.length >= 2) count.n++;
    return t;
  };
  return count;
}

const entries = (cache: string): string[] => readdirSync(cache).flatMap((m) => readdirSync(join(cache, m)).map((e) => join(m, e)));

function maxRelDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let ref = 0, diff = 0;
  for (let i = 0; i < a.length; i++) { ref = Math.max(ref, Math.abs(b[i]!)); diff = Math.max(diff, Math.abs(a[i]! - b[i]!)); }
  assert.ok(ref > 0);
  return diff / ref;
}

const T = 5;
const input = (vocab: number) => ({ ids: Int32Array.from({ length: 2 * T }, (_, i) => (i * 7 + 3) % vocab), attentionMask: new Uint8Array(2 * T).fill(1), batch: 2, seqLen: T });

test('a second runtime loads the cached session without reading weights, with the same numbers; other selections and models miss', async () => {
  const dir = join(root, 'llama');
  const cache = join(root, 'cache');
  const { config } = writeTinyFamilyCheckpoint(dir, { modelType: 'llama', seed: 4, layers: 2, dtype: 'BF16' });
  const x = input(config.vocabSize);
  const plain = openCheckpoint(dir);
  const ref = await TransformerRuntime.create(plain, { threads: 1 });
  const want = await ref.forward(x, { logits: 'all' });
  await ref.release();
  plain.close();

  const run = async (opts: { logits: 'all' | 'none' }) => {
    const ckpt = openCheckpoint(dir);
    const reads = countReads(ckpt);
    const rt = await TransformerRuntime.create(ckpt, { threads: 1, sessionCache: cache, modelKey: modelKeyFromFolder(dir) });
    const out = await rt.forward(x, opts);
    const res = { out, reads: reads.n, hits: rt.timings.sessionCacheHits ?? 0 };
    await rt.release();
    ckpt.close();
    return res;
  };
  const first = await run({ logits: 'all' });
  assert.ok(first.reads > 0, 'the first run reads the weights');
  assert.equal(first.hits, 0);
  // hidden states only (built at create) and hidden states + logits: two entries
  assert.equal(entries(cache).length, 2);
  const second = await run({ logits: 'all' });
  assert.equal(second.reads, 0, 'a cache hit reads no weight matrix');
  assert.equal(second.hits, 2);
  for (const r of [first, second]) {
    for (let l = 0; l < want.hiddenStates.length; l++) assert.ok(maxRelDiff(r.out.hiddenStates[l]!.data, want.hiddenStates[l]!.data) <= 1e-5, `hidden ${l}`);
    assert.ok(maxRelDiff(r.out.logits!.data, want.logits!.data) <= 1e-5, 'logits');
  }
  // an entry without its completion marker (a crash while writing) is rebuilt, not read
  for (const e of entries(cache)) rmSync(join(cache, e, SESSION_CACHE_COMPLETE));
  const rebuilt = await run({ logits: 'none' });
  assert.ok(rebuilt.reads > 0);
  assert.equal(rebuilt.hits, 0);
  // another checkpoint in the same folder (another seed: other bytes, other mtime) has another key
  const before = entries(cache).length;
  writeTinyFamilyCheckpoint(dir, { modelType: 'llama', seed: 5, layers: 2, dtype: 'BF16' });
  const changed = await run({ logits: 'none' });
  assert.ok(changed.reads > 0, 'a changed checkpoint is a miss');
  assert.ok(entries(cache).length > before);
  assert.ok(maxRelDiff(changed.out.hiddenStates[2]!.data, want.hiddenStates[2]!.data) > 1e-3, 'the changed model gives other numbers');
});

test('streamed segments are cached too, equal to whole-model execution; the CLI flag writes entries', async () => {
  const dir = join(root, 'gpt2');
  const cache = join(root, 'cache-streamed');
  const { config } = writeTinyFamilyCheckpoint(dir, { modelType: 'gpt2', seed: 2, layers: 3 });
  const x = input(config.vocabSize);
  const ckpt = openCheckpoint(dir);
  const whole = await TransformerRuntime.create(ckpt, { threads: 1 });
  const want = await whole.forward(x);
  await whole.release();
  for (const pass of [0, 1]) {
    const reads = countReads(ckpt);
    const rt = await StreamedRuntime.create(ckpt, { threads: 1, segmentBytes: 1, sessionCache: cache, modelKey: modelKeyFromFolder(dir) });
    const out = await rt.forward(x);
    for (let l = 0; l < want.hiddenStates.length; l++) assert.ok(maxRelDiff(out.hiddenStates[l]!.data, want.hiddenStates[l]!.data) <= 1e-5, `pass ${pass} hidden ${l}`);
    if (pass === 1) assert.equal(reads.n, 0, 'the second pass reads no weight matrix');
    await rt.release();
  }
  assert.equal(entries(cache).length, 3, 'one entry per segment (one block each)');
  ckpt.close();

  const data = join(root, 'texts.txt');
  writeFileSync(data, 'a short text\nanother text here\n');
  const cliCache = join(root, 'cli-cache');
  mkdirSync(cliCache);
  for (const run of [0, 1]) {
    const r = await runCli(['extract', dir, '--data', data, '--cache', join(root, `acts-${run}`), '--session-cache', cliCache]);
    assert.equal(r.code, 0, r.stderr);
  }
  assert.equal(entries(cliCache).length, 1);
  assert.ok(existsSync(join(cliCache, entries(cliCache)[0]!, SESSION_CACHE_COMPLETE)));
});
