#!/usr/bin/env node
// Entry point of the `latent-atlas` CLI. The sources are TypeScript; tsx compiles them on load so that
// the package needs no build step (`npm install` is the whole set-up).
import { register } from 'tsx/esm/api';
register();
const { main } = await import('../src/cli/main.ts');
await main(process.argv.slice(2));
