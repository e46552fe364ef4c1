import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { intFlag, numberFlag, parseFlagsWithConfig, requireFlag, stringFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { loadModel } from '../../model/load.ts';
import { loadDataset } from '../../data/dataset.ts';
import { parseAggregation } from '../../data/aggregate.ts';
import { savePlot } from '../../plot/png.ts';
import { ActivationAreas, type NodeLayout } from '../../mri/activation-areas.ts';
import { checkGridsize } from '../../mri/grid.ts';
import { parseReductionMethod } from '../../mri/reduce.ts';
import { metricsTable, type GraphMetrics } from '../../mri/metrics.ts';
import { nragToGraphml, nragToJson } from '../../mri/export.ts';
import { gridHeatmapHtml, gridHeatmapSvg, nragHtml, nragSvg, probeBarSvg } from '../../mri/draw.ts';
import { parseMetric } from '../../mri/classification-metrics.ts';
import type { Nrag } from '../../mri/nrag.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

const OPTIONS = {
  model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
  reduce: { type: 'string', default: 'pca' }, components: { type: 'string', default: '2' }, gridsize: { type: 'string', default: '10' },
  seed: { type: 'string', default: '0' }, labels: { type: 'string' }, pooling: { type: 'string' },
  threshold: { type: 'string', default: '0.3' }, 'threshold-mode': { type: 'string', default: 'signed' }, layout: { type: 'string', default: 'fixed' },
  metric: { type: 'string', default: 'cosine' },
  evaluate: { type: 'boolean', default: false }, splits: { type: 'string', default: '5' }, 'test-size': { type: 'string', default: '0.3' },
  'split-seed': { type: 'string', default: '42' }, 'probe-metrics': { type: 'string' },
  'text-column': { type: 'string' }, 'label-column': { type: 'string' }, 'num-samples': { type: 'string' },
  'batch-size': { type: 'string', default: '8' }, 'max-length': { type: 'string' }, cache: { type: 'string' },
  threads: { type: 'string' }, revision: { type: 'string', default: 'main' }, 'no-png': { type: 'boolean', default: false },
} as const;

/** NRAGs, heatmaps, graph metrics and probing of a model on a labelled dataset (the LLM-MRI analysis). */
export const mriCommand: Command = {
  name: 'mri',
  summary: 'Neural Region Activation Graphs: per-layer heatmaps, NRAG drawing/export, graph metrics, probing',
  help: `Usage: latent-atlas mri --model M --data D --out DIR [options]

Reduces every layer's pooled hidden states to --components dimensions and builds the Neural Region
Activation Graph (LLM-MRI). With 2 components each layer's plane is binned into a gridsize × gridsize grid:
heatmaps per layer (all texts and per label) and a grid NRAG whose edges count texts moving between cells.
With more components nodes are components and edges Spearman correlations (per category, --labels needed).

  --model M            checkpoint folder or hub id (BERT, DistilBERT, GPT-2, Llama family)
  --data D             labelled dataset (csv, tsv, jsonl, json, arrow, HF folder, builtin:NAME)
  --out DIR            output folder
  --reduce R           pca | svd | umap (default pca)
  --components K       reduced dimensions per layer (default 2)
  --gridsize G         grid cells per axis, 2 components only (default 10)
  --seed S             reduction seed (default 0)
  --labels A[,B]       restrict the graph to one or two labels (names); Spearman mode needs one
  --pooling P          first | mean | final | max (default: first ([CLS]) for BERT, mean for decoders)
  --threshold T        Spearman threshold (default 0.3); --threshold-mode signed (ρ > T, default) | absolute
  --layout L           node x positions: fixed (by cell/component, comparable across labels; default) | compact
  --metric M           UMAP metric: cosine (default) | euclidean
  --evaluate           probing: logistic regression on full vs reduced activations
  --splits N           stratified shuffle splits (default 5); --test-size F (default 0.3); --split-seed (default 42)
  --probe-metrics LIST comma list (default f1_macro,f1_weighted,recall_macro,recall_weighted,accuracy,balanced_accuracy)
  --text-column, --label-column, --num-samples   dataset options
  --batch-size N (8), --max-length N (the model's maximum), --cache DIR, --threads N, --revision REV, --no-png
  --config FILE        YAML file with any of these options

Writes heatmaps/ (SVG, PNG, HTML per layer and label), graph.{svg,png,html,graphml,json},
metrics.{json,tsv} (all texts and each label) and, with --evaluate, evaluation.{json,svg,png}.`,
  async run(argv) {
    const { values: v } = parseFlagsWithConfig('mri', argv, OPTIONS);
    const modelArg = requireFlag(v.model, 'model', 'a checkpoint folder or hub id');
    const dataArg = requireFlag(v.data, 'data', 'a labelled dataset file');
    const out = resolve(requireFlag(v.out, 'out', 'the output folder'));
    ensureWritableDir(out, 'out');
    const method = parseReductionMethod(String(v.reduce));
    const nComponents = intFlag(v.components, 'components', 2, 1);
    const gridsize = Number(v.gridsize);
    checkGridsize(gridsize);
    const pooling = v.pooling === undefined ? undefined : parseAggregation(String(v.pooling));
    const layout = String(v.layout);
    if (layout !== 'fixed' && layout !== 'compact') throw new AtlasError(`--layout must be fixed or compact, got '${layout}'`);
    const thresholdMode = String(v['threshold-mode']);
    if (thresholdMode !== 'signed' && thresholdMode !== 'absolute') throw new AtlasError(`--threshold-mode must be signed or absolute, got '${thresholdMode}'`);
    const metric = String(v.metric);
    if (metric !== 'cosine' && metric !== 'euclidean') throw new AtlasError(`--metric must be cosine or euclidean, got '${metric}'`);
    const probeMetrics = stringFlag(v['probe-metrics'])?.split(',').map((s) => parseMetric(s.trim()));
    const threads = v.threads === undefined ? undefined : intFlag(v.threads, 'threads', 1, 1);
    // Every numeric flag is checked before the model runs, also those only --evaluate uses.
    const threshold = numberFlag(v.threshold, 'threshold', 0.3);
    const probe = { nSplits: intFlag(v.splits, 'splits', 5, 1), testSize: numberFlag(v['test-size'], 'test-size', 0.3), seed: intFlag(v['split-seed'], 'split-seed', 42) };
    if (!(probe.testSize > 0 && probe.testSize < 1)) throw new AtlasError(`--test-size must be a fraction in (0, 1), got ${probe.testSize}`);
    const png = !v['no-png'];

    const dataset = await loadDataset(dataArg, {
      textColumn: stringFlag(v['text-column']),
      labelColumn: stringFlag(v['label-column']),
      numSamples: v['num-samples'] === undefined ? undefined : intFlag(v['num-samples'], 'num-samples', 1, 1),
      seed: intFlag(v.seed, 'seed', 0),
    });
    for (const w of dataset.warnings) console.error(`latent-atlas mri: warning: ${w}`);
    const labelNames = stringFlag(v.labels)?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];

    const model = await loadModel(modelArg, { threads, revision: String(v.revision) });
    try {
      const areas = await ActivationAreas.fromModel(model, dataset, {
        method, nComponents, gridsize, seed: intFlag(v.seed, 'seed', 0), metric, threads, pooling,
        extract: { batchSize: intFlag(v['batch-size'], 'batch-size', 8, 1), maxLength: v['max-length'] === undefined ? undefined : intFlag(v['max-length'], 'max-length', 0, 2), cacheRoot: stringFlag(v.cache) },
      });
      labelNames.forEach((l) => areas.category(l)); // unknown labels fail before any work
      for (const w of areas.warnings) console.error(`latent-atlas mri: warning: ${w}`);
      mkdirSync(out, { recursive: true });
      const save = (svg: string, base: string): void => {
        if (png) savePlot(svg, base);
        else writeFileSync(`${base}.svg`, svg);
      };
      const safe = (s: string): string => s.replace(/[^A-Za-z0-9._-]+/g, '_');
      const written: string[] = [];

      if (nComponents === 2) {
        const dir = join(out, 'heatmaps');
        mkdirSync(dir, { recursive: true });
        const targets: (string | undefined)[] = [undefined, ...(dataset.labels ? dataset.classNames : [])];
        for (const layer of areas.layers) {
          for (const label of targets) {
            const counts = await areas.grid(layer, label);
            const examples = await areas.cellTexts(layer, label);
            const title = `Layer ${layer}${label === undefined ? '' : ` — ${label}`}`;
            const base = join(dir, `layer_${layer}${label === undefined ? '' : `_${safe(label)}`}`);
            save(gridHeatmapSvg({ counts, examples, title }), base);
            writeFileSync(`${base}.html`, gridHeatmapHtml({ counts, examples, title }));
          }
        }
        written.push(`${dir}/ (${areas.layers.length * targets.length} heatmaps)`);
      }

      // The main graph: the selected labels, else (grid mode) all texts, else (Spearman) the first label.
      const mainLabels = labelNames.length ? labelNames : nComponents === 2 || !dataset.labels ? [] : [dataset.classNames[0]!];
      const graphOpts = { threshold, thresholdMode: thresholdMode as 'signed' | 'absolute' };
      const graph = await areas.graph({ labels: mainLabels, ...graphOpts });
      const positions = areas.positions(graph, layout as NodeLayout);
      const title = `NRAG — ${model.id} — ${mainLabels.length ? mainLabels.join(' vs ') : 'all texts'}`;
      if (graph.edges.length) {
        save(nragSvg(graph, positions, { title }), join(out, 'graph'));
        writeFileSync(join(out, 'graph.html'), nragHtml(graph, positions, title, `${graph.nodes.length} nodes, ${graph.edges.length} edges; ${method} to ${nComponents} components`));
      } else {
        console.error('latent-atlas mri: warning: the graph has no edges, so it is not drawn (lower --threshold?)');
      }
      writeFileSync(join(out, 'graph.graphml'), nragToGraphml(graph));
      writeFileSync(join(out, 'graph.json'), JSON.stringify(nragToJson(graph), null, 1) + '\n');
      written.push(join(out, 'graph.{svg,png,html,graphml,json}'));

      // Metrics: the main graph, and each label's own graph.
      const rows: { name: string; metrics: GraphMetrics }[] = [];
      const graphs: [string, Nrag][] = [[mainLabels.length ? mainLabels.join('+') : 'all', graph]];
      if (dataset.labels) for (const name of dataset.classNames) if (mainLabels.length !== 1 || mainLabels[0] !== name) graphs.push([name, await areas.graph({ labels: [name], ...graphOpts })]);
      for (const [name, g] of graphs) rows.push({ name, metrics: areas.metrics(g) });
      writeFileSync(join(out, 'metrics.json'), JSON.stringify(Object.fromEntries(rows.map((r) => [r.name, r.metrics])), null, 2) + '\n');
      writeFileSync(join(out, 'metrics.tsv'), metricsTable(rows));
      written.push(join(out, 'metrics.{json,tsv}'));

      if (v.evaluate) {
        const result = await areas.evaluate({
          ...probe,
          metrics: probeMetrics,
        });
        writeFileSync(join(out, 'evaluation.json'), JSON.stringify(result, null, 2) + '\n');
        save(probeBarSvg(result), join(out, 'evaluation'));
        written.push(join(out, 'evaluation.{json,svg,png}'));
        for (const m of result.metrics) {
          const s = result.summary[m]!;
          console.log(`${m.padEnd(18)} full ${s.full.toFixed(4)}  reduced ${s.reduced.toFixed(4)}  full−reduced ${s.difference.toFixed(4)} ± ${s.differenceStd.toFixed(4)}`);
        }
      }
      process.stdout.write(metricsTable(rows));
      console.log(`wrote:\n  ${written.join('\n  ')}`);
    } finally {
      await model.release();
    }
  },
};
