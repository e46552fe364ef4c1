import { resolve } from 'node:path';
import { parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { PROFILE_OPTIONS } from '../../geometry/defaults.ts';
import { DATASET_OPTIONS, EXTRACT_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';
import { withDefaults, type ResolvedOptions } from '../../util/option-table.ts';
import { MODEL_DATA_FLAGS, MODEL_DATA_HELP, withExtraction } from '../shared-flags.ts';
import { AtlasError } from '../../errors.ts';
import { activationSetFromExtraction, openActivationSet, type ActivationSet } from '../../data/activation-set.ts';
import { idProfile, type IdProfileRow } from '../../geometry/id-profile.ts';
import { writeProfileOutputs } from '../../geometry/profile-output.ts';
import { layerDiagnostics, type LayerDiagnostics } from '../../geometry/layer-diagnostics.ts';
import { layerProbe, type LayerProbeResult } from '../../mri/layer-probe.ts';
import type { Matrix } from '../../geometry/matrix.ts';
import { progress } from '../../util/progress.ts';
import { knnHnsw } from '../../geometry/knn-hnsw.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

const PROFILE_FLAGS = {
  ...MODEL_DATA_FLAGS,
  ...tableFlags(PROFILE_OPTIONS),
  activations: { type: 'string' },
  labels: { type: 'string' },
  out: { type: 'string' },
} as const;

/** Per-layer extras computed while a layer is in memory (each layer is read once). */
interface Extras { diagnostics?: LayerDiagnostics; probe?: LayerProbeResult }

async function* layersOf(set: ActivationSet, extras: Extras[], opts: { diagnostics: boolean; probe: boolean; splits: number }): AsyncGenerator<Matrix> {
  const labels = Array.from(set.labels);
  for (const l of set.layers) {
    const x = set.readLayer(l);
    const m: Matrix = { rows: x.rows, cols: x.cols, data: x.data };
    const e: Extras = {};
    if (opts.diagnostics) e.diagnostics = await layerDiagnostics(m);
    if (opts.probe) e.probe = layerProbe(m, labels, { nSplits: opts.splits });
    extras.push(e);
    yield m;
  }
}

async function profileSet(set: ActivationSet, options: ResolvedOptions<typeof PROFILE_OPTIONS>, out: string, info: { model: string; dataset: string }): Promise<void> {
  const { metric, k } = options;
  const method = options.neighbours;
  const neighbours = method === 'hnsw'
    ? { method: 'hnsw' as const, search: (X: Matrix, kk: number) => knnHnsw(X, { k: kk, metric }), recallSample: options.recallSample }
    : undefined;
  const labelled = set.labels.some((l) => l >= 0);
  const probe = options.probe && labelled && new Set(set.labels).size >= 2;
  const extras: Extras[] = [];
  const bar = progress({ total: set.layers.length, label: 'profile', unit: 'layers' });
  const profile: IdProfileRow[] = await idProfile(
    layersOf(set, extras, { diagnostics: options.diagnostics, probe, splits: options.probeSplits }),
    labelled ? set.labels : undefined,
    { k, rangeMax: options.rangeMax, metric, onLayer: () => bar.tick(1), neighbours },
  );
  bar.done();
  // idProfile numbers layers 0..; map them back to the layer indices of the set.
  profile.forEach((r, i) => {
    r.layer = set.layers[i]!;
    Object.assign(r, extras[i]);
  });
  for (const w of new Set(profile.flatMap((r) => r.warnings))) console.error(`warning: ${w}`);
  const files = writeProfileOutputs(out, profile, {
    title: `Intrinsic dimension by layer · ${info.model}`, model: info.model, dataset: info.dataset, activations: set.source, k: profile[0]?.kUsed, kRequested: k, metric, neighbours: method,
  });
  for (const r of profile) {
    console.log(`layer ${String(r.layer).padStart(2)}  TwoNN ${r.twoNN.toFixed(2).padStart(6)}  Gride(n2=${r.gride[0]?.n2 ?? 2}) ${(r.gride[0]?.id ?? NaN).toFixed(2).padStart(6)}` +
      (r.notEstimable ? `  (ID not estimable: ${r.notEstimable})` : '') + (r.labelOverlap !== undefined ? `  label overlap ${r.labelOverlap.toFixed(3)}` : '') + (r.overlapNext !== undefined ? `  overlap→next ${r.overlapNext.toFixed(3)}` : '') +
      (r.recall ? `  [hnsw recall@${r.recall.k} ${r.recall.recall.toFixed(3)} on ${r.recall.sample} rows]` : '') +
      (r.probe ? `  probe ${r.probe.accuracy.toFixed(3)} (control ${r.probe.control?.accuracy.toFixed(3) ?? '-'})` : '') +
      (r.diagnostics ? `  erank ${r.diagnostics.effectiveRank.toFixed(1)}  aniso ${r.diagnostics.anisotropy.toFixed(3)}` : ''));
  }
  console.log(files.html);
}

/** Computes per-layer intrinsic dimension and neighbourhood overlaps (the reference paper's profile). */
export const profileCommand: Command = {
  name: 'profile',
  summary: 'intrinsic dimension (TwoNN, Gride), overlaps, probes and diagnostics across layers',
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, extract: EXTRACT_OPTIONS, profile: PROFILE_OPTIONS },
  help: `Usage: latent-atlas profile [MODEL] --data SOURCE [--layers all] [--out atlas-out]
       latent-atlas profile --activations PATH [--labels FILE] [--out atlas-out]

For every layer: TwoNN and Gride (scaling n2 = 2, 4, ... up to --range-max) intrinsic dimension with error
bars, the label overlap (fraction of each point's k neighbours that share its label, DADApy's
return_label_overlap), the overlap of neighbourhoods between consecutive layers, a linear probe's accuracy
(95% CI over stratified splits, and a shuffled-label control) and diagnostics (mean residual norm,
anisotropy = mean pairwise cosine, outlier dimensions, mean kurtosis, effective rank). Writes
OUT/profile.{json,csv,html} and OUT/profile-id.{svg,png}, OUT/profile-overlap.{svg,png}.

Activations computed elsewhere (PyTorch hooks, TransformerLens, nnsight, …):
  --activations PATH     a folder of per-layer .npy / .safetensors files, one N×L×d .npy, one .safetensors
                         with a tensor per layer, or a Latent Atlas cache entry (replaces --model/--data)
  --labels FILE          CSV/TSV/JSONL with one row per activation row: columns label and/or text
                         (--label-column / --text-column pick others); without it the points are unlabelled

Profile options:
${tableHelp(PROFILE_OPTIONS)}
  --out DIR               output folder (default atlas-out)

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('profile', argv, PROFILE_FLAGS);
    const options = withDefaults(PROFILE_OPTIONS, fromFlags(PROFILE_OPTIONS, values));
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    ensureWritableDir(out, 'out'); // before the extraction, not after it
    const acts = stringFlag(values.activations);
    if (acts) {
      if (values.model || values.data || positionals.length) throw new AtlasError('--activations replaces the model and --data; pass one or the other');
      const set = await openActivationSet(acts, { labels: stringFlag(values.labels), labelColumn: stringFlag(values['label-column']), textColumn: stringFlag(values['text-column']) });
      await profileSet(set, options, out, { model: set.name, dataset: stringFlag(values.labels) ?? '(unlabelled)' });
      return;
    }
    await withExtraction(values, (model, dataset, extraction) => profileSet(activationSetFromExtraction(extraction), options, out, { model: model.id, dataset: dataset.name }), { positionals });
  },
};
