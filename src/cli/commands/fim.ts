import { resolve, join } from 'node:path';
import { AtlasError } from '../../errors.ts';
import { intFlag, parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { modelArgument } from '../shared-flags.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { openCheckpoint, validateCheckpoint } from '../../model/checkpoint.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { assembleDataset, loadDataset } from '../../data/dataset.ts';
import { CALIBRATION_SOURCE, CALIBRATION_TEXTS } from '../../data/calibration.ts';
import { resolveModel } from '../../model/hub.ts';
import { FISHER_FORMULAS } from '../../params/fisher.ts';
import { compareFimRuns } from '../../params/fisher-compare.ts';
import { checkDevice } from '../../params/device.ts';
import { DATASET_OPTIONS } from '../../data/defaults.ts';
import { progress } from '../../util/progress.ts';
import { overrideDefaults, pickOptions } from '../../util/option-table.ts';
import { parameterFisher } from '../../params/parameter-fisher.ts';
import { FIM_NUM_SAMPLES, FIM_UPSTREAM_DEFAULTS, PARAM_FISHER_OPTIONS } from '../../params/defaults.ts';
import { writeFisherOutputs } from '../../params/fisher-report.ts';
import { paramClassifier } from '../../params/param-names.ts';
import { fisherPlot, tryPlot } from '../../params/plots.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

/** fim's dataset options: no labels, --num-samples 100 by default. */
const FIM_DATASET = overrideDefaults(pickOptions(DATASET_OPTIONS, ['textColumn', 'numSamples', 'format']), { numSamples: FIM_NUM_SAMPLES });

const FLAGS = {
  model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
  upstream: { type: 'boolean' }, granularity: { type: 'string' }, 'save-fisher': { type: 'boolean' }, device: { type: 'string' },
  revision: { type: 'string' }, compare: { type: 'string', multiple: true }, labels: { type: 'string' }, 'max-memory': { type: 'string' },
  ...tableFlags(PARAM_FISHER_OPTIONS, FIM_DATASET),
} as const;

/** Diagonal Fisher information of a model on calibration texts. */
export const fimCommand: Command = {
  name: 'fim',
  summary: 'diagonal Fisher information (per-sample gradients) of a model on calibration texts',
  tables: { dataset: FIM_DATASET, fisher: PARAM_FISHER_OPTIONS },
  help: `Usage: latent-atlas fim [MODEL] [--data FILE] [options] [--out fim-out]
       latent-atlas fim --compare DIR_A --compare DIR_B [...] [--labels a,b] [--out fim-compare]

--normalise mean (default; the Fisher/similarity toolkit's estimator):
  ${FISHER_FORMULAS.mean}
--normalise sum:
  ${FISHER_FORMULAS.sum}
Exact per-sample gradients (reverse mode), squared per text. MODEL: a folder or a hub id. Without --data the
built-in calibration sentences are used (src/data/calibration.ts). --upstream: the toolkit's defaults
(--num-samples 20 --max-length 256 --batch-size 2 --normalise mean); explicit flags still win. --device: cpu
only. --granularity N: each component cut into N chunks of its flattened index (granular_importance.json).
--save-fisher is accepted (fisher_diagonal.safetensors is always written). --compare reads earlier fim output
folders: grouped bars of layer importance, and for two folders the Fisher-vs-Fisher ratio and difference per
layer and per tensor (fisher_comparison.json/csv + figure). --mode true samples the targets from the model instead of using
the text's own next tokens. --data: a text file (one sample per line) or any dataset file latent-atlas reads
(csv, tsv, jsonl, json, arrow, HF folder, builtin:NAME, e.g. builtin:brown-genres); labels are not read.
--max-memory SIZE (default 80 % of the free memory): per-sample gradients hold every parameter at once, so a
model too large for it is refused before any work.
Writes fisher_diagonal.safetensors, fisher_layers.json, summary.json (ours + upstream's fields),
layer_importance.json and component_importance.json (upstream's schema) and fisher_layers.svg/png to --out.

${tableHelp(PARAM_FISHER_OPTIONS)}
${tableHelp(FIM_DATASET)}
  --out DIR               output folder (default fim-out)
  --config FILE.yaml      options from a YAML file whose keys mirror the flags; flags win`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('fim', argv, FLAGS);
    checkDevice(stringFlag(values.device));
    const compare = values.compare as string[] | undefined;
    if (compare) {
      const dirs = [...compare, ...positionals].map((d) => resolve(d));
      const out = resolve(stringFlag(values.out) ?? 'fim-compare');
      compareFimRuns(dirs, out, stringFlag(values.labels)?.split(','));
      console.log(`compared the Fisher of ${dirs.length} runs; results in ${out}`);
      return;
    }
    const modelDir = await resolveModel(modelArgument(values, positionals), { revision: stringFlag(values.revision) ?? 'main' });
    ensureWritableDir(resolve(stringFlag(values.out) ?? 'fim-out'), 'out'); // before the gradients, not after them
    const dataArg = stringFlag(values.data);
    const up = values.upstream === true ? FIM_UPSTREAM_DEFAULTS : undefined;
    const given = fromFlags(PARAM_FISHER_OPTIONS, values);
    const options = up ? { maxLength: up.maxLength, batchSize: up.batchSize, normalise: up.normalise, ...given } : given;
    const dataOptions = { ...fromFlags(FIM_DATASET, values) };
    const granularity = values.granularity === undefined ? 0 : intFlag(values.granularity, 'granularity', 0, 0);
    const ckpt = openCheckpoint(modelDir);
    let checkpoint;
    try {
      validateCheckpoint(ckpt);
    } catch (e) {
      ckpt.close();
      throw e;
    }
    checkpoint = ckpt;
    try {
      const tokenizer = await loadTokenizer(modelDir);
      const numSamples = dataOptions.numSamples ?? up?.numSamples ?? FIM_NUM_SAMPLES;
      const data = dataArg
        ? await loadDataset(dataArg, { labelColumn: null, textColumn: dataOptions.textColumn, format: dataOptions.format, seed: options.seed, numSamples })
        : assembleDataset({ name: 'calibration', source: CALIBRATION_SOURCE, texts: CALIBRATION_TEXTS.slice(0, numSamples), labelNames: null, warnings: [] });
      const bar = progress({ total: data.texts.length, label: 'fim', unit: 'text' });
      let last = 0;
      const result = await parameterFisher({ checkpoint, tokenizer }, data, { ...options, maxMemory: stringFlag(values['max-memory']), onProgress: (done) => { bar.tick(done - last); last = done; } });
      bar.done();
      const out = resolve(stringFlag(values.out) ?? 'fim-out');
      const shapes = new Map([...result.params.tensors].map(([n, t]) => [n, t.shape]));
      const report = writeFisherOutputs(out, result, shapes, { model: modelDir, data: data.source, maxLength: result.options.maxLength, batchSize: result.options.batchSize, upstreamDefaults: !!up }, { granularity, classify: paramClassifier(result.params.layout.recipes) });
      tryPlot('Fisher', () => fisherPlot(report, join(out, 'fisher_layers')));
      const ranked = [...report.layers].sort((a, b) => a.rank - b.rank).slice(0, 5).map((l) => l.group).join(', ');
      console.log(`Fisher (${result.normalise}) of ${result.samples} texts (${result.tokens} tokens, mean loss ${result.meanLoss.toFixed(3)} nats) written to ${out}; most important layers: ${ranked}`);
    } finally {
      checkpoint.close();
    }
  },
};
