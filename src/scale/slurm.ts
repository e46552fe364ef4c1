import { selfCommand } from '../cli/self.ts';
/**
 * Slurm job arrays over a shard plan: one array task per shard (`work PLAN --shard $SLURM_ARRAY_TASK_ID`),
 * then one merge job that starts when every task succeeded (`--dependency=afterok`). The scripts call this
 * installation's node and CLI by absolute path, so the cluster nodes must see the same paths (shared storage).
 */
import { chmodSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileAtomic } from '../data/atomic.ts';
import type { ShardPlan } from './plan.ts';

export const SBATCH_FILE = 'sbatch.sh';
export const MERGE_SBATCH_FILE = 'merge.sbatch.sh';
export const SUBMIT_FILE = 'slurm-submit.sh';

const CLI = selfCommand();

const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Writes PLAN/sbatch.sh (the array), PLAN/merge.sbatch.sh and PLAN/slurm-submit.sh (submits both, chained). */
export function writeSlurmScripts(planDir: string, plan: ShardPlan, opts: { cpusPerTask?: number } = {}): string[] {
  const dir = resolve(planDir);
  const cpus = opts.cpusPerTask ?? (typeof plan.flags.threads === 'string' ? Number(plan.flags.threads) : 4);
  const cli = CLI.map(quote).join(' ');
  const head = (name: string) => [
    '#!/bin/bash',
    `#SBATCH --job-name=${name}`,
    `#SBATCH --cpus-per-task=${cpus}`,
  ];
  const array = [
    ...head(`atlas-${plan.id.slice(0, 8)}`),
    `#SBATCH --array=0-${plan.shards.length - 1}`,
    `#SBATCH --output=${join(dir, 'logs', 'shard-%a.out')}`,
    '# One shard of a latent-atlas plan per array task; rerunning a finished shard is a no-op.',
    'set -euo pipefail',
    `exec ${cli} work ${quote(dir)} --shard "$SLURM_ARRAY_TASK_ID"`,
    '',
  ].join('\n');
  const merge = [
    ...head(`atlas-${plan.id.slice(0, 8)}-merge`),
    `#SBATCH --output=${join(dir, 'logs', 'merge.out')}`,
    'set -euo pipefail',
    `exec ${cli} merge ${quote(dir)}`,
    '',
  ].join('\n');
  const submit = [
    '#!/bin/bash',
    '# Submits the shard array, then the merge to run after every array task succeeded.',
    'set -euo pipefail',
    `mkdir -p ${quote(join(dir, 'logs'))}`,
    `job=$(sbatch --parsable ${quote(join(dir, SBATCH_FILE))})`,
    `sbatch --dependency=afterok:"\${job%%;*}" ${quote(join(dir, MERGE_SBATCH_FILE))}`,
    '',
  ].join('\n');
  const files: [string, string][] = [[SBATCH_FILE, array], [MERGE_SBATCH_FILE, merge], [SUBMIT_FILE, submit]];
  for (const [name, text] of files) {
    writeFileAtomic(join(dir, name), text);
    chmodSync(join(dir, name), 0o755);
  }
  return files.map(([name]) => join(dir, name));
}
