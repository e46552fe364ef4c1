import { resolve } from 'node:path';
import { parseFlags, intFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { readShardPlan, shardIndex } from '../../scale/plan.ts';
import { computeShard, loadPlanInputs } from '../../scale/shard.ts';
import { runLocalWorkers } from '../../scale/local-workers.ts';
import { mergePlan, planProgress } from '../../scale/merge.ts';

const WORK_FLAGS = {
  shard: { type: 'string' },
  workers: { type: 'string' },
  'no-merge': { type: 'boolean', default: false },
} as const;

/** Computes one shard of a plan (a Slurm array task, a manual run) or all of them with local worker processes. */
export const workCommand: Command = {
  name: 'work',
  summary: 'compute one shard of a plan (--shard i), or all shards with local worker processes (--workers N)',
  help: `Usage: latent-atlas work PLAN --shard I
       latent-atlas work PLAN --workers N [--no-merge]

--shard I     computes shard I into PLAN/shards/shard-I (atomically: the folder appears complete or not at
              all); a finished shard is not recomputed, and two runs of one shard at once are safe.
              In a Slurm array: --shard "$SLURM_ARRAY_TASK_ID" (PLAN/sbatch.sh does this).
--workers N   runs every unfinished shard, N processes at a time, then merges (unless --no-merge).`,
  async run(argv) {
    const { values, positionals } = parseFlags('work', argv, WORK_FLAGS, true);
    if (positionals.length !== 1) throw new AtlasError('give the plan folder: latent-atlas work PLAN --shard I');
    const planDir = resolve(positionals[0]);
    const plan = readShardPlan(planDir);
    if ((values.shard === undefined) === (values.workers === undefined)) throw new AtlasError('give exactly one of --shard I and --workers N');
    if (values.workers !== undefined) {
      const workers = intFlag(values.workers, 'workers', 1, 1);
      const todo = planProgress(plan, planDir).missing;
      const r = await runLocalWorkers(planDir, todo, workers, (i, ok) => console.error(`shard ${i}: ${ok ? 'done' : 'FAILED'}`));
      if (r.failed.length > 0) {
        throw new AtlasError(`${r.failed.length} shard(s) failed: ${r.failed.map((f) => `shard ${f.index}: ${f.message}`).join('; ')}`, { file: planDir });
      }
      console.log(`computed ${r.computed.length} shards with ${workers} workers`);
      if (values['no-merge'] !== true) {
        const m = mergePlan(planDir);
        console.log(`merged: ${m.rows} rows × ${m.cols}`);
        console.log(m.dir);
      }
      return;
    }
    const index = shardIndex(plan, planDir, values.shard);
    const inputs = await loadPlanInputs(plan, planDir);
    try {
      const r = await computeShard(plan, planDir, index, inputs);
      console.log(`shard ${index}: ${r.computed ? 'computed' : 'already finished'}`);
      console.log(r.dir);
    } finally {
      await inputs.model.release();
    }
  },
};
