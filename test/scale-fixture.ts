/**
 * Shared set-up of the scale tests: a tiny deterministic GPT-2 checkpoint, a 64-text CSV dataset, a
 * single-process reference extraction, and helpers that make plans through the CLI entry point in-process.
 */
import { mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { main } from '../src/cli/main.ts';

process.env.LATENT_ATLAS_QUIET = '1';

export const BATCH_SIZE = 2;
export const TOPICS = ['weather', 'market', 'music', 'sport'];

export interface ScaleFixture {
  root: string;
  model: string;
  data: string;
}

export function scaleFixture(prefix: string): ScaleFixture {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const model = join(root, 'model');
  writeTinyCheckpoint(model, { architecture: 'gpt2', seed: 5, nLayer: 2 });
  const rows = ['text,label'];
  for (let i = 0; i < 64; i++) {
    const topic = TOPICS[i % TOPICS.length];
    rows.push(`"on day ${i} we talked about the ${topic}${' and more'.repeat(i % 5)}",${topic}`);
  }
  const data = join(root, 'data.csv');
  writeFileSync(data, `${rows.join('\n')}\n`);
  return { root, model, data };
}

/** Extraction flags shared by the plans and the single-process reference (threads 1: identical arithmetic). */
export function extractFlags(f: ScaleFixture, cache: string, extra: string[] = []): string[] {
  return ['--model', f.model, '--data', f.data, '--batch-size', String(BATCH_SIZE), '--threads', '1', '--cache', cache, ...extra];
}

/** Runs the CLI in-process; throws if it set a failing exit code. */
export async function cli(args: string[]): Promise<void> {
  const log = console.log;
  console.log = () => {};
  try {
    await main(args);
  } finally {
    console.log = log;
  }
  if (process.exitCode) {
    const code = process.exitCode;
    process.exitCode = 0;
    throw new Error(`latent-atlas ${args[0]} exited with ${code}`);
  }
}

/** Relative path → bytes of every file under dir. */
export function filesUnder(dir: string, base = dir): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) for (const [k, v] of filesUnder(p, base)) out.set(k, v);
    else out.set(p.slice(base.length + 1), readFileSync(p));
  }
  return out;
}

/** The cache entry folder (the only leaf folder holding meta.json) under a cache root. */
export function entryUnder(cacheRoot: string): string {
  const hits: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name === 'meta.json') hits.push(d);
    }
  };
  walk(cacheRoot);
  if (hits.length !== 1) throw new Error(`expected one cache entry under ${cacheRoot}, found ${hits.length}`);
  return hits[0];
}

/** meta.json without its creation time (the one field that differs between two runs). */
export function metaWithoutTime(entry: string): unknown {
  const { created: _c, ...rest } = JSON.parse(readFileSync(join(entry, 'meta.json'), 'utf8'));
  return rest;
}
