import { join, resolve } from 'node:path';
import { LAYER_BUNDLE, writeSetBundle } from '../../geometry/layer-bundle.ts';
import { parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { MODEL_DATA_FLAGS, MODEL_HELP, extractHelp, withExtraction } from '../shared-flags.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { AtlasError } from '../../errors.ts';
import { activationSetFromExtraction, openActivationSet, type ActivationSet } from '../../data/activation-set.ts';
import { reduce } from '../../geometry/reduce.ts';
import { writeMap } from '../../geometry/map-output.ts';
import { REDUCE_OPTIONS } from '../../geometry/defaults.ts';
import { DATASET_OPTIONS, EXTRACT_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';
import { overrideDefaults, withDefaults, type ResolvedOptions } from '../../util/option-table.ts';
import { countDistinctRows, MIN_DISTINCT_POINTS } from '../../geometry/sample-checks.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

/** map draws the last layer unless told otherwise. */
const MAP_EXTRACT = overrideDefaults(EXTRACT_OPTIONS, { layers: '-1' });

const MAP_FLAGS = {
  ...MODEL_DATA_FLAGS,
  ...tableFlags(REDUCE_OPTIONS),
  activations: { type: 'string' },
  labels: { type: 'string' },
  align: { type: 'boolean' },
  out: { type: 'string' },
} as const;

/** Layers of an activation set named by a spec ('all', indices, negative from the end). */
export function setLayers(set: ActivationSet, spec: string): number[] {
  if (spec === 'all') return set.layers;
  return spec.split(',').map((t) => {
    const n = Number(t.trim());
    if (!Number.isInteger(n)) throw new AtlasError(`--layers: cannot parse '${t}'`, { hint: "use 'all' or layer indices of the activations, -1 for the last" });
    const l = n < 0 ? set.layers[set.layers.length + n] : n;
    if (l === undefined || !set.layers.includes(l)) throw new AtlasError(`--layers: layer ${n} is not in the activations (layers: ${set.layers.join(', ')})`);
    return l;
  });
}

async function mapSet(set: ActivationSet, layers: number[], options: ResolvedOptions<typeof REDUCE_OPTIONS>, o: { out: string; model: string; dataset: string; align?: boolean }): Promise<void> {
  if (o.align) {
    // One bundle of all chosen layers in a shared frame, for the app's layer slider (src/geometry/layer-bundle.ts).
    if (options.geodesic) throw new AtlasError('--align does not combine with --geodesic', { hint: 'drop one of the two flags' });
    const dims = options.nComponents;
    const dir = join(o.out, `layers-${options.method}${dims === 3 ? '-3d' : ''}`);
    const m = await writeSetBundle(dir, set, layers, {
      title: `${o.model.split('/').pop()} · ${options.method.toUpperCase()} aligned across layers`, method: options.method, dim: dims, seed: options.seed,
      info: { model: o.model, dataset: o.dataset }, log: (line) => console.error(line),
    });
    console.log(`layers ${m.layers.join(', ')}: ${join(dir, LAYER_BUNDLE.manifest)} (${m.n} points, ${m.k} neighbours per layer${m.layerColumns ? `; per-layer colours: ${Object.keys(m.layerColumns).join(', ')}` : ''})`);
    return;
  }
  const rows = { labels: set.labels, classNames: set.classNames, texts: set.texts };
  const method = options.method;
  for (const layer of layers) {
    const x = set.readLayer(layer);
    const distinct = countDistinctRows({ rows: x.rows, cols: x.cols, data: x.data });
    if (distinct < MIN_DISTINCT_POINTS) { console.error(`warning: layer ${layer}: not mapped: only ${distinct} distinct point(s) among ${x.rows} rows`); continue; }
    const r = await reduce({ rows: x.rows, cols: x.cols, data: x.data }, options);
    for (const w of (r.diagnostics.warnings as string[] | undefined) ?? []) console.error(`warning: layer ${layer}: ${w}`);
    const base = `map-layer${layer}-${method}${options.geodesic ? '-geodesic' : ''}${options.nComponents === 3 ? '-3d' : ''}`;
    const files = writeMap(o.out, base, r, rows, {
      title: `${o.model} · layer ${layer} · ${method.toUpperCase()}${options.geodesic ? ' (geodesic)' : ''}`,
      model: o.model, dataset: o.dataset, layer, activations: set.source, seed: options.seed,
    });
    const evr = r.diagnostics.explainedVarianceRatio as number[] | undefined;
    console.log(`layer ${layer}: ${files.html}${evr ? `  (explained variance ${evr.map((v) => (100 * v).toFixed(1) + '%').join(', ')})` : ''}`);
  }
}

/** Extracts (or reads from the cache) a layer's activations and draws them as a 2D/3D map. */
export const mapCommand: Command = {
  name: 'map',
  summary: 'reduce a layer\'s activations (PCA, SVD, t-SNE, UMAP, MDS) and write an interactive map',
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, extract: MAP_EXTRACT, reduce: REDUCE_OPTIONS },
  help: `Usage: latent-atlas map [MODEL] --data SOURCE [--layers -1] [--reduce pca] [--dims 2] [--out atlas-out]
       latent-atlas map --activations PATH [--labels FILE] [--layers -1] [--reduce pca] [--out atlas-out]

For each chosen layer writes OUT/map-layer<L>-<method>.{npy,json,html,svg,png}: the embedding (float32 .npy,
rows in dataset order) with a JSON sidecar (method, diagnostics such as explained variance, labels, texts), an
interactive scatter (hover shows label and text; 3D rotates when --dims 3) and a static plot.

Map options:
${tableHelp(REDUCE_OPTIONS, Object.keys(REDUCE_OPTIONS).filter((k) => k !== 'seed'))}
  --out DIR               output folder (default atlas-out)
  (--seed also seeds t-SNE / UMAP / SMACOF / randomized PCA)
  --activations PATH      activations computed elsewhere instead of a model and --data (see 'latent-atlas profile --help')
  --labels FILE           labels/texts for --activations (CSV/TSV/JSONL, one row per activation row)
  --align                 one bundle of all chosen layers in a shared frame for the app's layer slider:
                          OUT/layers-<method>/ (layers.json, coords.npy, knn.npy; src/geometry/layer-bundle.ts).
                          PCA is aligned layer to layer by orthogonal Procrustes, UMAP/t-SNE start from the
                          previous layer's map; the 10 nearest neighbours in each layer's original space are stored

${MODEL_HELP}
${extractHelp(MAP_EXTRACT)}`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('map', argv, MAP_FLAGS);
    const options = withDefaults(REDUCE_OPTIONS, fromFlags(REDUCE_OPTIONS, values));
    const dims = options.nComponents;
    if (dims !== 2 && dims !== 3) throw new AtlasError(`--dims must be 2 or 3, got ${dims}`);
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    ensureWritableDir(out, 'out'); // before the extraction, not after it
    const acts = stringFlag(values.activations);
    if (acts) {
      if (values.model || values.data || positionals.length) throw new AtlasError('--activations replaces the model and --data; pass one or the other');
      const set = await openActivationSet(acts, { labels: stringFlag(values.labels), labelColumn: stringFlag(values['label-column']), textColumn: stringFlag(values['text-column']) });
      await mapSet(set, setLayers(set, stringFlag(values.layers) ?? '-1'), options, { out, model: set.name, dataset: stringFlag(values.labels) ?? '(unlabelled)', align: values.align === true });
      return;
    }
    await withExtraction(values, async (model, dataset, extraction) => {
      await mapSet(activationSetFromExtraction(extraction), extraction.layers, options, { out, model: model.id, dataset: dataset.name, align: values.align === true });
    }, { positionals, table: MAP_EXTRACT });
  },
};
