import { resolve } from 'node:path';
import { parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { MODEL_DATA_FLAGS, MODEL_HELP, extractHelp, withExtraction } from '../shared-flags.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { AtlasError } from '../../errors.ts';
import { extractionRows } from '../../data/extract.ts';
import { reduce } from '../../geometry/reduce.ts';
import { writeMap } from '../../geometry/map-output.ts';
import { REDUCE_OPTIONS } from '../../geometry/defaults.ts';
import { DATASET_OPTIONS, EXTRACT_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';
import { overrideDefaults, withDefaults } from '../../util/option-table.ts';

/** map draws the last layer unless told otherwise. */
const MAP_EXTRACT = overrideDefaults(EXTRACT_OPTIONS, { layers: '-1' });

const MAP_FLAGS = {
  ...MODEL_DATA_FLAGS,
  ...tableFlags(REDUCE_OPTIONS),
  out: { type: 'string' },
} as const;

/** Extracts (or reads from the cache) a layer's activations and draws them as a 2D/3D map. */
export const mapCommand: Command = {
  name: 'map',
  summary: 'reduce a layer\'s activations (PCA, SVD, t-SNE, UMAP, MDS) and write an interactive map',
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, extract: MAP_EXTRACT, reduce: REDUCE_OPTIONS },
  help: `Usage: latent-atlas map [MODEL] --data SOURCE [--layers -1] [--reduce pca] [--dims 2] [--out atlas-out]

For each chosen layer writes OUT/map-layer<L>-<method>.{npy,json,html,svg,png}: the embedding (float32 .npy,
rows in dataset order) with a JSON sidecar (method, diagnostics such as explained variance, labels, texts), an
interactive scatter (hover shows label and text; 3D rotates when --dims 3) and a static plot.

Map options:
${tableHelp(REDUCE_OPTIONS, Object.keys(REDUCE_OPTIONS).filter((k) => k !== 'seed'))}
  --out DIR               output folder (default atlas-out)
  (--seed also seeds t-SNE / UMAP / SMACOF / randomized PCA)

${MODEL_HELP}
${extractHelp(MAP_EXTRACT)}`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('map', argv, MAP_FLAGS);
    const options = withDefaults(REDUCE_OPTIONS, fromFlags(REDUCE_OPTIONS, values));
    const dims = options.nComponents;
    if (dims !== 2 && dims !== 3) throw new AtlasError(`--dims must be 2 or 3, got ${dims}`);
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    await withExtraction(values, async (model, dataset, extraction) => {
      const rows = extractionRows(extraction);
      const method = options.method;
      for (const layer of extraction.layers) {
        const x = extraction.readLayer(layer);
        const r = await reduce({ rows: x.rows, cols: x.cols, data: x.data }, options);
        const base = `map-layer${layer}-${method}${options.geodesic ? '-geodesic' : ''}${dims === 3 ? '-3d' : ''}`;
        const files = writeMap(out, base, r, rows, {
          title: `${model.id} · layer ${layer} · ${method.toUpperCase()}${options.geodesic ? ' (geodesic)' : ''}`,
          model: model.id, dataset: dataset.name, layer, activations: extraction.dir, seed: options.seed,
        });
        const evr = r.diagnostics.explainedVarianceRatio as number[] | undefined;
        console.log(`layer ${layer}: ${files.html}${evr ? `  (explained variance ${evr.map((v) => (100 * v).toFixed(1) + '%').join(', ')})` : ''}`);
      }
    }, { positionals, table: MAP_EXTRACT });
  },
};
