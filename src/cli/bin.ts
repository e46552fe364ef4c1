/**
 * The process entry of the CLI: bin/latent-atlas.js runs the compiled copy (dist/cli/bin.js) with plain Node;
 * tests and development run this file through tsx (`node --import tsx src/cli/bin.ts`).
 */
import { main } from './main.ts';

await main(process.argv.slice(2));
