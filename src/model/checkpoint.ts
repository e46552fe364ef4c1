/**
 * Opens a Hugging Face checkpoint folder (config.json + weights in any of the usual layouts): the stored
 * tensors (`stored`), the model's canonical tensors resolved through its architecture module (`weights`,
 * see weights.ts and spec.ts), and, for the code not yet moved to the spec, the legacy names (legacy-names.ts).
 * Stored tensors that the model would not read are an error at open time. Tensors are read one at a time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { type ModelConfig, loadConfig, parseConfig } from './config.ts';
import { llama2cCheckpointPath, openLlama2cWeights } from './llama2c.ts';
import type { ModelSpec } from './spec.ts';
import { moduleOfFamily } from './architectures/index.ts';
import { CanonicalWeights, similarNames, type StoredTensorReader } from './weights.ts';
import { legacyEmbeddingName, legacyName, legacyTensorShapes } from './legacy-names.ts';
import type { F32Tensor } from './tensor.ts';
import type { ScratchBuffer } from './scratch.ts';
import { SafetensorsFile } from './safetensors.ts';
import { TorchBinFile } from './torch-bin.ts';

export type CheckpointFormat = 'safetensors' | 'safetensors-sharded' | 'torch-bin' | 'torch-bin-sharded' | 'llama2c';

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  spec: ModelSpec;
  format: CheckpointFormat;
  /** The stored tensors under their stored names (prefix and all), buffers included. */
  stored: StoredTensorReader;
  /** The model's canonical tensors (spec.ts names), resolved through its architecture module. */
  weights: CanonicalWeights;
  /**
   * Legacy names (see legacy-names.ts: stored names without the model prefix) of the stored parameters
   * (buffers such as gpt2's `attn.bias` mask are left out). The methods below use these names.
   */
  names(): string[];
  /** True when `tensor(name)` would succeed (includes a tied `lm_head.weight`). */
  has(name: string): boolean;
  /** Shape of a parameter without reading its data. */
  shape(name: string): number[];
  /** The file a parameter is stored in (for messages). */
  fileOf(name: string): string;
  /** Reads one parameter as float32; `expectedShape` is checked (AtlasError naming file, tensor and both shapes). */
  tensor(name: string, expectedShape?: number[]): F32Tensor;
  close(): void;
}

/** What a weights file offers; safetensors and torch files both fit. */
interface WeightFile {
  path: string;
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  read(name: string, scratch?: ScratchBuffer): F32Tensor;
  close(): void;
}

function openWeightFile(path: string): WeightFile {
  if (path.endsWith('.safetensors')) {
    const f = SafetensorsFile.open(path);
    return { path, names: () => f.names(), has: (n) => f.entries.has(n), shape: (n) => [...f.entry(n).shape], read: (n, scratch) => f.read(n, scratch), close: () => f.close() };
  }
  const f = TorchBinFile.open(path);
  return { path, names: () => f.names(), has: (n) => f.tensors.has(n), shape: (n) => [...f.ref(n).shape], read: (n) => f.read(n), close: () => f.close() };
}

/** Which weights layout a folder holds, in priority order; null when none is present. */
function findWeights(dir: string): { format: CheckpointFormat; file: string } | null {
  const candidates: [CheckpointFormat, string][] = [
    ['safetensors-sharded', 'model.safetensors.index.json'],
    ['safetensors', 'model.safetensors'],
    ['torch-bin-sharded', 'pytorch_model.bin.index.json'],
    ['torch-bin', 'pytorch_model.bin'],
  ];
  for (const [format, name] of candidates) {
    const file = join(dir, name);
    if (existsSync(file)) return { format, file };
  }
  return null;
}

/** Reads an index.json's weight_map and checks every shard it names exists. */
function readIndex(indexFile: string, dir: string): Map<string, string> {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(indexFile, 'utf8'));
  } catch (e) {
    throw new AtlasError(`is not valid JSON: ${(e as Error).message}`, { file: indexFile });
  }
  const map = (raw as { weight_map?: unknown } | null)?.weight_map;
  if (!map || typeof map !== 'object' || Array.isArray(map)) throw new AtlasError('has no weight_map object', { file: indexFile, field: 'weight_map' });
  const out = new Map<string, string>();
  const missing = new Set<string>();
  for (const [tensor, shard] of Object.entries(map as Record<string, unknown>)) {
    if (typeof shard !== 'string') throw new AtlasError(`shard of '${tensor}' is not a file name`, { file: indexFile, field: 'weight_map' });
    const path = join(dir, shard);
    if (!existsSync(path)) missing.add(shard);
    out.set(tensor, path);
  }
  if (missing.size) {
    throw new AtlasError(`shard file(s) missing from ${dir}: ${[...missing].join(', ')}`, { file: indexFile, hint: 'download every shard listed in the index' });
  }
  return out;
}

/**
 * Opens the checkpoint in `path`: a folder (config.json + the first weights layout found, see `findWeights`),
 * or a llama2.c checkpoint (a .bin file, or a folder holding one and no config.json; see llama2c.ts), whose
 * header stands in for config.json.
 */
export function openCheckpoint(path: string): Checkpoint {
  if (!existsSync(path)) throw new AtlasError('model folder not found', { file: path });
  const llama2c = llama2cCheckpointPath(path);
  const llama2cWeights = llama2c === null ? null : openLlama2cWeights(llama2c);
  const dir = llama2c === null ? path : dirname(llama2c);
  const config = llama2cWeights ? parseConfig(llama2cWeights.config, llama2c!) : loadConfig(dir);
  const found: { format: CheckpointFormat; file: string } | null = llama2cWeights ? { format: 'llama2c', file: llama2c! } : findWeights(dir);
  const spec = config.spec;
  if (!found) {
    throw new AtlasError('no weights found: looked for model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json, pytorch_model.bin', { file: dir, hint: 'download the weights next to config.json' });
  }
  const { format, file } = found;
  const location = format.endsWith('-sharded') ? readIndex(file, dir) : null;
  const open = new Map<string, WeightFile>();
  if (llama2cWeights) open.set(llama2cWeights.file, { path: llama2cWeights.file, ...llama2cWeights });
  const weightFile = (path: string): WeightFile => {
    let f = open.get(path);
    if (!f) {
      f = openWeightFile(path);
      open.set(path, f);
    }
    return f;
  };
  const storedToPath = new Map<string, string>();
  if (location) {
    for (const [stored, path] of location) storedToPath.set(stored, path);
  } else {
    for (const stored of weightFile(file).names()) storedToPath.set(stored, file);
  }
  const shardOf = (stored: string): WeightFile => {
    const f = weightFile(storedToPath.get(stored)!);
    if (location && !f.has(stored)) {
      throw new AtlasError(`the index maps '${stored}' to this shard, but the shard does not hold it`, { file: f.path, field: stored, hint: 'the index and shards do not match; download them again' });
    }
    return f;
  };
  const stored: StoredTensorReader = {
    names: () => [...storedToPath.keys()],
    has: (n) => storedToPath.has(n),
    shape: (n) => shardOf(n).shape(n),
    read: (n, scratch) => shardOf(n).read(n, scratch),
    fileOf: (n) => storedToPath.get(n) ?? file,
  };
  const module = moduleOfFamily(spec.family);
  let weights: CanonicalWeights;
  try {
    weights = CanonicalWeights.resolve(module, spec, stored, file);
    const unused = weights.unusedStored(module);
    if (unused.length) {
      throw new AtlasError(
        `${unused.length} stored tensor(s) are not read by a ${spec.modelType} model with the sizes config.json gives (${spec.nLayer} layers): ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', …' : ''}`,
        { file: llama2c ?? join(dir, 'config.json'), field: 'num_hidden_layers / n_layer', hint: 'config.json does not match the weights (fewer layers, or another architecture)' },
      );
    }
  } catch (e) {
    for (const f of open.values()) f.close();
    throw e;
  }

  // Legacy names (transition, see legacy-names.ts) → stored names; buffers are not parameters.
  const legacy = new Map<string, string>();
  for (const n of storedToPath.keys()) {
    if (module.isBuffer(n)) continue;
    const l = legacyName(spec, n);
    if (!legacy.has(l)) legacy.set(l, n);
  }
  const tiedEmbedding = spec.unembed?.tied ? legacyEmbeddingName(spec, weights.recipes) : undefined;
  const resolve = (name: string): string => {
    const s = legacy.get(name);
    if (s !== undefined) return s;
    if (name === 'lm_head.weight' && tiedEmbedding && legacy.has(tiedEmbedding)) return legacy.get(tiedEmbedding)!;
    const similar = similarNames(name, [...legacy.keys()]);
    throw new AtlasError(`tensor '${name}' not found`, { file, field: name, hint: `similar names in the checkpoint: ${similar.join(', ') || '(none)'}` });
  };
  return {
    dir,
    config,
    spec,
    format,
    stored,
    weights,
    names: () => [...legacy.keys()],
    has: (name) => legacy.has(name) || (name === 'lm_head.weight' && !!tiedEmbedding && legacy.has(tiedEmbedding)),
    shape: (name) => stored.shape(resolve(name)),
    fileOf: (name) => storedToPath.get(resolve(name))!,
    tensor(name, expectedShape) {
      const s = resolve(name);
      const f = shardOf(s);
      const shape = f.shape(s);
      if (expectedShape && (shape.length !== expectedShape.length || shape.some((x, i) => x !== expectedShape[i]))) {
        throw new AtlasError(`tensor '${s}' has shape [${shape.join(', ')}], expected [${expectedShape.join(', ')}] from config.json`, { file: f.path, field: name, hint: 'config.json does not match the weights' });
      }
      return f.read(s);
    },
    close() {
      for (const f of open.values()) f.close();
      open.clear();
    },
  };
}

/** Every parameter the model reads, with its shape, under the legacy names (HF layouts: gpt2 Conv1D is [in, out]). */
export function expectedTensorShapes(config: ModelConfig): Map<string, number[]> {
  return legacyTensorShapes(config.spec);
}

/**
 * Checks, without reading tensor data, that every stored tensor the model needs is present with the shape
 * config.json implies. Throws the first mismatch as an AtlasError naming file, tensor and both shapes.
 */
export function validateCheckpoint(ckpt: Checkpoint): void {
  ckpt.weights.validate();
}
