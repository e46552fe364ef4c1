import { resolve } from 'node:path';
import { parseFlagsWithConfig, intFlag, stringFlag, type Command } from '../command.ts';
import { MODEL_DATA_FLAGS, MODEL_DATA_HELP, withExtraction } from '../shared-flags.ts';
import { AtlasError } from '../../errors.ts';
import { extractionRows } from '../../data/extract.ts';
import { reduce, REDUCE_METHODS, type ReduceMethod } from '../../geometry/reduce.ts';
import { writeMap } from '../../geometry/map-output.ts';
import { countDistinctRows, MIN_DISTINCT_POINTS } from '../../geometry/sample-checks.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

const MAP_FLAGS = {
  ...MODEL_DATA_FLAGS,
  layers: { type: 'string', default: '-1' },
  reduce: { type: 'string', default: 'pca' },
  dims: { type: 'string', default: '2' },
  geodesic: { type: 'boolean', default: false },
  k: { type: 'string', default: '15' },
  out: { type: 'string', default: 'atlas-out' },
} as const;

/** Extracts (or reads from the cache) a layer's activations and draws them as a 2D/3D map. */
export const mapCommand: Command = {
  name: 'map',
  summary: 'reduce a layer\'s activations (PCA, SVD, t-SNE, UMAP, MDS) and write an interactive map',
  help: `Usage: latent-atlas map --model MODEL --data SOURCE [--layers -1] [--reduce pca] [--dims 2] [--out atlas-out]

For each chosen layer writes OUT/map-layer<L>-<method>.{npy,json,html,svg,png}: the embedding (float32 .npy,
rows in dataset order) with a JSON sidecar (method, diagnostics such as explained variance, labels, texts), an
interactive scatter (hover shows label and text; 3D rotates when --dims 3) and a static plot.

Map options:
  --reduce METHOD        ${REDUCE_METHODS.join(' | ')} (default pca; mds = classical MDS, smacof = metric MDS)
  --dims 2|3             output dimensions (default 2)
  --geodesic             use geodesic distances on the k-NN graph (mds, smacof, tsne)
  --k N                  neighbours of the geodesic graph (default 15)
  --seed N               seed of t-SNE / UMAP / SMACOF / randomized PCA (default 0)
  --layers SPEC          layers to map (default -1, the last)
  --out DIR              output folder (default atlas-out)

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values } = parseFlagsWithConfig('map', argv, MAP_FLAGS);
    const method = stringFlag(values.reduce) as ReduceMethod;
    if (!REDUCE_METHODS.includes(method)) throw new AtlasError(`--reduce must be one of ${REDUCE_METHODS.join(', ')}, got '${method}'`);
    const dims = intFlag(values.dims, 'dims', 2, 1);
    if (dims !== 2 && dims !== 3) throw new AtlasError(`--dims must be 2 or 3, got ${dims}`);
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    ensureWritableDir(out, 'out'); // before the extraction, not after it
    await withExtraction(values, async (model, dataset, extraction) => {
      const rows = extractionRows(extraction);
      for (const layer of extraction.layers) {
        const x = extraction.readLayer(layer);
        const distinct = countDistinctRows({ rows: x.rows, cols: x.cols, data: x.data });
        if (distinct < MIN_DISTINCT_POINTS) { console.error(`warning: layer ${layer}: not mapped: only ${distinct} distinct point(s) among ${x.rows} texts`); continue; }
        const r = await reduce({ rows: x.rows, cols: x.cols, data: x.data }, {
          method, nComponents: dims, seed: intFlag(values.seed, 'seed', 0), geodesic: values.geodesic === true, k: intFlag(values.k, 'k', 15, 1),
        });
        const base = `map-layer${layer}-${method}${values.geodesic ? '-geodesic' : ''}${dims === 3 ? '-3d' : ''}`;
        const files = writeMap(out, base, r, rows, {
          title: `${model.id} · layer ${layer} · ${method.toUpperCase()}${values.geodesic ? ' (geodesic)' : ''}`,
          model: model.id, dataset: dataset.name, layer, activations: extraction.dir, seed: intFlag(values.seed, 'seed', 0),
        });
        for (const w of (r.diagnostics.warnings as string[] | undefined) ?? []) console.error(`warning: layer ${layer}: ${w}`);
        const evr = r.diagnostics.explainedVarianceRatio as number[] | undefined;
        console.log(`layer ${layer}: ${files.html}${evr ? `  (explained variance ${evr.map((v) => (100 * v).toFixed(1) + '%').join(', ')})` : ''}`);
      }
    });
  },
};
