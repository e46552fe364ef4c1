/**
 * The BullMQ backend against a real redis-server (Debian package redis-server; .ci/run installs it), started
 * here on a free loopback port without persistence and stopped at the end. Two queue workers run as separate
 * processes; one is slowed by a preload (test/fixtures/slow-batch-writes.mjs) so it can be killed mid-shard.
 */
import { CLI_ARGS } from './cli-entry.ts';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readShardPlan, shardDir, SHARD_FILE } from '../src/scale/plan.ts';
import { stagingFolders } from '../src/scale/shard.ts';
import { mergePlan } from '../src/scale/merge.ts';
import { connectRedis, queueStatus, submitPlan, QUEUE_FILE, type QueueStatus } from '../src/scale/queue.ts';
import { AtlasError } from '../src/errors.ts';
import { scaleFixture, extractFlags, cli, filesUnder, entryUnder, metaWithoutTime, type ScaleFixture } from './scale-fixture.ts';


const slow = join(import.meta.dirname, 'fixtures', 'slow-batch-writes.mjs');
const QUEUE = 'scale-test';
let f: ScaleFixture;
let redis: ChildProcess;
let url: string;
const workers: ChildProcess[] = [];

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const s = createServer();
    s.on('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => done(port));
    });
  });
}

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v as T;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startWorker(opts: { slow?: boolean } = {}): ChildProcess & { out: string[] } {
  const args = [...(opts.slow ? ['--import', slow] : []), ...CLI_ARGS, 'queue', 'worker', '--redis', url, '--queue', QUEUE, '--lock-ms', '2000'];
  const child = spawn(process.execPath, args, { env: { ...process.env, LATENT_ATLAS_QUIET: '1' }, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { out: string[] };
  child.out = [];
  child.stdout!.on('data', (d: Buffer) => child.out.push(...d.toString().split('\n').filter(Boolean)));
  child.stderr!.on('data', (d: Buffer) => child.out.push(...d.toString().split('\n').filter(Boolean)));
  workers.push(child);
  return child;
}

before(async () => {
  const which = spawnSync('redis-server', ['--version']);
  if (which.error) throw new Error('redis-server is not installed (Debian: apt-get install -y redis-server; .ci/run does this)');
  const port = await freePort();
  url = `redis://127.0.0.1:${port}`;
  redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  await waitFor('redis-server', async () => {
    try {
      (await connectRedis(url, 500)).client.disconnect();
      return true;
    } catch {
      return undefined;
    }
  }, 20_000);
  f = scaleFixture('atlas-scale-queue-');
  await cli(['extract', ...extractFlags(f, join(f.root, 'ref'))]);
});

after(async () => {
  for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGTERM');
  await Promise.all(workers.map((w) => (w.exitCode === null && w.signalCode === null ? new Promise((r) => w.once('exit', r)) : null)));
  redis?.kill('SIGTERM');
  if (f) rmSync(f.root, { recursive: true, force: true });
});

/** Every file under dir whose name marks an unfinished write. */
function partialFiles(dir: string): string[] {
  return existsSync(dir) ? [...filesUnder(dir).keys()].filter((n) => /\.tmp-|\.staging-/.test(n)) : [];
}

const status = (P: string) => queueStatus(P, url);

test('two queue workers on 8 shards: merged cache byte-identical to extract; a worker SIGKILLed mid-shard leaves no partial file and its shard is completed by the other', async () => {
  const P = join(f.root, 'plan-q');
  const cache = join(f.root, 'cache-q');
  await cli(['plan', ...extractFlags(f, cache), '--shards', '8', '--out', P]);
  await submitPlan(P, { redis: url, queue: QUEUE, attempts: 3, backoffMs: 200 });

  const a = startWorker({ slow: true });
  // Worker A is mid-shard once its staging folder holds a finished batch (each batch then takes 400 ms).
  const staging = await waitFor('worker A to write a batch', () => {
    const hit = stagingFolders(P).find((n) => n.includes(`-${a.pid}-`));
    return hit && [...filesUnder(join(P, 'shards', hit)).keys()].some((k) => /batch-\d+\.bin$/.test(k)) ? hit : undefined;
  });
  const killedShard = Number(/^\.staging-(\d+)-/.exec(staging)![1]);
  const b = startWorker();
  a.kill('SIGKILL');
  await new Promise((r) => a.once('exit', r));

  const done = await waitFor('the merge job', async () => {
    const s = await status(P);
    assert.ok(!s.shards.some((j) => j.state === 'failed'), JSON.stringify(s.shards));
    return s.merge.state === 'completed' ? s : undefined;
  }, 90_000);
  assert.ok(done.shards.every((j) => j.state === 'completed'));

  // The killed shard was finished by worker B; A finished none.
  const plan = readShardPlan(P);
  const record = JSON.parse(readFileSync(join(shardDir(P, killedShard), SHARD_FILE), 'utf8'));
  assert.equal(record.pid, b.pid, `shard ${killedShard} should be B's`);
  for (const s of plan.shards) assert.notEqual(JSON.parse(readFileSync(join(shardDir(P, s.index), SHARD_FILE), 'utf8')).pid, a.pid);
  assert.ok(b.out.some((l) => l.includes(`shard ${killedShard}: started`)), b.out.join('\n'));
  assert.deepEqual(partialFiles(P), []);
  assert.deepEqual(partialFiles(cache), []);

  const ref = entryUnder(join(f.root, 'ref'));
  const entry = entryUnder(cache);
  const want = filesUnder(ref);
  const got = filesUnder(entry);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, bytes] of want) if (name !== 'meta.json') assert.ok(bytes.equals(got.get(name)!), `${name} differs from the single-process extract`);
  assert.deepEqual(metaWithoutTime(entry), metaWithoutTime(ref));
});

test('a shard that fails on every attempt is reported with its error and the merge refuses', async () => {
  const P = join(f.root, 'plan-fail');
  const cache = join(f.root, 'cache-fail');
  await cli(['plan', ...extractFlags(f, cache), '--shards', '4', '--out', P]);
  // Something that is not a shard folder sits where shard 2 must go: every attempt fails.
  mkdirSync(join(P, 'shards'), { recursive: true });
  writeFileSync(join(P, 'shards', 'shard-2'), 'not a shard\n');
  await submitPlan(P, { redis: url, queue: QUEUE, attempts: 2, backoffMs: 100 });
  if (!workers.some((w) => w.exitCode === null && w.signalCode === null)) startWorker();
  const s: QueueStatus = await waitFor('shard 2 to fail for good', async () => {
    const st = await status(P);
    return st.shards[2].state === 'failed' && st.merge.state === 'failed' ? st : undefined;
  }, 60_000);
  assert.equal(s.shards[2].attempts, 2);
  assert.match(s.shards[2].error ?? '', /shard 2 is not a folder/);
  assert.throws(() => mergePlan(P), (e: Error) => e instanceof AtlasError && /shard 2 is not a folder; nothing was merged/.test(e.message));
  assert.equal(existsSync(cache), false, 'nothing was merged');
});

test('a Redis URL that does not answer is one clear error, and nothing is submitted', async () => {
  const P = join(f.root, 'plan-q');
  const dead = `redis://127.0.0.1:${await freePort()}`;
  rmSync(join(P, QUEUE_FILE));
  await assert.rejects(submitPlan(P, { redis: dead, queue: QUEUE }), (e: Error) => e instanceof AtlasError && /Redis at redis:\/\/127\.0\.0\.1:\d+ does not answer: connect ECONNREFUSED/.test(e.message));
  assert.equal(existsSync(join(P, QUEUE_FILE)), false);
  await assert.rejects(connectRedis('http://localhost:1'), /is not a redis:\/\/ or rediss:\/\/ URL/);
});
