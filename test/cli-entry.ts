/**
 * How tests start the CLI as a process: the TypeScript sources through tsx (`node --import tsx
 * src/cli/bin.ts`), never bin/latent-atlas.js, which runs the compiled dist/ that may be stale in a checkout.
 * The compiled package is tested as users install it by test/package-install.test.ts.
 */
import { fileURLToPath } from 'node:url';

// tsx resolved here, to an absolute URL: `--import tsx` would be resolved from the child's working directory.
export const CLI_ARGS: readonly string[] = ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url))];
