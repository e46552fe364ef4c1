import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockCacheEntry } from '../src/data/cache-lock.ts';
import { isAtlasError } from '../src/errors.ts';

let root: string;
before(() => { root = mkdtempSync(join(tmpdir(), 'atlas-lock-')); });
after(() => rmSync(root, { recursive: true, force: true }));

function runChild(script: string, args: string[], onStdout: (all: string) => void = () => {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', script, ...args], { cwd: join(import.meta.dirname, '..'), env: { ...process.env, LATENT_ATLAS_QUIET: '1' } });
    let stdout = '', stderr = '';
    p.stdout.on('data', (c) => { stdout += c; onStdout(stdout); });
    p.stderr.on('data', (c) => (stderr += c));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

test('issue 15.13: two processes extracting the same cache entry: the second waits, says for whom, and reads the result', async () => {
  const model = join(root, 'tiny');
  const { writeTinyCheckpoint } = await import('../src/model/tiny-checkpoint.ts');
  writeTinyCheckpoint(model, { architecture: 'gpt2', seed: 3, nLayer: 2 });
  const script = join(root, 'extract-child.mts');
  const src = join(import.meta.dirname, '..', 'src');
  // Both children load the model, say READY, and start extracting together when the test creates the 'go' file;
  // batches of one over 300 texts keep the winner busy long enough for the other to find the lock.
  writeFileSync(script, `
import { loadModel } from ${JSON.stringify(join(src, 'model', 'load.ts'))};
import { assembleDataset } from ${JSON.stringify(join(src, 'data', 'dataset.ts'))};
import { extractActivations } from ${JSON.stringify(join(src, 'data', 'extract.ts'))};
import { existsSync } from 'node:fs';
const [modelDir, cacheRoot, go] = process.argv.slice(2);
const texts = Array.from({ length: 300 }, (_, i) => 'text number ' + i + ' about the ' + ['cat', 'dog', 'sea'][i % 3] + ' and more words to run');
const model = await loadModel(modelDir, { threads: 1 });
const ds = assembleDataset({ name: 'lock', source: 'memory', texts, labelNames: texts.map((_, i) => String(i % 2)), warnings: [] });
console.log('READY');
while (!existsSync(go)) await new Promise((r) => setTimeout(r, 20));
const r = await extractActivations(model, ds, { cacheRoot, batchSize: 1, progress: false, onWarning: (w) => console.error('warning: ' + w) });
console.log(JSON.stringify({ cached: r.cached, dir: r.dir, rows: r.meta.rows }));
await model.release();
`);
  const cacheRoot = join(root, 'cache');
  const go = join(root, 'go');
  const ready: Promise<void>[] = [];
  const children = [0, 1].map(() => {
    let signal!: () => void;
    ready.push(new Promise<void>((r) => (signal = r)));
    return runChild(script, [model, cacheRoot, go], (out) => { if (out.includes('READY')) signal(); });
  });
  await Promise.all(ready);
  writeFileSync(go, '');
  const [first, second] = children;
  const lockFile = () => (existsSync(cacheRoot) ? readdirSync(cacheRoot, { recursive: true }).map(String).find((f) => f.endsWith('.lock')) : undefined);
  const [a, b] = await Promise.all([first, second]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  // Which one won the lock is up to the scheduler: the one that computed is 'a'.
  const parse = (r: { stdout: string }) => JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  const [ra, rb, waiter] = parse(a).cached ? [parse(b), parse(a), a] : [parse(a), parse(b), b];
  assert.equal(ra.cached, false);
  assert.equal(rb.cached, true, 'the second one read the first one\'s result');
  assert.equal(rb.rows, 300);
  assert.match(waiter.stderr, new RegExp(`waiting for process \\d+ on ${hostname()} .*computing this cache entry`));
  assert.ok(!existsSync(join(ra.dir, 'parts')), 'no stale parts/ left');
  assert.equal(lockFile(), undefined, 'the lock is released');
});

test('issue 15.13: a lock left by a dead process is stale and taken over; a live owner is named when waiting times out', async () => {
  const entry = join(root, 'entry-a');
  const dead = Number(execFileSync(process.execPath, ['-e', 'console.log(process.pid)']).toString().trim());
  writeFileSync(`${entry}.lock`, JSON.stringify({ pid: dead, host: hostname(), started: '2026-01-01T00:00:00.000Z', command: 'latent-atlas extract' }));
  const messages: string[] = [];
  const release = await lockCacheEntry(entry, { onMessage: (m) => messages.push(m) });
  assert.match(messages[0], new RegExp(`removed a stale lock of process ${dead} on .*no longer running`));
  release();
  assert.ok(!existsSync(`${entry}.lock`));
  // A live owner (this test's parent process) holds entry-b: after the timeout the error names it and the file.
  const entryB = join(root, 'entry-b');
  writeFileSync(`${entryB}.lock`, JSON.stringify({ pid: process.ppid, host: hostname(), started: '2026-01-01T00:00:00.000Z', command: 'latent-atlas map' }));
  const waits: string[] = [];
  await assert.rejects(lockCacheEntry(entryB, { timeoutMs: 300, pollMs: 50, onMessage: (m) => waits.push(m) }), (e) => {
    assert.ok(isAtlasError(e));
    assert.match(e.message, new RegExp(`entry-b\\.lock: this cache entry is being computed by process ${process.ppid} on .*latent-atlas map.*if that process is gone, remove .*entry-b\\.lock`));
    return true;
  });
  assert.equal(waits.length, 1);
});
