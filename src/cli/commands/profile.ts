import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
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
import { writeProfileOutputs, PROFILE_FILES } from '../../geometry/profile-output.ts';
import { NEIGHBOUR_FILES, neighbourTableLayers, readNeighbourTable, writeNeighbourTable } from '../../geometry/profile-neighbours.ts';
import { writeRunsPlot } from '../../geometry/profile-runs.ts';
import { writeCompareOutputs } from '../../geometry/compare-output.ts';
import { dataOverlapFromKnn } from '../../geometry/overlap.ts';
import { knn, truncateKnn, type KnnResult } from '../../geometry/knn.ts';
import { loadDataset } from '../../data/dataset.ts';
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
  compare: { type: 'string' },
  runs: { type: 'string' },
  out: { type: 'string' },
} as const;

/** What the profile reads: per-layer points (an activation set) or per-layer neighbour tables. */
interface ProfileInput {
  source: string;
  name: string;
  layers: number[];
  labels: Int32Array;
  texts: string[];
  /** Yields one layer at a time. */
  iterate(extras: Extras[], opts: { diagnostics: boolean; probe: boolean; splits: number }): AsyncGenerator<Matrix | KnnResult>;
  /** Diagnostics and probes need coordinates. */
  tables: boolean;
}

function fromSet(set: ActivationSet): ProfileInput {
  return { source: set.source, name: set.name, layers: set.layers, labels: set.labels, texts: set.texts, tables: false, iterate: (extras, o) => layersOf(set, extras, o) };
}

async function fromTables(dir: string, metric: 'euclidean' | 'cosine', labelsFile: string | undefined, columns: { labelColumn?: string; textColumn?: string }): Promise<ProfileInput> {
  const layers = neighbourTableLayers(dir);
  const first = readNeighbourTable(layers[0]!.dir, metric);
  let labels = new Int32Array(first.n).fill(-1);
  let texts = Array.from({ length: first.n }, () => '');
  if (labelsFile) {
    const ds = await loadDataset(labelsFile, { ...columns, textOptional: true });
    if (ds.texts.length !== first.n) throw new AtlasError(`has ${ds.texts.length} rows but the neighbour tables have ${first.n}`, { file: labelsFile, hint: 'one row per point, in table row order' });
    texts = ds.texts;
    if (ds.labels) labels = Int32Array.from(ds.labels);
  }
  return {
    source: resolve(dir), name: basename(resolve(dir)), layers: layers.map((l) => l.layer), labels, texts, tables: true,
    async *iterate(extras) {
      for (const [i, l] of layers.entries()) {
        const t = i === 0 ? first : readNeighbourTable(l.dir, metric);
        if (t.n !== first.n) throw new AtlasError(`has ${t.n} rows but layer ${layers[0]!.layer} has ${first.n}`, { file: join(l.dir, NEIGHBOUR_FILES.distances), hint: 'every layer must hold the same points' });
        extras.push({});
        yield t;
      }
    },
  };
}

/**
 * The run given to --compare, checked before any work (same rows; same texts where both runs know them):
 * a tables folder, or activations; `tables(k)` yields one k-NN table per layer.
 */
async function openOther(path: string, metric: 'euclidean' | 'cosine', texts: string[], rows: number): Promise<(k: number) => AsyncGenerator<{ layer: number; table: KnnResult }>> {
  const isTables = existsSync(path) && statSync(path).isDirectory() && (() => { try { neighbourTableLayers(path); return true; } catch { return false; } })();
  const sameRows = (n: number, file: string) => { if (n !== rows) throw new AtlasError(`has ${n} rows, this run has ${rows}; --compare needs the same texts in the same order`, { file, field: 'compare' }); };
  if (isTables) {
    const layers = neighbourTableLayers(path);
    sameRows(readNeighbourTable(layers[0]!.dir, metric).n, layers[0]!.dir);
    console.error('warning: --compare: a neighbour-table folder carries no texts; rows are assumed to be the same inputs in the same order');
    return async function* (k) {
      for (const l of layers) {
        const t = readNeighbourTable(l.dir, metric);
        sameRows(t.n, l.dir);
        if (t.k < k) throw new AtlasError(`has ${t.k} neighbours per point, the overlap needs k = ${k}`, { file: l.dir, field: 'compare' });
        yield { layer: l.layer, table: truncateKnn(t, k) };
      }
    };
  }
  const set = await openActivationSet(path);
  sameRows(set.rows, path);
  const known = (t: string[]) => t.some((x) => x !== '');
  if (known(texts) && known(set.texts)) {
    const i = texts.findIndex((t, j) => t !== set.texts[j]);
    if (i >= 0) throw new AtlasError(`row ${i} holds a different text than this run's (${JSON.stringify(set.texts[i]!.slice(0, 40))} vs ${JSON.stringify(texts[i]!.slice(0, 40))}); --compare needs the same texts in the same order`, { file: path, field: 'compare', hint: 'extract both runs from the same --data, --num-samples and --seed' });
  } else console.error('warning: --compare: the texts of one run are unknown; rows are assumed to be the same inputs in the same order');
  return async function* (k) {
    for (const l of set.layers) {
      const x = set.readLayer(l);
      yield { layer: l, table: await knn({ rows: x.rows, cols: x.cols, data: x.data }, { k, metric }) };
    }
  };
}

function overlapMatrix(a: KnnResult[], b: KnnResult[], k: number, symmetric: boolean): Float64Array {
  const m = new Float64Array(a.length * b.length);
  for (let i = 0; i < a.length; i++) {
    for (let j = 0; j < b.length; j++) {
      m[i * b.length + j] = symmetric && j < i ? m[j * b.length + i]! : dataOverlapFromKnn(a[i]!, b[j]!, k).overlap;
    }
  }
  return m;
}

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

async function profileSet(set: ProfileInput, options: ResolvedOptions<typeof PROFILE_OPTIONS>, out: string, info: { model: string; dataset: string; compare?: string }): Promise<void> {
  const { metric, k } = options;
  const method = options.neighbours;
  const neighbours = method === 'hnsw'
    ? { method: 'hnsw' as const, search: (X: Matrix, kk: number) => knnHnsw(X, { k: kk, metric }), recallSample: options.recallSample }
    : undefined;
  const labelled = set.labels.some((l) => l >= 0);
  const probe = options.probe && labelled && new Set(set.labels).size >= 2 && !set.tables;
  const otherTables = info.compare ? await openOther(info.compare, metric, set.texts, set.labels.length) : undefined;
  const extras: Extras[] = [];
  const overlapTables: KnnResult[] = [];
  const bar = progress({ total: set.layers.length, label: 'profile', unit: 'layers' });
  const profile: IdProfileRow[] = await idProfile(
    set.iterate(extras, { diagnostics: options.diagnostics && !set.tables, probe, splits: options.probeSplits }),
    labelled ? set.labels : undefined,
    {
      k, rangeMax: options.rangeMax, metric, onLayer: () => bar.tick(1), neighbours,
      scaling2NN: options.twoNNScaling, idScale: options.idScale, plateauTol: options.plateauTol,
      tableK: options.saveNeighbours ? options.saveNeighboursK : undefined,
      onTable: (i, table, overlapTable) => {
        overlapTables.push(overlapTable);
        if (options.saveNeighbours) writeNeighbourTable(join(out, NEIGHBOUR_FILES.dir, NEIGHBOUR_FILES.layerDir(set.layers[i]!)), table, Math.min(table.k, options.saveNeighboursK));
      },
    },
  );
  bar.done();
  if (options.saveNeighbours && profile[0] && profile[0].n - 1 < options.saveNeighboursK) console.error(`warning: --save-neighbours-k ${options.saveNeighboursK}: only ${profile[0].n - 1} neighbours exist; the tables hold ${profile[0].n - 1}`);
  // Layer × layer data overlap (the paper's Fig. 2) from the tables the profile already has.
  const kOv = overlapTables[0]?.k ?? k;
  const layerMatrix = overlapMatrix(overlapTables, overlapTables, kOv, true);
  const L = overlapTables.length;
  profile.forEach((r, i) => { r.overlapLast = layerMatrix[i * L + L - 1]; });
  const simInfo = { k: kOv, metric, rowsUsed: { gram: profile[0]?.n ?? 0, overlap: profile[0]?.n ?? 0 } };
  const layerFiles = writeCompareOutputs(join(out, PROFILE_FILES.overlapLayersDir), { layersA: set.layers, layersB: set.layers, matrices: { overlap: layerMatrix }, ...simInfo }, { nameA: set.name, run: set.source });
  let compareName: string | undefined;
  if (info.compare && otherTables) {
    const other: { layer: number; table: KnnResult }[] = [];
    for await (const t of otherTables(kOv)) other.push(t);
    compareName = basename(resolve(info.compare));
    const m = overlapMatrix(overlapTables, other.map((o) => o.table), kOv, false);
    const same = other.length === L;
    profile.forEach((r, i) => {
      const j = other.findIndex((o) => o.layer === set.layers[i]);
      const jj = j >= 0 ? j : same ? i : -1;
      if (jj >= 0) r.overlapOther = m[i * other.length + jj];
    });
    const cf = writeCompareOutputs(join(out, PROFILE_FILES.overlapCompareDir), { layersA: set.layers, layersB: other.map((o) => o.layer), matrices: { overlap: m }, ...simInfo }, { nameA: set.name, nameB: compareName, runA: set.source, runB: resolve(info.compare) });
    console.error(`overlap with ${compareName}: ${cf.files[0]}`);
  }
  console.error(`layer × layer overlap: ${layerFiles.files[0]}`);
  // idProfile numbers layers 0..; map them back to the layer indices of the set.
  profile.forEach((r, i) => {
    r.layer = set.layers[i]!;
    Object.assign(r, extras[i]);
  });
  for (const w of new Set(profile.flatMap((r) => r.warnings))) console.error(`warning: ${w}`);
  const files = writeProfileOutputs(out, profile, {
    title: `Intrinsic dimension by layer · ${info.model}`, model: info.model, dataset: info.dataset, activations: set.source, k: profile[0]?.kUsed, kRequested: k, metric, neighbours: set.tables ? `tables:${set.source}` : method,
    idScale: options.idScale, compare: info.compare ? resolve(info.compare) : undefined, compareName,
  });
  for (const r of profile) {
    console.log(`layer ${String(r.layer).padStart(2)}  TwoNN ${r.twoNN.toFixed(2).padStart(6)}` +
      (r.idReported && r.idReported.rule !== 'full' ? `  ${r.idReported.rule} ${r.idReported.id.toFixed(2)}±${r.idReported.error.toFixed(2)} (${r.idReported.size} pts)` : '') + `  Gride(n2=${r.gride[0]?.n2 ?? 2}) ${(r.gride[0]?.id ?? NaN).toFixed(2).padStart(6)}` +
      (r.notEstimable ? `  (ID not estimable: ${r.notEstimable})` : '') + (r.labelOverlap !== undefined ? `  label overlap ${r.labelOverlap.toFixed(3)}` : '') + (r.overlapNext !== undefined ? `  overlap→next ${r.overlapNext.toFixed(3)}` : '') +
      (r.overlapOther !== undefined ? `  overlap↔other ${r.overlapOther.toFixed(3)}` : '') +
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
       latent-atlas profile --neighbours TABLES_DIR [--labels FILE] [--out atlas-out]
       latent-atlas profile --runs OUT_A/ OUT_B/ … [--out atlas-out]

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

Also written: the TwoNN decimation scaling of every layer (subsets of N, N/2, N/4, … points, DADApy's
return_id_scaling_2NN) beside the Gride scaling, in profile.json/csv and OUT/${PROFILE_FILES.scalingPlot}.{svg,png};
the layer × layer data overlap (the paper's Fig. 2) in OUT/${PROFILE_FILES.overlapLayersDir}/ (compare-overlap.npy,
heatmap, compare.json), and each layer's overlap with the last layer (overlap_last).

The paper's representation (mean over tokens of the normalised residual entering each block) is the flag
pair "--source ln1 --aggregate mean" (ln1 = the block's first LayerNorm / RMSNorm output, docs/hook-points.md).

Neighbour tables (DADApy's layout, self at rank 0): --save-neighbours writes
OUT/${NEIGHBOUR_FILES.dir}/layer-<L>/${NEIGHBOUR_FILES.distances} (N×(k+1) float64) and ${NEIGHBOUR_FILES.indices} (N×(k+1) int64, the dtype numpy
and DADApy produce), k = --save-neighbours-k. "--neighbours DIR" profiles such tables instead of points (one
folder per layer; int32 indices and float32 distances are read too); diagnostics and probes need points and
are skipped, and TwoNN decimation levels whose subsets' neighbours lie beyond the table's k are NaN.
Comparing runs:
  --compare OTHER        overlap of every layer with every layer of another run on the same texts (a model,
                         a checkpoint: activations, a cache entry or a tables folder); refused when the texts
                         differ. Writes OUT/${PROFILE_FILES.overlapCompareDir}/ and overlap_other (same layer) per row
  --runs DIR…            overlay earlier profiles against relative depth (layer / last layer): ID on top, label
                         overlap below (OUT/${PROFILE_FILES.runsPlot}.{svg,png,json})

Profile options:
${tableHelp(PROFILE_OPTIONS)}
  --out DIR               output folder (default atlas-out)

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('profile', argv, PROFILE_FLAGS);
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    const runs = stringFlag(values.runs);
    if (runs) {
      // --runs a/ b/ c/: the first folder is the flag's value, the others arrive as positionals.
      ensureWritableDir(out, 'out');
      const r = writeRunsPlot([runs, ...positionals], out);
      for (const c of r.curves) console.log(`${c.name}: ${c.depth.length} layers (${c.idKind})`);
      console.log(r.png);
      return;
    }
    // --neighbours DIR: precomputed tables instead of points (the flag's other values are exact | hnsw).
    let tablesDir: string | undefined;
    const nb = stringFlag(values.neighbours);
    if (nb !== undefined && !(PROFILE_OPTIONS.neighbours.choices as readonly string[]).includes(nb)) {
      if (!existsSync(nb)) throw new AtlasError(`--neighbours: '${nb}' is neither exact, hnsw nor an existing folder of neighbour tables`, { file: nb, hint: `a folder with ${NEIGHBOUR_FILES.layerDir(0)}/${NEIGHBOUR_FILES.distances} and ${NEIGHBOUR_FILES.indices}, …` });
      tablesDir = nb;
      delete (values as Record<string, unknown>).neighbours;
    }
    const options = withDefaults(PROFILE_OPTIONS, fromFlags(PROFILE_OPTIONS, values));
    ensureWritableDir(out, 'out'); // before the extraction, not after it
    const compare = stringFlag(values.compare);
    const columns = { labelColumn: stringFlag(values['label-column']), textColumn: stringFlag(values['text-column']) };
    if (tablesDir) {
      if (values.model || values.data || positionals.length || values.activations) throw new AtlasError('--neighbours DIR replaces the points (--model/--data or --activations); pass one or the other');
      if (options.saveNeighbours) throw new AtlasError('--save-neighbours with --neighbours DIR would only copy the tables; drop one of them');
      const input = await fromTables(tablesDir, options.metric, stringFlag(values.labels), columns);
      await profileSet(input, options, out, { model: input.name, dataset: stringFlag(values.labels) ?? '(unlabelled)', compare });
      return;
    }
    const acts = stringFlag(values.activations);
    if (acts) {
      if (values.model || values.data || positionals.length) throw new AtlasError('--activations replaces the model and --data; pass one or the other');
      const set = await openActivationSet(acts, { labels: stringFlag(values.labels), ...columns });
      await profileSet(fromSet(set), options, out, { model: set.name, dataset: stringFlag(values.labels) ?? '(unlabelled)', compare });
      return;
    }
    await withExtraction(values, (model, dataset, extraction) => profileSet(fromSet(activationSetFromExtraction(extraction)), options, out, { model: model.id, dataset: dataset.name, compare }), { positionals });
  },
};
