import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { resolveModel, type ResolveModelOptions } from './hub.ts';
import { openCheckpoint, type Checkpoint } from './checkpoint.ts';
import { loadTokenizer, type AtlasTokenizer } from './tokenizer.ts';
import { TransformerRuntime, type RuntimeOptions } from './runtime.ts';
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
  runtime: TransformerRuntime;
  release(): Promise<void>;
}

export interface LoadModelOptions extends RuntimeOptions {
  /** Hub revision (branch, tag or commit). Default 'main'. */
  revision?: string;
  /** Passed to the hub resolver (cache dir, endpoint, offline). */
  hub?: Omit<ResolveModelOptions, 'revision'>;
}

/** Resolves a model argument (folder or hub id), opens its weights and tokenizer and builds the runtime. */
export async function loadModel(model: string, opts: LoadModelOptions = {}): Promise<LoadedModel> {
  const local = existsSync(model) && statSync(model).isDirectory();
  const dir = await resolveModel(model, { ...opts.hub, revision: opts.revision });
  const checkpoint = openCheckpoint(dir);
  try {
    const tokenizer = await loadTokenizer(dir);
    const runtime = await TransformerRuntime.create(checkpoint, { threads: opts.threads, fusedAttention: opts.fusedAttention });
    return {
      id: model,
      dir,
      key: local ? modelKeyFromFolder(resolve(dir)) : modelKeyFromId(model, opts.revision ?? 'main'),
      checkpoint,
      tokenizer,
      runtime,
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
