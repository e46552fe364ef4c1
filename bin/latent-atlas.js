#!/usr/bin/env node
// Entry point of the `latent-atlas` CLI: runs the compiled JavaScript in dist/ with plain Node (no TypeScript
// loader at run time). In a checkout, `npm install` / `npm ci` build dist/ (the `prepare` script).
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli/bin.js', import.meta.url);
if (!existsSync(entry)) {
  console.error("latent-atlas: the package is not built (dist/ is missing): run 'npm install' or 'npm run build' in the checkout");
  process.exit(1);
}
await import(entry.href);
