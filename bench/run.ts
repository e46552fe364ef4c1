/**
 * Benchmark entry point: `npm run bench` runs every benchmark, `npm run bench -- runtime` only those whose
 * name contains the filter. Add new benchmarks to the list below.
 */
import { benchRuntime } from './runtime.ts';
import { benchGeometryId } from './geometry-id.ts';
import { benchDataIo } from './data-io.ts';
import { benchGeometryCore } from './geometry-core.ts';
import { benchParams } from './params.ts';
import { benchFisher } from './fisher.ts';
import { benchCompare } from './compare.ts';
import { benchMri } from './mri.ts';
import { benchExtract, benchExtractStories260K } from './extract.ts';
import { benchScale } from './scale.ts';
import { benchBigModels1B, benchBigModels7B } from './big-models.ts';

const benches: [name: string, run: () => Promise<void>][] = [
  ['runtime', benchRuntime],
  ['geometry-id', benchGeometryId],
  ['data-io', benchDataIo],
  ['extract', benchExtract],
  ['extract-stories260k', benchExtractStories260K],
  ['geometry-core', benchGeometryCore],
  ['params', benchParams],
  ['fisher', benchFisher],
  ['compare', benchCompare],
  ['mri', benchMri],
  ['scale', benchScale],
  ['big-models-1b', benchBigModels1B],
  ['big-models-7b', benchBigModels7B],
];

const filter = process.argv[2];
for (const [name, run] of benches) {
  if (filter && !name.includes(filter)) continue;
  if (!filter && name.startsWith('big-models')) continue; // GBs of checkpoints and tens of minutes: ask for them by name
  await run();
}
