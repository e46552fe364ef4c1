import { resolve, join } from 'node:path';
import { AtlasError } from '../../errors.ts';
import { parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { modelArgument } from '../shared-flags.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { openCheckpoint, validateCheckpoint } from '../../model/checkpoint.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { loadDataset } from '../../data/dataset.ts';
import { DATASET_OPTIONS } from '../../data/defaults.ts';
import { progress } from '../../util/progress.ts';
import { overrideDefaults, pickOptions } from '../../util/option-table.ts';
import { parameterFisher } from '../../params/parameter-fisher.ts';
import { FIM_NUM_SAMPLES, PARAM_FISHER_OPTIONS } from '../../params/defaults.ts';
import { writeFisherOutputs } from '../../params/fisher-report.ts';
import { paramClassifier } from '../../params/param-names.ts';
import { fisherPlot, tryPlot } from '../../params/plots.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

/** fim's dataset options: no labels, --num-samples 100 by default. */
const FIM_DATASET = overrideDefaults(pickOptions(DATASET_OPTIONS, ['textColumn', 'numSamples', 'format']), { numSamples: FIM_NUM_SAMPLES });

const FLAGS = {
  model: { type: 'string' }, data: { type: 'string' }, out: { type: 'string' },
  ...tableFlags(PARAM_FISHER_OPTIONS, FIM_DATASET),
} as const;

/** Diagonal Fisher information of a model on calibration texts. */
export const fimCommand: Command = {
  name: 'fim',
  summary: 'diagonal Fisher information (per-sample gradients) of a model on calibration texts',
  tables: { dataset: FIM_DATASET, fisher: PARAM_FISHER_OPTIONS },
  help: `Usage: latent-atlas fim [MODEL] --model DIR --data FILE [options] [--out fim-out]

F_i = mean over texts of (d log p(text)/d theta_i)^2, log p summed over the text's tokens; exact per-sample
gradients (reverse mode), squared per text. --mode true samples the targets from the model instead of using
the text's own next tokens. --data: a text file (one sample per line) or any dataset file latent-atlas reads
(csv, tsv, jsonl, json, arrow, HF folder, builtin:NAME, e.g. builtin:brown-genres); labels are not read.
Writes fisher_diagonal.safetensors, layer_importance.json, summary.json and fisher_layers.svg/png to --out.

${tableHelp(PARAM_FISHER_OPTIONS)}
${tableHelp(FIM_DATASET)}
  --out DIR               output folder (default fim-out)
  --config FILE.yaml      options from a YAML file whose keys mirror the flags; flags win`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('fim', argv, FLAGS);
    const modelDir = resolve(modelArgument(values, positionals));
    ensureWritableDir(resolve(stringFlag(values.out) ?? 'fim-out'), 'out'); // before the gradients, not after them
    const dataArg = stringFlag(values.data);
    if (!dataArg) throw new AtlasError('--data is required (a text file or dataset, e.g. builtin:brown-genres)');
    const options = fromFlags(PARAM_FISHER_OPTIONS, values);
    const dataOptions = { ...fromFlags(FIM_DATASET, values) };
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
      const data = await loadDataset(dataArg, {
        labelColumn: null, textColumn: dataOptions.textColumn, format: dataOptions.format, seed: options.seed,
        numSamples: dataOptions.numSamples ?? FIM_NUM_SAMPLES,
      });
      const bar = progress({ total: data.texts.length, label: 'fim', unit: 'text' });
      let last = 0;
      const result = await parameterFisher({ checkpoint, tokenizer }, data, { ...options, onProgress: (done) => { bar.tick(done - last); last = done; } });
      bar.done();
      const out = resolve(stringFlag(values.out) ?? 'fim-out');
      const shapes = new Map([...result.params.tensors].map(([n, t]) => [n, t.shape]));
      const report = writeFisherOutputs(out, result, shapes, { model: modelDir, data: data.source, maxLength: result.options.maxLength, batchSize: result.options.batchSize }, paramClassifier(result.params.layout.recipes));
      tryPlot('Fisher', () => fisherPlot(report, join(out, 'fisher_layers')));
      const ranked = [...report.layers].sort((a, b) => a.rank - b.rank).slice(0, 5).map((l) => l.group).join(', ');
      console.log(`Fisher of ${result.samples} texts (${result.tokens} tokens, mean loss ${result.meanLoss.toFixed(3)} nats) written to ${out}; most important layers: ${ranked}`);
    } finally {
      checkpoint.close();
    }
  },
};
