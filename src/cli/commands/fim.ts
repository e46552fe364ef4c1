import { resolve, join } from 'node:path';
import { parseFlags, intFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { openCheckpoint, validateCheckpoint } from '../../model/checkpoint.ts';
import { loadTokenizer } from '../../model/tokenizer.ts';
import { loadDataset } from '../../data/dataset.ts';
import { progress } from '../../util/progress.ts';
import { ParamStore } from '../../params/param-store.ts';
import { diagonalFisher, type FisherMode } from '../../params/fisher.ts';
import type { TokenBatch } from '../../params/backprop.ts';
import { writeFisherOutputs } from '../../params/fisher-report.ts';
import { fisherPlot, tryPlot } from '../../params/plots.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

/** Diagonal Fisher information of a model on calibration texts. */
export const fimCommand: Command = {
  name: 'fim',
  summary: 'diagonal Fisher information (per-sample gradients) of a model on calibration texts',
  help: `Usage: latent-atlas fim --model DIR --data FILE [--num-samples 100] [--max-length 128] [--batch-size 8]
                        [--mode empirical|true] [--seed 0] [--text-column text] [--out fim-out]

F_i = mean over texts of (d log p(text)/d theta_i)^2, log p summed over the text's tokens; exact per-sample
gradients (reverse mode), squared per text. --mode true samples the targets from the model instead of using
the text's own next tokens. --data: a text file (one sample per line) or any dataset file latent-atlas reads
(csv, tsv, jsonl, json, arrow, HF folder, builtin:NAME); the first --num-samples texts are used.
Writes fisher_diagonal.safetensors, layer_importance.json, summary.json and fisher_layers.svg/png to --out.`,
  async run(argv) {
    const { values } = parseFlags('fim', argv, {
      model: { type: 'string' }, data: { type: 'string' }, 'num-samples': { type: 'string' }, 'max-length': { type: 'string' },
      'batch-size': { type: 'string' }, mode: { type: 'string', default: 'empirical' }, seed: { type: 'string' },
      'text-column': { type: 'string' }, out: { type: 'string', default: 'fim-out' },
    });
    if (!values.model) throw new AtlasError('--model DIR is required');
    if (!values.data) throw new AtlasError('--data FILE is required');
    const mode = values.mode as FisherMode;
    if (mode !== 'empirical' && mode !== 'true') throw new AtlasError(`--mode must be empirical or true, got '${values.mode}'`);
    const numSamples = intFlag(values['num-samples'], 'num-samples', 100, 1);
    const maxLength = intFlag(values['max-length'], 'max-length', 128, 2);
    const batchSize = intFlag(values['batch-size'], 'batch-size', 8, 1);
    ensureWritableDir(resolve(values.out!), 'out'); // before the gradients, not after them
    const modelDir = resolve(values.model);
    const ckpt = openCheckpoint(modelDir);
    let params: ParamStore<Float32Array>;
    try {
      validateCheckpoint(ckpt);
      params = ParamStore.fromCheckpoint(ckpt);
    } finally {
      ckpt.close();
    }
    const tokenizer = await loadTokenizer(modelDir);
    const data = await loadDataset(values.data, { labelColumn: null, textColumn: values['text-column'] });
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
    const result = await diagonalFisher(params, batches(), { mode, seed: intFlag(values.seed, 'seed', 0) });
    bar.done();
    if (result.samples === 0) throw new AtlasError('no text has two or more tokens: nothing to predict', { file: values.data });
    const out = resolve(values.out!);
    const shapes = new Map([...params.tensors].map(([n, t]) => [n, t.shape]));
    const report = writeFisherOutputs(out, result, shapes, { model: modelDir, data: data.source, maxLength, batchSize });
    tryPlot('Fisher', () => fisherPlot(report, join(out, 'fisher_layers')));
    const ranked = [...report.layers].sort((a, b) => a.rank - b.rank).slice(0, 5).map((l) => l.group).join(', ');
    console.log(`Fisher of ${result.samples} texts (${result.tokens} tokens, mean loss ${result.meanLoss.toFixed(3)} nats) written to ${out}; most important layers: ${ranked}`);
  },
};
