import { resolve, join } from 'node:path';
import { parseFlags, intFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { openCheckpoint, validateCheckpoint } from '../../model/checkpoint.ts';
import { resolveModel } from '../../model/hub.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { loadDataset } from '../../data/dataset.ts';
import { CALIBRATION_SOURCE, CALIBRATION_TEXTS } from '../../data/calibration.ts';
import { progress } from '../../util/progress.ts';
import { ParamStore } from '../../params/param-store.ts';
import { diagonalFisher, FISHER_FORMULAS, type FisherMode, type FisherNormalise } from '../../params/fisher.ts';
import type { TokenBatch } from '../../params/backprop.ts';
import { writeFisherOutputs } from '../../params/fisher-report.ts';
import { compareFimRuns } from '../../params/fisher-compare.ts';
import { fisherPlot, tryPlot } from '../../params/plots.ts';
import { checkDevice } from '../../params/device.ts';

/**
 * Defaults of `fim`, ours and the Fisher/similarity toolkit's (`--upstream`). Ours take more, shorter texts in
 * larger batches: the estimate's variance falls with the number of samples, and batch size only changes speed
 * here (per-sample gradients are exact, so it never changes the result).
 */
export const FIM_DEFAULTS = {
  ours: { 'num-samples': 100, 'max-length': 128, 'batch-size': 8, normalise: 'mean' },
  upstream: { 'num-samples': 20, 'max-length': 256, 'batch-size': 2, normalise: 'mean' },
} as const;

/** Diagonal Fisher information of a model on calibration texts. */
export const fimCommand: Command = {
  name: 'fim',
  summary: 'diagonal Fisher information (per-sample gradients) of a model on calibration texts',
  help: `Usage: latent-atlas fim --model MODEL [--data FILE] [--num-samples 100] [--max-length 128] [--batch-size 8]
                        [--normalise mean|sum] [--mode empirical|true] [--granularity N] [--save-fisher]
                        [--upstream] [--device cpu] [--revision main] [--seed 0] [--text-column text] [--out fim-out]
       latent-atlas fim --compare DIR_A DIR_B [DIR_C ...] [--labels a,b,c] [--out fim-compare]

--normalise mean (default; the Fisher/similarity toolkit's estimator):
  ${FISHER_FORMULAS.mean}
--normalise sum:
  ${FISHER_FORMULAS.sum}
Exact per-sample gradients (reverse mode), squared per text, never of a batch mean. --mode true samples the
targets from the model instead of using the text's own next tokens.
MODEL: a checkpoint folder or a Hugging Face id (resolved like every command). --data: a text file (one
sample per line) or any dataset file latent-atlas reads; without --data the built-in calibration sentences
(src/data/calibration.ts) are used. --upstream: the toolkit's defaults (--num-samples 20 --max-length 256
--batch-size 2 --normalise mean); explicit flags still win. --device: cpu only.
Writes fisher_diagonal.safetensors (always; --save-fisher is accepted for upstream compatibility),
fisher_layers.json and summary.json (ours + upstream's fields), layer_importance.json and
component_importance.json (upstream's schema), granular_importance.json (--granularity N: each component cut
into N chunks of its flattened index) and fisher_layers.svg/png to --out.
--compare reads earlier fim output folders: grouped bars of layer importance per model, and for two folders
the Fisher-vs-Fisher ratio and difference per layer and per tensor (fisher_comparison.json/csv + figure).`,
  async run(argv) {
    const { values, positionals } = parseFlags('fim', argv, {
      model: { type: 'string' }, data: { type: 'string' }, 'num-samples': { type: 'string' }, 'max-length': { type: 'string' },
      'batch-size': { type: 'string' }, mode: { type: 'string', default: 'empirical' }, normalise: { type: 'string' }, seed: { type: 'string' },
      granularity: { type: 'string' }, 'save-fisher': { type: 'boolean' }, upstream: { type: 'boolean' }, device: { type: 'string' },
      revision: { type: 'string', default: 'main' }, compare: { type: 'string', multiple: true }, labels: { type: 'string' },
      'text-column': { type: 'string' }, out: { type: 'string' },
    }, true);
    checkDevice(values.device);
    if (values.compare) {
      const dirs = [...values.compare, ...positionals].map((d) => resolve(d));
      const labels = values.labels?.split(',');
      const out = resolve(values.out ?? 'fim-compare');
      compareFimRuns(dirs, out, labels);
      console.log(`compared the Fisher of ${dirs.length} runs; results in ${out}`);
      return;
    }
    if (positionals.length) throw new AtlasError(`unexpected argument '${positionals[0]}'`, { hint: 'only --compare takes several folders' });
    if (!values.model) throw new AtlasError('--model is required (a checkpoint folder or a hub id such as gpt2)');
    const defaults = values.upstream ? FIM_DEFAULTS.upstream : FIM_DEFAULTS.ours;
    const mode = values.mode as FisherMode;
    if (mode !== 'empirical' && mode !== 'true') throw new AtlasError(`--mode must be empirical or true, got '${values.mode}'`);
    const normalise = (values.normalise ?? defaults.normalise) as FisherNormalise;
    if (normalise !== 'mean' && normalise !== 'sum') throw new AtlasError(`--normalise must be mean or sum, got '${values.normalise}'`);
    const numSamples = intFlag(values['num-samples'], 'num-samples', defaults['num-samples'], 1);
    const maxLength = intFlag(values['max-length'], 'max-length', defaults['max-length'], 2);
    const batchSize = intFlag(values['batch-size'], 'batch-size', defaults['batch-size'], 1);
    const granularity = intFlag(values.granularity, 'granularity', 0, 0);
    const modelDir = await resolveModel(values.model, { revision: values.revision });
    const ckpt = openCheckpoint(modelDir);
    let params: ParamStore<Float32Array>;
    try {
      validateCheckpoint(ckpt);
      params = ParamStore.fromCheckpoint(ckpt);
    } finally {
      ckpt.close();
    }
    const tokenizer = await loadTokenizer(modelDir);
    const data = values.data
      ? await loadDataset(values.data, { labelColumn: null, textColumn: values['text-column'] })
      : { texts: [...CALIBRATION_TEXTS], source: CALIBRATION_SOURCE };
    const texts = data.texts.filter((t) => t.trim().length > 0).slice(0, numSamples);
    if (texts.length === 0) throw new AtlasError('no non-empty texts', { file: values.data });
    const bar = progress({ total: texts.length, label: 'fim', unit: 'text' });
    async function* batches(): AsyncGenerator<TokenBatch> {
      for (let i = 0; i < texts.length; i += batchSize) {
        const chunk = texts.slice(i, i + batchSize);
        const enc = tokenizer.encodeBatch(chunk, { maxLength });
        yield { ids: enc.ids, attentionMask: enc.attentionMask, batch: chunk.length, seqLen: enc.seqLen };
        bar.tick(chunk.length);
      }
    }
    const result = await diagonalFisher(params, batches(), { mode, normalise, seed: intFlag(values.seed, 'seed', 0) });
    bar.done();
    if (result.samples === 0) throw new AtlasError('no text has two or more tokens: nothing to predict', { file: values.data });
    const out = resolve(values.out ?? 'fim-out');
    const shapes = new Map([...params.tensors].map(([n, t]) => [n, t.shape]));
    const report = writeFisherOutputs(out, result, shapes, { model: modelDir, data: data.source, maxLength, batchSize, upstreamDefaults: !!values.upstream }, { granularity });
    tryPlot('Fisher', () => fisherPlot(report, join(out, 'fisher_layers')));
    const ranked = [...report.layers].sort((a, b) => a.rank - b.rank).slice(0, 5).map((l) => l.group).join(', ');
    console.log(`Fisher (${normalise}) of ${result.samples} texts (${result.tokens} tokens, mean loss ${result.meanLoss.toFixed(3)} nats) written to ${out}; most important layers: ${ranked}`);
  },
};
