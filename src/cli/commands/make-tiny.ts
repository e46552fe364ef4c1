import { resolve } from 'node:path';
import { parseFlags, intFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { writeTinyCheckpoint } from '../../model/tiny-checkpoint.ts';

/** Writes a tiny deterministic random checkpoint in Hugging Face layout (for tests, benchmarks and bug reports). */
export const makeTinyCommand: Command = {
  name: 'make-tiny',
  summary: 'write a tiny deterministic random checkpoint (Hugging Face layout) to a folder',
  help: `Usage: latent-atlas make-tiny --out DIR [--arch gpt2|llama] [--seed 0] [--layers N] [--format safetensors|safetensors-sharded|torch-bin] [--dtype F32|F16|BF16]

Writes config.json, weights and tokenizer files of a small random model. Random weights show no structure:
use it to test pipelines, never to draw conclusions.`,
  async run(argv) {
    const { values } = parseFlags('make-tiny', argv, {
      out: { type: 'string' }, arch: { type: 'string', default: 'gpt2' }, seed: { type: 'string' },
      layers: { type: 'string' }, format: { type: 'string', default: 'safetensors' }, dtype: { type: 'string', default: 'F32' },
    });
    if (!values.out) throw new AtlasError('--out DIR is required');
    const arch = values.arch;
    if (arch !== 'gpt2' && arch !== 'llama') throw new AtlasError(`--arch must be gpt2 or llama, got '${arch}'`);
    const format = values.format;
    if (format !== 'safetensors' && format !== 'safetensors-sharded' && format !== 'torch-bin') {
      throw new AtlasError(`--format must be safetensors, safetensors-sharded or torch-bin, got '${format}'`);
    }
    const dtype = values.dtype;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new AtlasError(`--dtype must be F32, F16 or BF16, got '${dtype}'`);
    const out = resolve(values.out);
    const { config } = writeTinyCheckpoint(out, {
      architecture: arch, seed: intFlag(values.seed, 'seed', 0), nLayer: values.layers === undefined ? undefined : intFlag(values.layers, 'layers', 2, 1),
      format, dtype,
    });
    console.log(`wrote ${config.modelType} checkpoint (${config.nLayer} layers, d=${config.dModel}, vocab ${config.vocabSize}) to ${out}`);
  },
};
