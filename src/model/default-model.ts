import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTinyCheckpoint } from './tiny-checkpoint.ts';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface DefaultModel {
  dir: string;
  /** True when no trained checkpoint was found and a random one stands in: results show no learned structure. */
  random: boolean;
  description: string;
}

/** Shape of the random stand-in: small enough to build in a second, deep enough for per-layer profiles. */
const RANDOM_FALLBACK = { architecture: 'gpt2' as const, seed: 0, nLayer: 6, dModel: 64, nHead: 4, dFF: 256, maxPositions: 256 };

/**
 * The model `latent-atlas demo` runs on when none is given, best first:
 * 1. a trained checkpoint shipped in the repository under models/ (the project's own trained model),
 * 2. a real checkpoint listed under ../shared/models/ (reference material beside the checkout),
 * 3. a generated tiny random GPT-2, clearly labelled as such (written once to the user's cache).
 */
export function defaultModel(): DefaultModel {
  for (const root of [join(repoRoot, 'models'), join(repoRoot, '..', 'shared', 'models')]) {
    if (!existsSync(root)) continue;
    for (const name of readdirSync(root).sort()) {
      const dir = join(root, name);
      if (existsSync(join(dir, 'config.json'))) return { dir, random: false, description: `${name} (${dir})` };
    }
  }
  const cacheHome = process.env.LATENT_ATLAS_HOME || join(homedir(), '.cache', 'latent-atlas');
  const dir = join(cacheHome, 'models', 'tiny-random-gpt2-v1');
  if (!existsSync(dir)) {
    // Written beside the final folder and renamed into place, so an interrupted first run leaves no half model.
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    writeTinyCheckpoint(tmp, RANDOM_FALLBACK);
    try {
      renameSync(tmp, dir);
    } catch (e) {
      rmSync(tmp, { recursive: true, force: true });
      if (!existsSync(dir)) throw e; // another process won the race: its copy is identical
    }
  }
  return {
    dir,
    random: true,
    description: `tiny RANDOM GPT-2 (${RANDOM_FALLBACK.nLayer} layers, d=${RANDOM_FALLBACK.dModel}; no trained checkpoint is available here, so maps show no learned structure)`,
  };
}
