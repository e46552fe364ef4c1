import { resolve } from 'node:path';
import { parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { PROFILE_OPTIONS } from '../../geometry/defaults.ts';
import { DATASET_OPTIONS, EXTRACT_OPTIONS } from '../../data/defaults.ts';
import { MODEL_OPTIONS } from '../../model/defaults.ts';
import { withDefaults } from '../../util/option-table.ts';
import { MODEL_DATA_FLAGS, MODEL_DATA_HELP, withExtraction } from '../shared-flags.ts';
import { extractionRows, type Extraction } from '../../data/extract.ts';
import { idProfile, type IdProfileRow } from '../../geometry/id-profile.ts';
import { writeProfileOutputs } from '../../geometry/profile-output.ts';
import type { Matrix } from '../../geometry/matrix.ts';
import { progress } from '../../util/progress.ts';

const PROFILE_FLAGS = {
  ...MODEL_DATA_FLAGS,
  ...tableFlags(PROFILE_OPTIONS),
  out: { type: 'string' },
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
  tables: { model: MODEL_OPTIONS, dataset: DATASET_OPTIONS, extract: EXTRACT_OPTIONS, profile: PROFILE_OPTIONS },
  help: `Usage: latent-atlas profile [MODEL] --data SOURCE [--layers all] [--out atlas-out]

For every layer: TwoNN and Gride (scaling n2 = 2, 4, ... up to --range-max) intrinsic dimension with error
bars, the label overlap (fraction of each point's k neighbours that share its label, DADApy's
return_label_overlap) and the overlap of neighbourhoods between consecutive layers. Writes
OUT/profile.{json,csv,html} and OUT/profile-id.{svg,png}, OUT/profile-overlap.{svg,png}.

Profile options:
${tableHelp(PROFILE_OPTIONS)}
  --out DIR               output folder (default atlas-out)

${MODEL_DATA_HELP}`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('profile', argv, PROFILE_FLAGS);
    const options = withDefaults(PROFILE_OPTIONS, fromFlags(PROFILE_OPTIONS, values));
    const metric = options.metric;
    const out = resolve(stringFlag(values.out) ?? 'atlas-out');
    await withExtraction(values, async (model, dataset, extraction) => {
      const rows = extractionRows(extraction);
      const labelled = rows.labels.some((l) => l >= 0);
      const bar = progress({ total: extraction.layers.length, label: 'profile', unit: 'layers' });
      const profile: IdProfileRow[] = await idProfile(layersOf(extraction), labelled ? rows.labels : undefined, {
        k: options.k, rangeMax: options.rangeMax, metric,
        onLayer: () => bar.tick(1),
      });
      bar.done();
      // idProfile numbers layers 0..; map them back to the extracted layer indices.
      profile.forEach((r, i) => { r.layer = extraction.layers[i]; });
      const files = writeProfileOutputs(out, profile, {
        title: `Intrinsic dimension by layer · ${model.id}`, model: model.id, dataset: dataset.name, activations: extraction.dir,
        k: options.k, metric,
      });
      for (const r of profile) {
        console.log(`layer ${String(r.layer).padStart(2)}  TwoNN ${r.twoNN.toFixed(2).padStart(6)}  Gride(n2=${r.gride[0]?.n2}) ${r.gride[0]?.id.toFixed(2).padStart(6)}` +
          (r.labelOverlap !== undefined ? `  label overlap ${r.labelOverlap.toFixed(3)}` : '') + (r.overlapNext !== undefined ? `  overlap→next ${r.overlapNext.toFixed(3)}` : ''));
      }
      console.log(files.html);
    }, { positionals });
  },
};
