import { existsSync, readdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseFlags, intFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { tinyModelTypes, writeTinyCheckpoint, writeTinyFamilyCheckpoint } from '../../model/tiny-checkpoint.ts';

/** Writes a tiny deterministic random checkpoint in Hugging Face layout (for tests, benchmarks and bug reports). */
export const makeTinyCommand: Command = {
  name: 'make-tiny',
  summary: 'write a tiny deterministic random checkpoint (Hugging Face layout) to a folder',
  help: `Usage: latent-atlas make-tiny --out DIR [--arch MODEL_TYPE] [--seed 0] [--layers N] [--format safetensors|safetensors-sharded|torch-bin] [--dtype F32|F16|BF16] [--force]

MODEL_TYPE: gpt2 (default), llama, or any supported model_type (\${tinyModelTypes().join(', ')}; --format
other than safetensors only for gpt2 and llama).

Writes config.json, weights and tokenizer files of a small random model. Random weights show no structure:
use it to test pipelines, never to draw conclusions. An existing non-empty --out is refused unless --force.`,
  async run(argv) {
    const { values } = parseFlags('make-tiny', argv, {
      out: { type: 'string' }, arch: { type: 'string', default: 'gpt2' }, seed: { type: 'string' },
      layers: { type: 'string' }, format: { type: 'string', default: 'safetensors' }, dtype: { type: 'string', default: 'F32' }, force: { type: 'boolean' },
    });
    if (!values.out) throw new AtlasError('--out DIR is required');
    const arch = values.arch ?? 'gpt2';
    if (!tinyModelTypes().includes(arch)) throw new AtlasError(`--arch must be one of ${tinyModelTypes().join(', ')}, got '${arch}'`);
    const format = values.format;
    if (format !== 'safetensors' && format !== 'safetensors-sharded' && format !== 'torch-bin') {
      throw new AtlasError(`--format must be safetensors, safetensors-sharded or torch-bin, got '${format}'`);
    }
    const dtype = values.dtype;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new AtlasError(`--dtype must be F32, F16 or BF16, got '${dtype}'`);
    const out = resolve(values.out);
    if (existsSync(out) && (!statSync(out).isDirectory() || readdirSync(out).length > 0) && !values.force) {
      throw new AtlasError('exists and is not empty: make-tiny would overwrite what is there', { file: out, hint: 'pass --force to overwrite, or choose another --out' });
    }
    if (arch !== 'gpt2' && arch !== 'llama') {
      if (format !== 'safetensors') throw new AtlasError(`--format ${format} is only written for gpt2 and llama; ${arch} gets safetensors`);
      const layers = values.layers ? intFlag(values.layers, 'layers', 2, 1) : undefined;
      const { config } = writeTinyFamilyCheckpoint(out, { modelType: arch, seed: intFlag(values.seed, 'seed', 0), dtype, layers });
      console.log(`wrote ${config.modelType} checkpoint (${config.nLayer} layers, d=${config.dModel}, vocab ${config.vocabSize}) to ${out}`);
      return;
    }
    const { config } = writeTinyCheckpoint(out, {
      architecture: arch, seed: intFlag(values.seed, 'seed', 0), nLayer: values.layers === undefined ? undefined : intFlag(values.layers, 'layers', 2, 1),
      format, dtype,
    });
    console.log(`wrote ${config.modelType} checkpoint (${config.nLayer} layers, d=${config.dModel}, vocab ${config.vocabSize}) to ${out}`);
  },
};
