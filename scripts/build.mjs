// Builds the published JavaScript: src/ → dist/ (tsc -p tsconfig.build.json: JS, .d.ts, source maps), then
// the web client prebuilt into dist/app/client/. Plain JavaScript so that it runs as the `prepare` script of
// `npm install` / `npm ci` in a checkout before anything else is built.
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const require = createRequire(import.meta.url);

let tsc;
try {
  tsc = require.resolve('typescript/bin/tsc');
} catch {
  // `npm ci --omit=dev` in a checkout: no compiler. A dist/ already there is used as it is.
  if (existsSync(dist)) process.exit(0);
  console.error("latent-atlas build: TypeScript is not installed; run 'npm install' (with the devDependencies) to build dist/");
  process.exit(1);
}
rmSync(dist, { recursive: true, force: true });
execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
const { writePrebuiltClient } = await import(new URL('../dist/app/client-assets.js', import.meta.url).href);
await writePrebuiltClient();
