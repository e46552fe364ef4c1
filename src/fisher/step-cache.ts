/**
 * Resumable pipeline steps: each step's outputs live in `<root>/<name>-<hash of its inputs>/` and count as done
 * only when `done.json` (written last, atomically) exists. A step's key includes the keys of the steps it
 * reads, so changing an option reruns exactly the steps downstream of it.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeJsonAtomic } from '../data/atomic.ts';
import { hashJson } from '../data/hash.ts';

export interface StepRun<T> {
  value: T;
  dir: string;
  key: string;
  cached: boolean;
  seconds: number;
}

export async function cachedStep<T>(root: string, name: string, inputs: unknown, compute: (dir: string) => Promise<T>, load: (dir: string) => T, force = false): Promise<StepRun<T>> {
  const key = hashJson({ name, inputs });
  const dir = join(root, `${name}-${key}`);
  const done = join(dir, 'done.json');
  const t0 = performance.now();
  if (!force && existsSync(done)) return { value: load(dir), dir, key, cached: true, seconds: (performance.now() - t0) / 1000 };
  mkdirSync(dir, { recursive: true });
  const value = await compute(dir);
  writeJsonAtomic(done, { name, inputs, finishedAt: new Date().toISOString() });
  return { value, dir, key, cached: false, seconds: (performance.now() - t0) / 1000 };
}

export function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}
