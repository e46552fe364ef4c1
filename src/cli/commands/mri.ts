import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseFlagsWithConfig, requireFlag, stringFlag, type Command } from '../command.ts';
import { MODEL_FLAGS_ONLY, MODEL_HELP, datasetFromFlags, modelFromFlags } from '../shared-flags.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { MRI_OPTIONS } from '../../mri/defaults.ts';
import { DATASET_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';
import { withDefaults } from '../../util/option-table.ts';
import { savePlot } from '../../plot/png.ts';
import { ActivationAreas, type NodeLayout } from '../../mri/activation-areas.ts';
import { checkGridsize } from '../../mri/grid.ts';
import { metricsTable, type GraphMetrics } from '../../mri/metrics.ts';
import { nragToGraphml, nragToJson } from '../../mri/export.ts';
import { gridHeatmapHtml, gridHeatmapSvg, nragHtml, nragSvg, probeBarSvg } from '../../mri/draw.ts';
import { DEFAULT_PROBE_METRICS, parseMetric } from '../../mri/classification-metrics.ts';
import type { Nrag } from '../../mri/nrag.ts';
import { degreeByLayer, projectionMetrics } from '../../mri/projection.ts';
import { parseDivergingColormap } from '../../plot/colormap.ts';
import { openActivationSet } from '../../data/activation-set.ts';
import { AtlasError } from '../../errors.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

const OPTIONS = {
  ...MODEL_FLAGS_ONLY,
  ...tableFlags(MRI_OPTIONS),
  out: { type: 'string' }, labels: { type: 'string' }, evaluate: { type: 'boolean' }, 'probe-metrics': { type: 'string' },
  cache: { type: 'string' }, png: { type: 'boolean' }, 'no-png': { type: 'boolean' },
  activations: { type: 'string' }, 'labels-file': { type: 'string' },
} as const;

/** NRAGs, heatmaps, graph metrics and probing of a model on a labelled dataset (the LLM-MRI analysis). */
export const mriCommand: Command = {
  name: 'mri',
  summary: 'Neural Region Activation Graphs: per-layer heatmaps, NRAG drawing/export, graph metrics, probing',
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, mri: MRI_OPTIONS },
  help: `Usage: latent-atlas mri [MODEL] --data D --out DIR [options]

Reduces every layer's pooled hidden states to --components dimensions and builds the Neural Region
Activation Graph (LLM-MRI). With 2 components each layer's plane is binned into a gridsize × gridsize grid:
heatmaps per layer (all texts and per label) and a grid NRAG whose edges count texts moving between cells.
With more components nodes are components and edges Spearman correlations (per category, --labels needed).

MRI options:
${tableHelp(MRI_OPTIONS, Object.keys(MRI_OPTIONS).filter((k) => k !== 'seed'))}
  --out DIR               output folder (required)
  --labels A[,B]          restrict the graph to one or two labels (names); Spearman mode needs one
  --evaluate              probing: logistic regression on full vs reduced activations
  --probe-metrics LIST    comma list (default ${DEFAULT_PROBE_METRICS.join(',')})
  --cache DIR             activation cache root   --no-png  SVG only
  --activations PATH      activations computed elsewhere (one vector per text per layer; see 'profile --help')
                          instead of a model and --data; --labels-file FILE gives their labels/texts

${MODEL_HELP}

Writes heatmaps/ (SVG, PNG, HTML per layer and label), graph.{svg,png,html,graphml,json},
metrics.{json,tsv} (all texts and each label) and, with --evaluate, evaluation.{json,svg,png}.`,
  async run(argv) {
    const { values: v, positionals } = parseFlagsWithConfig('mri', argv, OPTIONS);
    const o = withDefaults(MRI_OPTIONS, fromFlags(MRI_OPTIONS, v));
    const out = resolve(requireFlag(v.out, 'out', 'the output folder'));
    ensureWritableDir(out, 'out');
    const { method, nComponents, gridsize, pooling, layout, thresholdMode, metric } = o;
    checkGridsize(gridsize);
    const probeMetrics = stringFlag(v['probe-metrics'])?.split(',').map((s) => parseMetric(s.trim()));
    const png = v.png !== false && v['no-png'] !== true;

    const colormap = parseDivergingColormap(o.colormap);
    const labelNames = stringFlag(v.labels)?.split(',').map((s) => s.trim()).filter(Boolean) ?? [];
    const { threads } = fromFlags(MODEL_OPTIONS, v);
    const areaOptions = { method, nComponents, gridsize, seed: o.seed, metric, threads, svdSolver: o.svdSolver };
    // Either activations computed elsewhere, or a model run over a dataset (extracted and cached).
    const acts = stringFlag(v.activations);
    let dataset: { labels: number[] | null; classNames: string[] };
    let model: { id: string; release(): Promise<void> };
    let areas: ActivationAreas;
    if (acts) {
      if (v.model || v.data || positionals.length) throw new AtlasError('--activations replaces the model and --data; pass one or the other');
      const set = await openActivationSet(acts, { labels: stringFlag(v['labels-file']), labelColumn: stringFlag(v['label-column']), textColumn: stringFlag(v['text-column']) });
      const labelled = set.labels.some((l) => l >= 0);
      dataset = { labels: labelled ? Array.from(set.labels) : null, classNames: set.classNames };
      model = { id: set.name, release: async () => {} };
      areas = new ActivationAreas({ layers: set.layers, nLayers: Math.max(...set.layers) + 1, readLayer: (l) => set.readLayer(l), texts: set.texts, labels: dataset.labels, classNames: set.classNames, key: set.source }, areaOptions);
    } else {
      const ds = await datasetFromFlags(v);
      dataset = ds;
      const loaded = await modelFromFlags(v, positionals);
      model = loaded;
      try {
        areas = await ActivationAreas.fromModel(loaded, ds, {
          ...areaOptions, pooling,
          extract: { batchSize: o.batchSize, maxLength: o.maxLength, cacheRoot: stringFlag(v.cache) },
        });
      } catch (e) {
        await loaded.release();
        throw e;
      }
    }
    try {
      for (const w of areas.warnings) console.error(`latent-atlas mri: warning: ${w}`);
      labelNames.forEach((l) => areas.category(l)); // unknown labels fail before any work
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
      const graphOpts = { threshold: o.threshold, thresholdMode, orientation: o.spearmanOrientation };
      const graph = await areas.graph({ labels: mainLabels, ...graphOpts });
      const positions = areas.positions(graph, layout as NodeLayout);
      const title = `NRAG — ${model.id} — ${mainLabels.length ? mainLabels.join(' vs ') : 'all texts'}`;
      if (graph.edges.length) {
        save(nragSvg(graph, positions, { title, colormap }), join(out, 'graph'));
        writeFileSync(join(out, 'graph.html'), nragHtml(graph, positions, title, `${graph.nodes.length} nodes, ${graph.edges.length} edges; ${method} to ${nComponents} components`, { colormap }));
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
      // metrics.json adds the reference's per-layer degree and its even/odd-layer projection metrics (mri/projection.ts).
      const full = graphs.map(([name, g], i) => [name, { ...rows[i]!.metrics, degreeByLayer: degreeByLayer(g, g.layers), projections: projectionMetrics(g) }]);
      writeFileSync(join(out, 'metrics.json'), JSON.stringify(Object.fromEntries(full), null, 2) + '\n');
      writeFileSync(join(out, 'metrics.tsv'), metricsTable(rows));
      written.push(join(out, 'metrics.{json,tsv}'));

      if (v.evaluate) {
        const result = await areas.evaluate({
          nSplits: o.splits, testSize: o.testSize, seed: o.splitSeed,
          metrics: probeMetrics, probeComponents: o.probeComponents,
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
