/**
 * How to start this CLI again as a child process (workers of `plan`/`work`/`queue`, Slurm scripts): the
 * compiled package runs bin/latent-atlas.js with plain Node; from the sources (tests, a checkout run through
 * tsx) it is `node --import <tsx> src/cli/bin.ts`, so a child never runs a stale or missing dist/.
 */
import { fileURLToPath } from 'node:url';

const compiled = import.meta.url.endsWith('.js');

/** [executable, ...arguments] that run `latent-atlas` with the same code as this process. */
export function selfCommand(): string[] {
  if (compiled) return [process.execPath, fileURLToPath(new URL('../../bin/latent-atlas.js', import.meta.url))];
  return [process.execPath, '--import', import.meta.resolve('tsx'), fileURLToPath(new URL('./bin.ts', import.meta.url))];
}
