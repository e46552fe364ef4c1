import { resolve } from 'node:path';
import { parseFlags, intFlag, requireFlag, stringFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { DEFAULT_QUEUE, queueStatus, runQueueWorker, submitPlan } from '../../scale/queue.ts';

const QUEUE_FLAGS = {
  redis: { type: 'string' },
  queue: { type: 'string', default: DEFAULT_QUEUE },
  attempts: { type: 'string', default: '3' },
  'backoff-ms': { type: 'string', default: '5000' },
  concurrency: { type: 'string', default: '1' },
  'lock-ms': { type: 'string', default: '30000' },
} as const;

/** BullMQ on Redis: submit a plan as a flow, run any number of workers, watch progress. */
export const queueCommand: Command = {
  name: 'queue',
  summary: 'run a shard plan on a BullMQ queue in Redis: submit, worker, status',
  help: `Usage: latent-atlas queue submit PLAN --redis URL [--queue NAME] [--attempts 3] [--backoff-ms 5000]
       latent-atlas queue worker --redis URL [--queue NAME] [--concurrency 1] [--lock-ms 30000]
       latent-atlas queue status PLAN --redis URL

submit   queues one job per shard and a merge job that runs when all of them completed (a BullMQ flow).
         Jobs carry only the plan folder and shard number: PLAN must be on storage every worker sees.
         A failing shard is retried --attempts times with exponential back-off from --backoff-ms; if it still
         fails the merge is not run and 'queue status' shows the error. Submitting again starts a new run.
worker   takes shard and merge jobs until SIGINT/SIGTERM; start any number, on any machine.
         A worker silent for --lock-ms is presumed dead and its shard is handed to another worker.
status   state, attempts and last error of every job of the plan's latest submission.

  --redis URL    redis://[user:pass@]host:port[/db] (rediss:// for TLS); checked at start (3 s timeout)
  --queue NAME   queue name (default ${DEFAULT_QUEUE})`,
  async run(argv) {
    const [sub, ...rest] = argv;
    const { values, positionals } = parseFlags('queue', rest, QUEUE_FLAGS, true);
    const redis = requireFlag(values.redis, 'redis', 'the Redis URL, e.g. redis://127.0.0.1:6379');
    const queue = stringFlag(values.queue);
    const planArg = () => {
      if (positionals.length !== 1) throw new AtlasError(`give the plan folder: latent-atlas queue ${sub} PLAN --redis URL`);
      return resolve(positionals[0]);
    };
    if (sub === 'submit') {
      const r = await submitPlan(planArg(), { redis, queue, attempts: intFlag(values.attempts, 'attempts', 3, 1), backoffMs: intFlag(values['backoff-ms'], 'backoff-ms', 5000, 0) });
      console.log(`submitted ${r.shardJobs.length} shard jobs and merge job ${r.mergeJob} to queue '${r.queue}'`);
    } else if (sub === 'worker') {
      if (positionals.length > 0) throw new AtlasError('queue worker takes no plan folder: it runs whatever is submitted to --queue');
      const w = await runQueueWorker({ redis, queue, concurrency: intFlag(values.concurrency, 'concurrency', 1, 1), lockMs: intFlag(values['lock-ms'], 'lock-ms', 30000, 100) });
      await w.closed;
    } else if (sub === 'status') {
      const s = await queueStatus(planArg(), redis);
      const done = s.shards.filter((j) => j.state === 'completed').length;
      console.log(`run ${s.record.run} on queue '${s.record.queue}': ${done}/${s.shards.length} shards completed; merge ${s.merge.state}${s.merge.error ? ` (${s.merge.error})` : ''}`);
      for (const j of s.shards) {
        console.log(`shard ${String(j.index).padStart(3)}  ${j.state.padEnd(16)} attempts ${j.attempts}${j.progress !== undefined && j.state === 'active' ? `  ${j.progress}%` : ''}${j.state === 'failed' && j.error ? `  error: ${j.error}` : ''}`);
      }
      if (s.shards.some((j) => j.state === 'failed')) process.exitCode = 1;
    } else {
      throw new AtlasError(`unknown queue subcommand '${sub ?? ''}'`, { hint: 'use submit, worker or status' });
    }
  },
};
