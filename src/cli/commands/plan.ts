import { join, resolve } from 'node:path';
import { parseFlagsWithConfig, intFlag, requireFlag, stringFlag, type Command } from '../command.ts';
import { MODEL_DATA_FLAGS, MODEL_DATA_HELP, datasetFromFlags, extractOptionsFromFlags, modelFromFlags } from '../shared-flags.ts';
import { defaultCacheRoot, planExtraction } from '../../data/extract.ts';
import { makeShardPlan, writeShardPlan, PLAN_TOKENS_DIR } from '../../scale/plan.ts';
import { storeTokens } from '../../data/token-cache.ts';
import { writeSlurmScripts } from '../../scale/slurm.ts';

const PLAN_FLAGS = {
  ...MODEL_DATA_FLAGS,
  shards: { type: 'string' },
  out: { type: 'string' },
} as const;

/** Splits an extraction into shards that separate processes or machines compute (see docs/scale.md). */
export const planCommand: Command = {
  name: 'plan',
  summary: 'split an extraction into N shards for workers, Slurm arrays or a BullMQ queue',
  help: `Usage: latent-atlas plan --model MODEL --data SOURCE [extraction options] --shards N --out PLAN

Writes PLAN/plan.json (model and dataset fingerprints, options hash, batch and row ranges per shard),
PLAN/extra-meta.json and Slurm scripts (PLAN/sbatch.sh, merge.sbatch.sh, slurm-submit.sh). Then compute the
shards with 'latent-atlas work PLAN --shard i' (or --workers N, or 'latent-atlas queue submit/worker') and
assemble the ordinary cache with 'latent-atlas merge PLAN': the result equals a single-process extract byte
for byte. An existing identical plan is kept with its finished shards; --force replaces a different one.

Plan options:
  --shards N             number of shards (at most the number of batches)
  --out DIR              plan folder (on storage every worker sees)

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values } = parseFlagsWithConfig('plan', argv, PLAN_FLAGS);
    const out = resolve(requireFlag(values.out, 'out', 'the plan folder'));
    const shards = intFlag(requireFlag(values.shards, 'shards', 'the number of shards'), 'shards', 1, 1);
    const dataset = await datasetFromFlags(values);
    const model = await modelFromFlags(values);
    try {
      const x = planExtraction(model, dataset, extractOptionsFromFlags(values));
      const plan = makeShardPlan(x, {
        modelArg: model.id, datasetSource: dataset.source, datasetName: dataset.name,
        cacheRoot: stringFlag(values.cache) ?? defaultCacheRoot(), flags: values, shards,
      });
      const { reused } = writeShardPlan(out, plan, x.extraMeta, values.force === true);
      // The token cache the merged entry's meta.json names: kept in the plan folder until the merge places it.
      if (x.tokensDir) storeTokens(join(out, PLAN_TOKENS_DIR), x.tokens, model.tokenizer, x.tokenOptions);
      writeSlurmScripts(out, plan);
      console.log(`${reused ? 'kept existing plan' : 'planned'} ${plan.id}: ${dataset.texts.length} texts in ${plan.numBatches} batches, ${shards} shards (options hash ${plan.optionsHash})`);
      console.log(out);
    } finally {
      await model.release();
    }
  },
};
