import { join, resolve } from 'node:path';
import { LAYER_BUNDLE, writeLayerBundle } from '../../geometry/layer-bundle.ts';
import { parseFlagsWithConfig, intFlag, stringFlag, type Command } from '../command.ts';
import { MODEL_DATA_FLAGS, MODEL_DATA_HELP, withExtraction } from '../shared-flags.ts';
import { AtlasError } from '../../errors.ts';
import { activationSetFromExtraction, openActivationSet, type ActivationSet } from '../../data/activation-set.ts';
import type { FlagValues } from '../command.ts';
import { reduce, REDUCE_METHODS, type ReduceMethod } from '../../geometry/reduce.ts';
import { writeMap } from '../../geometry/map-output.ts';

const MAP_FLAGS = {
  ...MODEL_DATA_FLAGS,
  layers: { type: 'string', default: '-1' },
  reduce: { type: 'string', default: 'pca' },
  dims: { type: 'string', default: '2' },
  geodesic: { type: 'boolean', default: false },
  k: { type: 'string', default: '15' },
  activations: { type: 'string' },
  labels: { type: 'string' },
  align: { type: 'boolean', default: false },
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
  --activations PATH     activations computed elsewhere instead of --model/--data (see 'latent-atlas profile --help')
  --labels FILE          labels/texts for --activations (CSV/TSV/JSONL, one row per activation row)
  --align                one bundle of all chosen layers in a shared frame for the app's layer slider:
                         OUT/layers-<method>/ (layers.json, coords.npy, knn.npy; see src/geometry/layer-bundle.ts).
                         PCA is aligned layer to layer by orthogonal Procrustes, UMAP/t-SNE start from the previous
                         layer's map; the 10 nearest neighbours in each layer's original space are stored too
  --out DIR              output folder (default atlas-out)

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values } = parseFlagsWithConfig('map', argv, MAP_FLAGS);
    const method = stringFlag(values.reduce) as ReduceMethod;
    if (!REDUCE_METHODS.includes(method)) throw new AtlasError(`--reduce must be one of ${REDUCE_METHODS.join(', ')}, got '${method}'`);
    const dims = intFlag(values.dims, 'dims', 2, 1);
    if (dims !== 2 && dims !== 3) throw new AtlasError(`--dims must be 2 or 3, got ${dims}`);
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    const acts = stringFlag(values.activations);
    if (acts) {
      if (values.model || values.data) throw new AtlasError('--activations replaces --model and --data; pass one or the other');
      const set = await openActivationSet(acts, { labels: stringFlag(values.labels), labelColumn: stringFlag(values['label-column']), textColumn: stringFlag(values['text-column']) });
      const spec = stringFlag(values.layers) ?? '-1';
      const layers = spec === 'all' ? set.layers : spec.split(',').map((t) => {
        const n = Number(t.trim());
        if (!Number.isInteger(n)) throw new AtlasError(`--layers: cannot parse '${t}'`, { hint: "use 'all' or layer indices of the activations, -1 for the last" });
        const l = n < 0 ? set.layers[set.layers.length + n] : n;
        if (l === undefined || !set.layers.includes(l)) throw new AtlasError(`--layers: layer ${n} is not in the activations (layers: ${set.layers.join(', ')})`);
        return l;
      });
      await mapSet(set, layers, values, { method, dims, out, model: set.name, dataset: stringFlag(values.labels) ?? '(unlabelled)' });
      return;
    }
    await withExtraction(values, async (model, dataset, extraction) => {
      await mapSet(activationSetFromExtraction(extraction), extraction.layers, values, { method, dims, out, model: model.id, dataset: dataset.name });
    });
  },
};

async function mapSet(set: ActivationSet, layers: number[], values: FlagValues, o: { method: ReduceMethod; dims: number; out: string; model: string; dataset: string }): Promise<void> {
  if (values.align === true) {
    if (values.geodesic) throw new AtlasError('--align does not combine with --geodesic', { hint: 'drop one of the two flags' });
    const dir = join(o.out, `layers-${o.method}${o.dims === 3 ? '-3d' : ''}`);
    const m = await writeLayerBundle(dir, {
      title: `${o.model.split('/').pop()} · ${o.method.toUpperCase()} aligned across layers`, method: o.method, layers, dim: o.dims, seed: intFlag(values.seed, 'seed', 0),
      xs: layers.map((l) => { const x = set.readLayer(l); return { rows: x.rows, cols: x.cols, data: x.data }; }),
      texts: set.texts, labels: set.labels, classNames: set.classNames, info: { model: o.model, dataset: o.dataset, activations: set.source },
    });
    console.log(`layers ${m.layers.join(', ')}: ${join(dir, LAYER_BUNDLE.manifest)} (${m.n} points, ${m.k} neighbours per layer)`);
    return;
  }
  const rows = { labels: set.labels, classNames: set.classNames, texts: set.texts };
  for (const layer of layers) {
    const x = set.readLayer(layer);
    const r = await reduce({ rows: x.rows, cols: x.cols, data: x.data }, {
      method: o.method, nComponents: o.dims, seed: intFlag(values.seed, 'seed', 0), geodesic: values.geodesic === true, k: intFlag(values.k, 'k', 15, 1),
    });
    const base = `map-layer${layer}-${o.method}${values.geodesic ? '-geodesic' : ''}${o.dims === 3 ? '-3d' : ''}`;
    const files = writeMap(o.out, base, r, rows, {
      title: `${o.model} · layer ${layer} · ${o.method.toUpperCase()}${values.geodesic ? ' (geodesic)' : ''}`,
      model: o.model, dataset: o.dataset, layer, activations: set.source, seed: intFlag(values.seed, 'seed', 0),
    });
    const evr = r.diagnostics.explainedVarianceRatio as number[] | undefined;
    console.log(`layer ${layer}: ${files.html}${evr ? `  (explained variance ${evr.map((v) => (100 * v).toFixed(1) + '%').join(', ')})` : ''}`);
  }
}
