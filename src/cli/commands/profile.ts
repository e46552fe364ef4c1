import { resolve } from 'node:path';
import { parseFlagsWithConfig, intFlag, stringFlag, type Command } from '../command.ts';
import { MODEL_DATA_FLAGS, MODEL_DATA_HELP, withExtraction } from '../shared-flags.ts';
import { AtlasError } from '../../errors.ts';
import { extractionRows, type Extraction } from '../../data/extract.ts';
import { idProfile, type IdProfileRow } from '../../geometry/id-profile.ts';
import { writeProfileOutputs } from '../../geometry/profile-output.ts';
import type { Matrix } from '../../geometry/matrix.ts';
import { progress } from '../../util/progress.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

const PROFILE_FLAGS = {
  ...MODEL_DATA_FLAGS,
  k: { type: 'string', default: '30' },
  'range-max': { type: 'string', default: '64' },
  metric: { type: 'string', default: 'euclidean' },
  out: { type: 'string', default: 'atlas-out' },
} as const;

/** Streams an extraction's layers one at a time (only one layer's matrix in memory). */
async function* layersOf(e: Extraction): AsyncGenerator<Matrix> {
  for (const l of e.layers) {
    const x = e.readLayer(l);
    yield { rows: x.rows, cols: x.cols, data: x.data };
  }
}

/** Computes per-layer intrinsic dimension and neighbourhood overlaps (the reference paper's profile). */
export const profileCommand: Command = {
  name: 'profile',
  summary: 'intrinsic dimension (TwoNN, Gride) and neighbourhood overlap across layers',
  help: `Usage: latent-atlas profile --model MODEL --data SOURCE [--layers all] [--out atlas-out]

For every layer: TwoNN and Gride (scaling n2 = 2, 4, ... up to --range-max) intrinsic dimension with error
bars, the label overlap (fraction of each point's k neighbours that share its label, DADApy's
return_label_overlap) and the overlap of neighbourhoods between consecutive layers. Writes
OUT/profile.{json,csv,html} and OUT/profile-id.{svg,png}, OUT/profile-overlap.{svg,png}.

Profile options:
  --k N                  neighbours for the overlaps (default 30, DADApy's default)
  --range-max N          largest Gride rank n2 (default 64)
  --metric euclidean|cosine   (default euclidean)
  --out DIR              output folder (default atlas-out)

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values } = parseFlagsWithConfig('profile', argv, PROFILE_FLAGS);
    const metric = stringFlag(values.metric);
    if (metric !== 'euclidean' && metric !== 'cosine') throw new AtlasError(`--metric must be euclidean or cosine, got '${metric}'`);
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    ensureWritableDir(out, 'out'); // before the extraction, not after it
    await withExtraction(values, async (model, dataset, extraction) => {
      const rows = extractionRows(extraction);
      const labelled = rows.labels.some((l) => l >= 0);
      const bar = progress({ total: extraction.layers.length, label: 'profile', unit: 'layers' });
      const profile: IdProfileRow[] = await idProfile(layersOf(extraction), labelled ? rows.labels : undefined, {
        k: intFlag(values.k, 'k', 30, 1), rangeMax: intFlag(values['range-max'], 'range-max', 64, 2), metric,
        onLayer: () => bar.tick(1),
      });
      bar.done();
      for (const w of new Set(profile.flatMap((r) => r.warnings))) console.error(`warning: ${w}`);
      // idProfile numbers layers 0..; map them back to the extracted layer indices.
      profile.forEach((r, i) => { r.layer = extraction.layers[i]; });
      const files = writeProfileOutputs(out, profile, {
        title: `Intrinsic dimension by layer · ${model.id}`, model: model.id, dataset: dataset.name, activations: extraction.dir,
        k: profile[0]?.kUsed, kRequested: intFlag(values.k, 'k', 30, 1), metric,
      });
      for (const r of profile) {
        console.log(`layer ${String(r.layer).padStart(2)}  TwoNN ${r.twoNN.toFixed(2).padStart(6)}  Gride(n2=${r.gride[0]?.n2 ?? 2}) ${(r.gride[0]?.id ?? NaN).toFixed(2).padStart(6)}` +
          (r.notEstimable ? `  (ID not estimable: ${r.notEstimable})` : '') + (r.labelOverlap !== undefined ? `  label overlap ${r.labelOverlap.toFixed(3)}` : '') + (r.overlapNext !== undefined ? `  overlap→next ${r.overlapNext.toFixed(3)}` : ''));
      }
      console.log(files.html);
    });
  },
};
