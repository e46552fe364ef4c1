/**
 * Finding and running the reference Python (Debian's python3 with numpy, scipy, scikit-learn, torch, networkx:
 * `apt-get install -y python3-numpy python3-scipy python3-sklearn python3-torch python3-networkx`).
 *
 * Only fixture generation (scripts/reference/generate-fixtures.ts) and the comparison bench (bench/compare.ts)
 * run it; tests never do: they read the committed fixtures under test/fixtures/reference/.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `/usr/bin/python3` explicitly: the python3 on PATH may be another build without the Debian packages. */
export const REFERENCE_PYTHON = process.env.ATLAS_REFERENCE_PYTHON ?? '/usr/bin/python3';
export const REFERENCE_DIR = dirname(fileURLToPath(import.meta.url));

/**
 * The child's environment. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are set on some machines here for old OpenBLAS
 * builds; they slow a current numpy, so they are removed for the reference child only (never for us).
 */
export function referenceEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  delete env.OPENBLAS_CORETYPE;
  delete env.OPENBLAS_L2_SIZE;
  return env;
}

/** Why the reference Python cannot be used, or null when `import numpy, scipy, sklearn, torch` works. */
export function referenceUnavailable(): string | null {
  if (!existsSync(REFERENCE_PYTHON)) return `${REFERENCE_PYTHON} not found`;
  const r = spawnSync(REFERENCE_PYTHON, ['-c', 'import numpy, scipy, sklearn, torch'], { env: referenceEnv(), encoding: 'utf8' });
  if (r.status !== 0) return `${REFERENCE_PYTHON} cannot import numpy/scipy/sklearn/torch: ${(r.stderr || '').trim().split('\n').pop()}`;
  return null;
}

/** Runs scripts/reference/<script> with arguments; throws with its stderr on failure; returns stdout. */
export function runReference(script: string, args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): string {
  const r = spawnSync(REFERENCE_PYTHON, [join(REFERENCE_DIR, script), ...args], {
    env: referenceEnv(opts.env),
    encoding: 'utf8',
    maxBuffer: 64 * 2 ** 20,
    timeout: opts.timeoutMs,
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${script} ${args.join(' ')} failed (exit ${r.status}):\n${r.stderr}`);
  return r.stdout;
}
