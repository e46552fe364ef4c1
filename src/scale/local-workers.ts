import { selfCommand } from '../cli/self.ts';
/**
 * The local backend: N worker processes on this machine, each running `latent-atlas work PLAN --shard i` for
 * the next unfinished shard. Separate processes (not threads) because each loads its own model runtime and a
 * crash of one must not take the others down; a failed shard is reported with its error after the others ran.
 */
import { spawn } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtlasError } from '../errors.ts';

// The same code as this process: compiled bin from the package, the sources through tsx in a checkout.
const [NODE, ...CLI] = selfCommand();

export interface LocalRunResult {
  computed: number[];
  failed: { index: number; message: string }[];
}

/** Runs the given shards with at most `workers` processes at a time. */
export async function runLocalWorkers(planDir: string, shards: number[], workers: number, onDone?: (index: number, ok: boolean) => void): Promise<LocalRunResult> {
  if (!Number.isInteger(workers) || workers < 1) throw new AtlasError(`--workers must be a positive integer, got ${workers}`, { field: 'workers' });
  const queue = [...shards];
  const result: LocalRunResult = { computed: [], failed: [] };
  const one = (index: number) => new Promise<void>((done) => {
    const child = spawn(NODE!, [...CLI, 'work', planDir, '--shard', String(index)], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, LATENT_ATLAS_QUIET: '1' },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.on('close', (code, signal) => {
      if (code === 0) result.computed.push(index);
      else result.failed.push({ index, message: err.trim().split('\n').pop() || `exited with ${signal ?? code}` });
      onDone?.(index, code === 0);
      done();
    });
  });
  const lane = async () => {
    for (let i = queue.shift(); i !== undefined; i = queue.shift()) await one(i);
  };
  await Promise.all(Array.from({ length: Math.min(workers, Math.max(1, shards.length)) }, lane));
  result.computed.sort((a, b) => a - b);
  result.failed.sort((a, b) => a.index - b.index);
  return result;
}
