import { basename, join, relative, resolve } from 'node:path';
import { parseFlagsWithConfig, intFlag, stringFlag, type Command } from '../command.ts';
import { datasetFromFlags, extractFromFlags } from '../shared-flags.ts';
import { loadModel } from '../../model/load.ts';
import { defaultModel } from '../../model/default-model.ts';
import { extractionRows, type Extraction } from '../../data/extract.ts';
import { reduce, type ReduceMethod } from '../../geometry/reduce.ts';
import { writeMap } from '../../geometry/map-output.ts';
import { idProfile } from '../../geometry/id-profile.ts';
import { writeProfileOutputs } from '../../geometry/profile-output.ts';
import { writeFileAtomic, writeJsonAtomic } from '../../data/atomic.ts';
import { escapeHtml, htmlPage } from '../../plot/index.ts';
import { ParamStore } from '../../params/param-store.ts';
import { runFisherPipeline } from '../../fisher/pipeline.ts';
import { loadDataset } from '../../data/dataset.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

/** The model trained by scripts/train-demo-model.ts and shipped under models/. */
const SHIPPED_MODEL = 'latent-atlas-brown-gpt2';

const DEMO_FLAGS = {
  model: { type: 'string' },
  // default: builtin:brown-genres on the shipped Brown-trained model (held-out documents of its own corpus), else builtin:topics
  data: { type: 'string' },
  'num-samples': { type: 'string' },
  out: { type: 'string', default: 'atlas-demo' },
  cache: { type: 'string' },
  threads: { type: 'string' },
  quick: { type: 'boolean', default: false },
} as const;

/** The README's main command: extraction → maps → intrinsic-dimension profile → report, on the default model. */
export const demoCommand: Command = {
  name: 'demo',
  summary: 'run the whole pipeline on the default model and a built-in dataset, write a report',
  help: `Usage: latent-atlas demo [--out atlas-demo] [--model MODEL] [--data DATASET] [--quick]

Runs, with no network: extraction of every layer (mean over each text's tokens,
which separates genres/topics better than the final token) → PCA maps of the middle and last layers and a
UMAP map of the last layer → intrinsic-dimension and neighbourhood-overlap profile across layers, and writes
everything plus OUT/index.html (open it in a browser) to the output folder.

The default model is the best one available: a trained checkpoint shipped under models/, else one under
../shared/models/, else a generated tiny random GPT-2 (labelled as such in the report). The default data is
builtin:brown-genres (held-out Brown passages, label = genre) on the shipped Brown-trained model, else
builtin:topics.

  --quick        10 texts per label (for smoke tests)
  --num-samples N  texts per label (default: all)`,
  async run(argv) {
    const { values } = parseFlagsWithConfig('demo', argv, DEMO_FLAGS);
    const out = resolve(stringFlag(values.out) ?? 'atlas-demo');
    ensureWritableDir(out, 'out');
    const chosen = values.model ? { dir: String(values.model), random: false, description: String(values.model) } : defaultModel();
    console.log(`model: ${chosen.description}`);
    const numSamples = values.quick ? '10' : stringFlag(values['num-samples']);
    const data = stringFlag(values.data) ?? (!values.model && !chosen.random && basename(chosen.dir) === SHIPPED_MODEL ? 'builtin:brown-genres' : 'builtin:topics');
    const dataset = await datasetFromFlags({ data, 'num-samples': numSamples, seed: '0' });
    console.log(`data: ${dataset.name} — ${dataset.texts.length} texts, ${dataset.classNames.length} labels (${dataset.classNames.join(', ')})`);
    const model = await loadModel(chosen.dir, { threads: values.threads === undefined ? undefined : intFlag(values.threads, 'threads', 1, 1) });
    try {
      const extraction: Extraction = await extractFromFlags(model, dataset, { layers: 'all', aggregate: 'mean', 'batch-size': '16', cache: values.cache });
      const rows = extractionRows(extraction);
      const last = extraction.layers[extraction.layers.length - 1];
      const middle = extraction.layers[Math.floor(extraction.layers.length / 2)];
      const maps: { layer: number; method: ReduceMethod; html: string; png: string; note: string }[] = [];
      // The 3D map is there to try the app's 3D view (select "3D" in the map tab).
      for (const [layer, method, dims] of [[middle, 'pca', 2], [last, 'pca', 2], [last, 'umap', 2], [last, 'pca', 3]] as const) {
        const x = extraction.readLayer(layer);
        const r = await reduce({ rows: x.rows, cols: x.cols, data: x.data }, { method, nComponents: dims, seed: 0 });
        const files = writeMap(join(out, 'maps'), `map-layer${layer}-${method}${dims === 3 ? '-3d' : ''}`, r, rows, {
          title: `layer ${layer} · ${method.toUpperCase()}${dims === 3 ? ' 3D' : ''}`, model: model.id, dataset: dataset.name, layer, activations: extraction.dir,
        });
        const evr = r.diagnostics.explainedVarianceRatio as number[] | undefined;
        const nn = r.diagnostics.nNeighbors as number | undefined;
        const note = (dims === 3 ? '3D, drag to rotate; ' : '') + (evr ? `explained variance ${evr.map((v) => (100 * v).toFixed(1) + '%').join(' + ')}` : nn !== undefined ? `${nn} neighbours` : '');
        maps.push({ layer, method, html: files.html, png: files.png, note });
        console.log(`map: layer ${layer} ${method.toUpperCase()}${note ? ` (${note})` : ''} → ${relative(out, files.html)}`);
      }
      const profile = await idProfile((function* () {
        for (const l of extraction.layers) { const x = extraction.readLayer(l); yield { rows: x.rows, cols: x.cols, data: x.data }; }
      })(), rows.labels, { k: Math.min(30, Math.max(1, Math.floor(extraction.meta.rows / 4))) });
      profile.forEach((r, i) => { r.layer = extraction.layers[i]; });
      const prof = writeProfileOutputs(join(out, 'profile'), profile, { title: 'Intrinsic dimension by layer', model: model.id, dataset: dataset.name });
      for (const r of profile) console.log(`layer ${String(r.layer).padStart(2)}: TwoNN ID ${r.twoNN.toFixed(2)}, label overlap ${r.labelOverlap?.toFixed(3)}`);

      // Fisher geometry at the last layer on a subset (the exact metric costs V·d² per text).
      const fisherData = await loadDataset(data, { numSamples: values.quick ? 5 : 20, seed: 0 });
      const fisher = await runFisherPipeline(ParamStore.fromCheckpoint(model.checkpoint), model.tokenizer, model.key, fisherData, {
        out, layer: model.checkpoint.config.nLayer, k: values.quick ? 5 : 10, disconnected: 'connect',
      });
      const fisherDir = join(out, 'fisher');
      console.log(`fisher: ${fisherData.texts.length} texts, Fisher vs Euclidean geodesics Spearman ${fisher.comparison.spearman.toFixed(3)}`);

      const rel = (p: string) => relative(out, p);
      const figure = (png: string, href: string, caption: string) =>
        `<figure style="display:inline-block;margin:8px;max-width:46%"><a href="${escapeHtml(rel(href))}"><img src="${escapeHtml(rel(png))}" style="width:100%"></a><figcaption>${escapeHtml(caption)}</figcaption></figure>`;
      const html = htmlPage({
        title: 'Latent Atlas demo',
        subtitle: `${chosen.description} · ${dataset.name}: ${dataset.texts.length} texts in ${dataset.classNames.length} labels`,
        sections: [
          ...(chosen.random ? [{ heading: 'Random weights', content: '<p><b>This run used a randomly initialised model</b>: no trained checkpoint is available on this machine. The pipeline is real; the structure it shows is not learned.</p>' }] : []),
          { heading: 'Maps (click for the interactive version)', content: maps.map((m) => figure(m.png, m.html, `layer ${m.layer} · ${m.method.toUpperCase()} ${m.note}`)).join('') },
          { heading: 'Latent Fisher geometry (last layer)', content: figure(join(fisherDir, 'fisher-mds.png'), join(fisherDir, 'report.html'), 'MDS of Fisher geodesics with metric ellipses') + figure(join(fisherDir, 'euclidean-mds.png'), join(fisherDir, 'report.html'), `MDS of Euclidean geodesics (Spearman vs Fisher ${fisher.comparison.spearman.toFixed(3)})`) },
          { heading: 'Intrinsic dimension and neighbourhood overlap', content: figure(`${prof.idPlot}.png`, prof.html, 'TwoNN and Gride ID by layer') + figure(`${prof.overlapPlot}.png`, prof.html, 'label overlap and consecutive-layer overlap') },
        ],
      });
      const index = join(out, 'index.html');
      writeFileAtomic(index, html);
      writeJsonAtomic(join(out, 'run.json'), {
        model: model.id, modelDir: model.dir, randomModel: chosen.random, dataset: dataset.name, texts: dataset.texts.length,
        classNames: dataset.classNames, layers: extraction.layers, activations: extraction.dir,
        maps: maps.map((m) => ({ layer: m.layer, method: m.method, html: rel(m.html), png: rel(m.png) })), profile: rel(prof.json),
        fisher: rel(join(fisherDir, 'comparison.json')),
      });
      console.log(`report: ${index}`);
    } finally {
      await model.release();
    }
  },
};
