import { resolve } from 'node:path';
import { parseFlags, stringFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { mergePlan } from '../../scale/merge.ts';

/** Assembles a plan's finished shards into the ordinary activation cache. */
export const mergeCommand: Command = {
  name: 'merge',
  summary: "assemble a plan's finished shards into the ordinary activation cache",
  help: `Usage: latent-atlas merge PLAN [--cache DIR]

Checks that every shard is finished and was written for this plan's model, dataset and options hash, then
writes the same cache entry a single-process 'latent-atlas extract' would (byte-identical arrays) and prints
its folder. Refuses, writing nothing, while a shard is missing or was written under another key.

  --cache DIR    cache root (default: the one recorded in the plan)`,
  async run(argv) {
    const { values, positionals } = parseFlags('merge', argv, { cache: { type: 'string' } }, true);
    if (positionals.length !== 1) throw new AtlasError('give the plan folder: latent-atlas merge PLAN');
    const r = mergePlan(resolve(positionals[0]), { cacheRoot: stringFlag(values.cache) });
    console.log(`${r.cached ? 'already merged' : 'merged'}: ${r.rows} rows × ${r.cols}`);
    console.log(r.dir);
  },
};
