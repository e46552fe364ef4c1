/**
 * The tiny checkpoints the reference fixtures are computed on: gpt2, llama with grouped-query attention, and
 * qwen2 (q/k/v biases, no o_proj bias, rope_theta 1e6). Weights use std 0.2 rather than GPT-2's 0.02 so that
 * attention is far from uniform and the MLPs matter: a forward with a wrong rotary or mask would show.
 */
import { readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../../src/model/tiny-checkpoint.ts';
import { SafetensorsFile, writeSafetensors, type TensorSource } from '../../src/model/safetensors.ts';

export const TINY_MODELS = ['gpt2', 'llama-gqa', 'qwen2'] as const;
export type TinyModelName = (typeof TINY_MODELS)[number];

/** Writes config.json + model.safetensors (F32) of one tiny model into `dir` (tokenizer files removed). */
export function writeReferenceModel(name: TinyModelName, dir: string): void {
  mkdirSync(dir, { recursive: true });
  if (name === 'gpt2') {
    writeTinyCheckpoint(dir, { architecture: 'gpt2', seed: 101, nLayer: 3, dModel: 32, nHead: 4, std: 0.2, maxPositions: 32 });
  } else if (name === 'llama-gqa') {
    writeTinyCheckpoint(dir, { architecture: 'llama', seed: 202, nLayer: 3, dModel: 32, nHead: 4, nKvHead: 2, dFF: 48, std: 0.2, maxPositions: 32 });
  } else {
    // qwen2: written as a llama with attention biases, then relabelled and its o_proj biases dropped.
    writeTinyCheckpoint(dir, { architecture: 'llama', seed: 303, nLayer: 2, dModel: 32, nHead: 8, nKvHead: 2, dFF: 40, std: 0.2, qkvBias: true, maxPositions: 32 });
    const cfgPath = join(dir, 'config.json');
    const cfg = JSON.parse(readFileSync(cfgPath, 'utf8')) as Record<string, unknown>;
    cfg.architectures = ['Qwen2ForCausalLM'];
    cfg.model_type = 'qwen2';
    cfg.rope_theta = 1e6;
    delete cfg.attention_bias;
    delete cfg.mlp_bias;
    writeFileSync(cfgPath, JSON.stringify(cfg, null, 2) + '\n');
    const st = join(dir, 'model.safetensors');
    const f = SafetensorsFile.open(st);
    const kept: [string, TensorSource][] = f.names().filter((n) => !n.endsWith('o_proj.bias')).map((n) => [n, f.read(n)]);
    f.close();
    writeSafetensors(st, kept);
  }
  for (const file of ['tokenizer.json', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']) {
    rmSync(join(dir, file), { force: true });
  }
}

/** Fixed inputs: text 0 unpadded, text 1 right-padded (8 real tokens), text 2 left-padded (7 real tokens). */
export function referenceInputs(vocabSize: number): { ids: Int32Array; mask: Int32Array; batch: number; seqLen: number } {
  const batch = 3;
  const seqLen = 12;
  const ids = new Int32Array(batch * seqLen);
  const mask = new Int32Array(batch * seqLen);
  let s = 12345;
  for (let i = 0; i < ids.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    ids[i] = (s >>> 8) % vocabSize;
  }
  for (let t = 0; t < seqLen; t++) {
    mask[t] = 1;
    mask[seqLen + t] = t < 8 ? 1 : 0;
    mask[2 * seqLen + t] = t >= seqLen - 7 ? 1 : 0;
  }
  return { ids, mask, batch, seqLen };
}
