import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { AtlasError } from '../errors.ts';
import { hashJson } from '../data/hash.ts';
import { resolveModel, type ResolveModelOptions } from './hub.ts';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import { loadTokenizer, type AtlasTokenizer } from './tokenizer.ts';
import { TransformerRuntime, type RuntimeOptions } from './runtime.ts';
import { StreamedRuntime } from './streamed-runtime.ts';
import { float32WeightBytes, formatBytes, needsStreaming, planStreaming, prepackFits, resolveMaxMemory } from './memory.ts';
import { modelKeyFromFolder, modelKeyFromId } from '../data/activation-cache.ts';

/** Everything needed to run a model: its folder, weights, tokenizer and the compiled runtime. */
export interface LoadedModel {
  /** What the user passed (folder or hub id). */
  id: string;
  dir: string;
  /** Cache key of the model (hub id + revision, or a fingerprint of the local folder). */
  key: string;
  checkpoint: Checkpoint;
  tokenizer: AtlasTokenizer;
  /** Whole-model execution, or layer-streamed (StreamedRuntime, `runtime.streamed`) when the weights do not fit maxMemory. */
  runtime: TransformerRuntime | StreamedRuntime;
  /** The memory budget in bytes (maxMemory, or the machine's default). */
  maxMemory: number;
  release(): Promise<void>;
}

export interface LoadModelOptions extends RuntimeOptions {
  /** Hub revision (branch, tag or commit). Default 'main'. */
  revision?: string;
  /** Passed to the hub resolver (cache dir, endpoint, offline). */
  hub?: Omit<ResolveModelOptions, 'revision'>;
  /** A tokenizer file to use instead of the one found beside the weights (tokenizer.json, .model, llama2.c .bin). */
  tokenizer?: string;
  /** Bytes (or a size such as '8G') the model may use; default: 80 % of what the machine has free (memory.ts). */
  maxMemory?: number | string;
}

/**
 * The tokenizer must not produce ids the model has no embedding for. HF checkpoints may pad the embedding
 * beyond the tokenizer; llama2.c's run.c reads exactly vocab_size tokens, so there the sizes must be equal.
 */
export function checkTokenizerFitsModel(tokenizer: AtlasTokenizer, checkpoint: Checkpoint): void {
  const model = checkpoint.config.vocabSize;
  const exact = checkpoint.format === 'llama2c';
  if (tokenizer.vocabSize > model || (exact && tokenizer.vocabSize !== model)) {
    throw new AtlasError(`the tokenizer has ${tokenizer.vocabSize} tokens but the model's vocab_size is ${model}`, {
      file: tokenizer.source,
      field: 'vocab_size',
      hint: `use the tokenizer the model was trained with (model: ${checkpoint.fileOf('embed_tokens.weight')})`,
    });
  }
}

/** Resolves a model argument (folder or hub id), opens its weights and tokenizer and builds the runtime. */
export async function loadModel(model: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const local = existsSync(model);
  // A folder, or a llama2.c .bin file (resolveModel passes local files through, openCheckpoint reads them).
  const path = await resolveModel(model, { ...opts.hub, revision: opts.revision });
  const checkpoint = openCheckpoint(path);
  const dir = checkpoint.dir;
  try {
    const tokenizer = await loadTokenizer(dir, { file: opts.tokenizer });
    checkTokenizerFitsModel(tokenizer, checkpoint);
    const maxMemory = resolveMaxMemory(opts.maxMemory);
    let key = local ? modelKeyFromFolder(resolve(dir)) : modelKeyFromId(model, opts.revision ?? 'main');
    if (checkpoint.format === 'llama2c' || opts.tokenizer !== undefined) {
      // Several llama2.c models (or tokenizers) can share a folder: the key names the files in use.
      const stamp = (f: string): unknown[] => [basename(f), statSync(f).size, Math.floor(statSync(f).mtimeMs)];
      key += `-${hashJson([stamp(checkpoint.fileOf('embed_tokens.weight')), stamp(tokenizer.source)], 8)}`;
    }
    const rtOpts: RuntimeOptions = { threads: opts.threads, fusedAttention: opts.fusedAttention, device: opts.device, verbose: opts.verbose, sessionCache: opts.sessionCache, modelKey: key };
    let runtime: TransformerRuntime | StreamedRuntime;
    if (needsStreaming(checkpoint.spec, maxMemory)) {
      runtime = await StreamedRuntime.create(checkpoint, { ...rtOpts, ...planStreaming(checkpoint.spec, maxMemory) });
      if (opts.verbose) {
        console.error(`verbose: the float32 weights (${formatBytes(float32WeightBytes(checkpoint.spec))}) do not fit the memory budget ${formatBytes(maxMemory)}: running ${runtime.segments.length} segments of blocks over chunks of ${runtime.chunkTokens} tokens`);
      }
    } else {
      // onnxruntime's pre-packed copy of the weights only when it fits as well
      const prepack = opts.prepack ?? prepackFits(checkpoint.spec, maxMemory);
      if (opts.verbose && !prepack) console.error(`verbose: whole model without onnxruntime's pre-packed weights (one copy; the packed copy would not fit ${formatBytes(maxMemory)})`);
      runtime = await TransformerRuntime.create(checkpoint, { ...rtOpts, prepack });
    }
    return {
      id: model,
      dir,
      key,
      checkpoint,
      tokenizer,
      runtime,
      maxMemory,
      async release() {
        await runtime.release();
        checkpoint.close();
      },
    };
  } catch (e) {
    checkpoint.close();
    throw e;
  }
}
