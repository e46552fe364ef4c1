/**
 * Opens a Hugging Face checkpoint folder (config.json + weights in any of the usual layouts) and serves its
 * parameters under canonical names: no `transformer.` / `model.` prefix (gpt2 `h.0.attn.c_attn.weight`,
 * llama `layers.0.self_attn.q_proj.weight`), plus `lm_head.weight` for both; BERT/DistilBERT under BertModel's
 * names without the `bert.` prefix (`encoder.layer.0.attention.self.query.weight`, see canonicalBertName). Tensors are read one at a time.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AtlasError } from '../errors.ts';
import { type ModelConfig, loadConfig, parseConfig } from './config.ts';
import { llama2cCheckpointPath, openLlama2cWeights } from './llama2c.ts';
import type { F32Tensor } from './tensor.ts';
import { SafetensorsFile } from './safetensors.ts';
import { TorchBinFile } from './torch-bin.ts';

export type CheckpointFormat = 'safetensors' | 'safetensors-sharded' | 'torch-bin' | 'torch-bin-sharded' | 'llama2c';

export interface Checkpoint {
  dir: string;
  config: ModelConfig;
  format: CheckpointFormat;
  /** Canonical names of the stored parameters (buffers such as gpt2's `attn.bias` mask are left out). */
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
  read(name: string): F32Tensor;
  close(): void;
}

function openWeightFile(path: string): WeightFile {
  if (path.endsWith('.safetensors')) {
    const f = SafetensorsFile.open(path);
    return { path, names: () => f.names(), has: (n) => f.entries.has(n), shape: (n) => [...f.entry(n).shape], read: (n) => f.read(n), close: () => f.close() };
  }
  const f = TorchBinFile.open(path);
  return { path, names: () => f.names(), has: (n) => f.tensors.has(n), shape: (n) => [...f.ref(n).shape], read: (n) => f.read(n), close: () => f.close() };
}

/** DistilBERT block parameter names → the BERT names the runtime reads (same maths, other names). */
const DISTILBERT_BLOCK_NAMES: [RegExp, string][] = [
  [/^transformer\.layer\.(\d+)\.attention\.q_lin\./, 'encoder.layer.$1.attention.self.query.'],
  [/^transformer\.layer\.(\d+)\.attention\.k_lin\./, 'encoder.layer.$1.attention.self.key.'],
  [/^transformer\.layer\.(\d+)\.attention\.v_lin\./, 'encoder.layer.$1.attention.self.value.'],
  [/^transformer\.layer\.(\d+)\.attention\.out_lin\./, 'encoder.layer.$1.attention.output.dense.'],
  [/^transformer\.layer\.(\d+)\.sa_layer_norm\./, 'encoder.layer.$1.attention.output.LayerNorm.'],
  [/^transformer\.layer\.(\d+)\.ffn\.lin1\./, 'encoder.layer.$1.intermediate.dense.'],
  [/^transformer\.layer\.(\d+)\.ffn\.lin2\./, 'encoder.layer.$1.output.dense.'],
  [/^transformer\.layer\.(\d+)\.output_layer_norm\./, 'encoder.layer.$1.output.LayerNorm.'],
];

/**
 * BERT family: strips the `bert.` / `distilbert.` prefix of BertForX / DistilBertForX checkpoints, renames
 * DistilBERT blocks to BERT names, maps old (TF-converted) `LayerNorm.gamma/beta` to `weight/bias`, and drops
 * the `position_ids` buffer.
 */
function canonicalBertName(stored: string): string | null {
  let name = stored.replace(/^(bert|distilbert)\./, '');
  if (/(^|\.)position_ids$/.test(name)) return null;
  name = name.replace(/(LayerNorm|layer_norm)\.gamma$/, '$1.weight').replace(/(LayerNorm|layer_norm)\.beta$/, '$1.bias');
  for (const [re, to] of DISTILBERT_BLOCK_NAMES) if (re.test(name)) return name.replace(re, to);
  return name;
}

/** Canonical name of a stored tensor, or null for buffers that are not parameters. */
export function canonicalName(stored: string, config: ModelConfig): string | null {
  if (config.architecture === 'bert') return canonicalBertName(stored);
  let name = stored;
  for (const prefix of ['transformer.', 'model.']) {
    if (name.startsWith(prefix)) {
      name = name.slice(prefix.length);
      break;
    }
  }
  if (config.architecture === 'gpt2' && /^h\.\d+\.attn\.(bias|masked_bias)$/.test(name)) return null; // causal-mask buffers
  if (/\.rotary_emb\.inv_freq$/.test(name)) return null; // recomputed from rope_theta
  return name;
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

/** A few stored names that look like `name`, for "did you mean" messages. */
function similarNames(name: string, names: string[], k = 5): string[] {
  const grams = (s: string): Set<string> => {
    const g = new Set<string>();
    for (let i = 0; i + 3 <= s.length; i++) g.add(s.slice(i, i + 3));
    return g;
  };
  const target = grams(name);
  return names
    .map((n) => {
      const g = grams(n);
      let common = 0;
      for (const x of g) if (target.has(x)) common++;
      return { n, score: common / (g.size + target.size - common || 1) };
    })
    .sort((a, b) => b.score - a.score)
    .slice(0, k)
    .map((x) => x.n);
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
  if (!found) {
    throw new AtlasError('no weights found: looked for model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json, pytorch_model.bin', { file: dir, hint: 'download the weights next to config.json' });
  }
  const { format, file } = found;
  // stored-name → file path, and canonical → stored
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
  const canonical = new Map<string, string>();
  for (const stored of storedToPath.keys()) {
    const c = canonicalName(stored, config);
    if (c !== null && !canonical.has(c)) canonical.set(c, stored);
  }
  const embedName = config.architecture === 'gpt2' ? 'wte.weight' : config.architecture === 'bert' ? 'embeddings.word_embeddings.weight' : 'embed_tokens.weight';
  const resolve = (name: string): string => {
    const stored = canonical.get(name);
    if (stored !== undefined) return stored;
    if (name === 'lm_head.weight' && config.tieWordEmbeddings && canonical.has(embedName)) return canonical.get(embedName)!;
    const similar = similarNames(name, [...canonical.keys()]);
    throw new AtlasError(`tensor '${name}' not found`, { file, field: name, hint: `similar names in the checkpoint: ${similar.join(', ') || '(none)'}` });
  };
  const shardOf = (stored: string): WeightFile => {
    const f = weightFile(storedToPath.get(stored)!);
    if (location && !f.has(stored)) {
      throw new AtlasError(`the index maps '${stored}' to this shard, but the shard does not hold it`, { file: f.path, field: stored, hint: 'the index and shards do not match; download them again' });
    }
    return f;
  };
  return {
    dir,
    config,
    format,
    names: () => [...canonical.keys()],
    has: (name) => canonical.has(name) || (name === 'lm_head.weight' && config.tieWordEmbeddings && canonical.has(embedName)),
    shape: (name) => shardOf(resolve(name)).shape(resolve(name)),
    fileOf: (name) => storedToPath.get(resolve(name))!,
    tensor(name, expectedShape) {
      const stored = resolve(name);
      const f = shardOf(stored);
      const shape = f.shape(stored);
      if (expectedShape && (shape.length !== expectedShape.length || shape.some((s, i) => s !== expectedShape[i]))) {
        throw new AtlasError(`tensor '${stored}' has shape [${shape.join(', ')}], expected [${expectedShape.join(', ')}] from config.json`, { file: f.path, field: name, hint: 'config.json does not match the weights' });
      }
      return f.read(stored);
    },
    close() {
      for (const f of open.values()) f.close();
      open.clear();
    },
  };
}

/** Every parameter the runtime reads, with its shape, in canonical names (HF layouts: gpt2 Conv1D is [in, out]). */
export function expectedTensorShapes(config: ModelConfig): Map<string, number[]> {
  const m = new Map<string, number[]>();
  const { dModel: d, dFF: f, vocabSize: V, nLayer } = config;
  if (config.architecture === 'gpt2') {
    m.set('wte.weight', [V, d]);
    m.set('wpe.weight', [config.maxPositions, d]);
    for (let i = 0; i < nLayer; i++) {
      const h = `h.${i}`;
      m.set(`${h}.ln_1.weight`, [d]);
      m.set(`${h}.ln_1.bias`, [d]);
      m.set(`${h}.attn.c_attn.weight`, [d, 3 * d]);
      m.set(`${h}.attn.c_attn.bias`, [3 * d]);
      m.set(`${h}.attn.c_proj.weight`, [d, d]);
      m.set(`${h}.attn.c_proj.bias`, [d]);
      m.set(`${h}.ln_2.weight`, [d]);
      m.set(`${h}.ln_2.bias`, [d]);
      m.set(`${h}.mlp.c_fc.weight`, [d, f]);
      m.set(`${h}.mlp.c_fc.bias`, [f]);
      m.set(`${h}.mlp.c_proj.weight`, [f, d]);
      m.set(`${h}.mlp.c_proj.bias`, [d]);
    }
    m.set('ln_f.weight', [d]);
    m.set('ln_f.bias', [d]);
  } else if (config.architecture === 'bert') {
    // Bare encoder: no LM head (BertForMaskedLM's `cls.*` head and the pooler are not read).
    m.set('embeddings.word_embeddings.weight', [V, d]);
    m.set('embeddings.position_embeddings.weight', [config.maxPositions, d]);
    if ((config.typeVocabSize ?? 0) > 0) m.set('embeddings.token_type_embeddings.weight', [config.typeVocabSize!, d]);
    m.set('embeddings.LayerNorm.weight', [d]);
    m.set('embeddings.LayerNorm.bias', [d]);
    for (let i = 0; i < nLayer; i++) {
      const l = `encoder.layer.${i}`;
      for (const p of ['query', 'key', 'value']) {
        m.set(`${l}.attention.self.${p}.weight`, [d, d]);
        m.set(`${l}.attention.self.${p}.bias`, [d]);
      }
      m.set(`${l}.attention.output.dense.weight`, [d, d]);
      m.set(`${l}.attention.output.dense.bias`, [d]);
      m.set(`${l}.attention.output.LayerNorm.weight`, [d]);
      m.set(`${l}.attention.output.LayerNorm.bias`, [d]);
      m.set(`${l}.intermediate.dense.weight`, [f, d]);
      m.set(`${l}.intermediate.dense.bias`, [f]);
      m.set(`${l}.output.dense.weight`, [d, f]);
      m.set(`${l}.output.dense.bias`, [d]);
      m.set(`${l}.output.LayerNorm.weight`, [d]);
      m.set(`${l}.output.LayerNorm.bias`, [d]);
    }
    return m;
  } else {
    const q = config.nHead * config.headDim;
    const kv = config.nKvHead * config.headDim;
    m.set('embed_tokens.weight', [V, d]);
    for (let i = 0; i < nLayer; i++) {
      const l = `layers.${i}`;
      m.set(`${l}.input_layernorm.weight`, [d]);
      m.set(`${l}.self_attn.q_proj.weight`, [q, d]);
      m.set(`${l}.self_attn.k_proj.weight`, [kv, d]);
      m.set(`${l}.self_attn.v_proj.weight`, [kv, d]);
      if (config.qkvBias) {
        m.set(`${l}.self_attn.q_proj.bias`, [q]);
        m.set(`${l}.self_attn.k_proj.bias`, [kv]);
        m.set(`${l}.self_attn.v_proj.bias`, [kv]);
      }
      m.set(`${l}.self_attn.o_proj.weight`, [d, q]);
      if (config.attnOutBias) m.set(`${l}.self_attn.o_proj.bias`, [d]);
      m.set(`${l}.post_attention_layernorm.weight`, [d]);
      m.set(`${l}.mlp.gate_proj.weight`, [f, d]);
      m.set(`${l}.mlp.up_proj.weight`, [f, d]);
      m.set(`${l}.mlp.down_proj.weight`, [d, f]);
      if (config.mlpBias) {
        m.set(`${l}.mlp.gate_proj.bias`, [f]);
        m.set(`${l}.mlp.up_proj.bias`, [f]);
        m.set(`${l}.mlp.down_proj.bias`, [d]);
      }
    }
    m.set('norm.weight', [d]);
  }
  m.set('lm_head.weight', [V, d]);
  return m;
}

/**
 * Checks, without reading tensor data, that every parameter the runtime needs is present with the shape
 * config.json implies. Throws the first mismatch as an AtlasError naming file, tensor and both shapes.
 */
export function validateCheckpoint(ckpt: Checkpoint): void {
  for (const [name, want] of expectedTensorShapes(ckpt.config)) {
    if (!ckpt.has(name)) ckpt.tensor(name); // throws "not found" with similar names
    const got = ckpt.shape(name);
    if (got.length !== want.length || got.some((s, i) => s !== want[i])) {
      throw new AtlasError(`tensor '${name}' has shape [${got.join(', ')}], expected [${want.join(', ')}] from config.json`, { file: ckpt.fileOf(name), field: name, hint: 'config.json does not match the weights' });
    }
  }
}
