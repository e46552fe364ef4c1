/**
 * The elastic backend: a BullMQ flow on Redis over a shard plan. One parent job ("merge") with one child job per
 * shard; BullMQ runs the parent only when every child completed, so the merge happens exactly once, after the
 * last shard, on whichever worker is free. A child that fails is retried with exponential back-off; once it has
 * used all its attempts it fails the parent (failParentOnFailure), so a broken shard stops the merge and
 * `queue status` shows its error.
 *
 * Jobs carry only descriptors ({plan folder, plan id, shard index}); the arrays stay on the shared storage the
 * plan lives on. A worker killed mid-shard loses its job lock; BullMQ's stalled-job check hands the job to
 * another worker, and the shard folder protocol (shard.ts) makes the rerun safe.
 *
 * bullmq and ioredis are optional dependencies, loaded on first use.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AtlasError } from '../errors.ts';
import { writeJsonAtomic } from '../data/atomic.ts';
import { readShardPlan, type ShardPlan } from './plan.ts';
import { computeShard, loadPlanInputs, shardState, type PlanInputs } from './shard.ts';
import { mergePlan } from './merge.ts';

type BullMQ = typeof import('bullmq');
type RedisClass = typeof import('ioredis').Redis;
type RedisClient = InstanceType<RedisClass>;

export const DEFAULT_QUEUE = 'latent-atlas';
/** Written by `queue submit`: which queue and job ids the plan's current run uses (read by `queue status`). */
export const QUEUE_FILE = 'queue.json';

export interface QueueRecord {
  queue: string;
  run: string;
  planId: string;
  mergeJob: string;
  shardJobs: string[];
  submitted: string;
}

export interface ShardJobData {
  plan: string;
  planId: string;
  shard: number;
}

async function loadQueueDeps(): Promise<{ bullmq: BullMQ; Redis: RedisClass }> {
  try {
    const [bullmq, ioredis] = await Promise.all([import('bullmq'), import('ioredis')]);
    return { bullmq, Redis: ioredis.Redis };
  } catch (e) {
    throw new AtlasError(`the queue backend needs the optional packages bullmq and ioredis (${(e as Error).message.split('\n')[0]})`, { hint: 'npm install bullmq ioredis' });
  }
}

/**
 * Opens a Redis connection and checks that the server answers within `timeoutMs`, so a wrong or dead URL is one
 * clear error in bounded time instead of an endless reconnect loop. The returned client retries as BullMQ needs.
 */
export async function connectRedis(url: string, timeoutMs = 3000): Promise<{ client: RedisClient; Redis: RedisClass; bullmq: BullMQ }> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new AtlasError(`'${url}' is not a URL`, { field: 'redis', hint: 'e.g. redis://127.0.0.1:6379' });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new AtlasError(`'${url}' is not a redis:// or rediss:// URL`, { field: 'redis' });
  const { bullmq, Redis } = await loadQueueDeps();
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  let lastError: Error | undefined; // the socket's own error (ECONNREFUSED, ENOTFOUND) says more than the rejection
  probe.on('error', (e: Error) => { lastError = e; });
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe.connect().then(() => probe.ping()),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs); }),
    ]);
  } catch (e) {
    throw new AtlasError(`Redis at ${url} does not answer: ${(lastError ?? (e as Error)).message}`, { field: 'redis', hint: 'start redis-server there or fix --redis' });
  } finally {
    clearTimeout(timer);
    probe.disconnect();
  }
  const client = new Redis(url, { maxRetriesPerRequest: null });
  client.on('error', () => {}); // ioredis reconnects; BullMQ surfaces lasting failures
  return { client, Redis, bullmq };
}

export interface SubmitOptions {
  redis: string;
  queue?: string;
  /** Attempts per shard (first run included). Default 3. */
  attempts?: number;
  /** First retry delay; doubles each retry. Default 5000 ms. */
  backoffMs?: number;
}

/** Submits a plan as one flow: a merge job whose children are the shard jobs. Returns the record written to PLAN/queue.json. */
export async function submitPlan(planDir: string, o: SubmitOptions): Promise<QueueRecord> {
  const dir = resolve(planDir);
  const plan = readShardPlan(dir);
  const queue = o.queue ?? DEFAULT_QUEUE;
  const { client, bullmq } = await connectRedis(o.redis);
  const flow = new bullmq.FlowProducer({ connection: client });
  try {
    // A fresh run tag per submission, so resubmitting after a failure starts new jobs instead of finding old ones.
    const run = `${plan.id}-${Date.now().toString(36)}`;
    const shardJobs = plan.shards.map((s) => `${run}-shard-${s.index}`);
    const mergeJob = `${run}-merge`;
    await flow.add({
      name: 'merge',
      queueName: queue,
      data: { plan: dir, planId: plan.id },
      opts: { jobId: mergeJob, removeOnComplete: false, removeOnFail: false },
      children: plan.shards.map((s, i) => ({
        name: 'shard',
        queueName: queue,
        data: { plan: dir, planId: plan.id, shard: s.index } satisfies ShardJobData,
        opts: {
          jobId: shardJobs[i],
          attempts: o.attempts ?? 3,
          backoff: { type: 'exponential', delay: o.backoffMs ?? 5000 },
          failParentOnFailure: true,
          removeOnComplete: false,
          removeOnFail: false,
        },
      })),
    });
    const record: QueueRecord = { queue, run, planId: plan.id, mergeJob, shardJobs, submitted: new Date().toISOString() };
    writeJsonAtomic(join(dir, QUEUE_FILE), record);
    return record;
  } finally {
    await flow.close();
    client.disconnect();
  }
}

export interface WorkerOptions {
  redis: string;
  queue?: string;
  /** Jobs at once in this process. Default 1 (a shard already uses every core through the runtime). */
  concurrency?: number;
  /** Job lock; a worker silent for this long is presumed dead and its job is handed to another. Default 30000 ms. */
  lockMs?: number;
  /** One line per event (default: console.log). */
  log?: (line: string) => void;
}

/**
 * Keeps the loaded model of the last plan between jobs (shards of one plan follow each other), releasing it
 * when a job of another plan arrives.
 */
class InputsCache {
  private key = '';
  private inputs: Promise<PlanInputs> | null = null;

  async get(plan: ShardPlan, dir: string): Promise<PlanInputs> {
    const key = `${dir}\n${plan.id}`;
    if (key !== this.key || !this.inputs) {
      await this.release();
      this.key = key;
      this.inputs = loadPlanInputs(plan, dir);
      this.inputs.catch(() => { this.key = ''; this.inputs = null; });
    }
    return this.inputs;
  }

  async release(): Promise<void> {
    const p = this.inputs;
    this.inputs = null;
    this.key = '';
    if (p) await p.then((i) => i.model.release(), () => {});
  }
}

/** Runs a queue worker until SIGINT/SIGTERM (or until the returned `close` is called). */
export async function runQueueWorker(o: WorkerOptions): Promise<{ closed: Promise<void>; close: () => Promise<void> }> {
  const log = o.log ?? ((l: string) => console.log(l));
  const queue = o.queue ?? DEFAULT_QUEUE;
  const lockMs = o.lockMs ?? 30000;
  const { client, bullmq } = await connectRedis(o.redis);
  const inputs = new InputsCache();
  const worker = new bullmq.Worker(queue, async (job) => {
    const data = job.data as ShardJobData;
    const plan = readShardPlan(data.plan);
    if (plan.id !== data.planId) throw new AtlasError(`the plan changed since it was submitted (queued ${data.planId}, now ${plan.id})`, { file: data.plan, hint: 'submit it again' });
    if (job.name === 'merge') {
      const r = mergePlan(data.plan);
      log(`merge ${plan.id}: ${r.rows} rows × ${r.cols} → ${r.dir}`);
      return { dir: r.dir };
    }
    if (shardState(plan, data.plan, data.shard).state === 'done') {
      log(`shard ${data.shard}: already finished`);
      return { computed: false };
    }
    log(`shard ${data.shard}: started (attempt ${job.attemptsMade + 1}, pid ${process.pid})`);
    const r = await computeShard(plan, data.plan, data.shard, await inputs.get(plan, data.plan), {
      onBatch: (_b, done, total) => { void job.updateProgress(Math.round((100 * done) / total)); },
    });
    log(`shard ${data.shard}: ${r.computed ? 'computed' : 'finished by another worker'}`);
    return { computed: r.computed };
  }, { connection: client, concurrency: o.concurrency ?? 1, lockDuration: lockMs, stalledInterval: lockMs, maxStalledCount: 2 });
  worker.on('failed', (job, err) => log(`${job?.name ?? 'job'} ${job?.data?.shard ?? ''}: failed (attempt ${job?.attemptsMade}): ${err.message}`));
  worker.on('error', (err) => log(`worker error: ${err.message}`));
  let closing: Promise<void> | null = null;
  const close = () => (closing ??= (async () => {
    await worker.close();
    await inputs.release();
    client.disconnect();
  })());
  const closed = new Promise<void>((done) => {
    const stop = () => { void close().then(done); };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
    void worker.waitUntilReady().then(() => log(`worker ready on queue '${queue}' (pid ${process.pid})`));
  });
  return { closed, close };
}

export interface ShardJobStatus {
  index: number;
  state: string;
  attempts: number;
  error?: string;
  progress?: number;
}

export interface QueueStatus {
  record: QueueRecord;
  merge: { state: string; error?: string };
  shards: ShardJobStatus[];
}

export function readQueueRecord(planDir: string): QueueRecord {
  const file = join(resolve(planDir), QUEUE_FILE);
  if (!existsSync(file)) throw new AtlasError('this plan was never submitted to a queue', { file, hint: "run 'latent-atlas queue submit PLAN --redis URL'" });
  return JSON.parse(readFileSync(file, 'utf8')) as QueueRecord;
}

/** The state of every job of the plan's latest submission. */
export async function queueStatus(planDir: string, redis: string): Promise<QueueStatus> {
  const record = readQueueRecord(planDir);
  const { client, bullmq } = await connectRedis(redis);
  const q = new bullmq.Queue(record.queue, { connection: client });
  try {
    const stateOf = async (id: string) => {
      const job = await q.getJob(id);
      if (!job) return { state: 'unknown', attempts: 0 };
      const state = await job.getState();
      return { state, attempts: job.attemptsMade, error: job.failedReason || undefined, progress: typeof job.progress === 'number' ? job.progress : undefined };
    };
    const shards = await Promise.all(record.shardJobs.map(async (id, index) => ({ index, ...(await stateOf(id)) })));
    const m = await stateOf(record.mergeJob);
    return { record, merge: { state: m.state, error: m.error }, shards };
  } finally {
    await q.close();
    client.disconnect();
  }
}
