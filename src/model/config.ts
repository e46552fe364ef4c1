import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { AtlasError } from '../errors.ts';

/**
 * Architectures the runtime implements. `llama` covers Llama, Mistral, Qwen2 and SmolLM checkpoints; `bert`
 * covers the BERT and DistilBERT encoders (bidirectional, post-LN; see graph-bert.ts).
 */
export type Architecture = 'gpt2' | 'llama' | 'bert';
export const SUPPORTED_MODEL_TYPES: Record<string, Architecture> = {
  gpt2: 'gpt2',
  bert: 'bert',
  distilbert: 'bert',
  llama: 'llama',
  mistral: 'llama',
  qwen2: 'llama',
  smollm: 'llama',
};

/**
 * A checkpoint's config.json reduced to what the runtime needs, with Hugging Face's defaults filled in.
 * Field names follow the runtime, not any one architecture; `raw` keeps the original.
 */
export interface ModelConfig {
  architecture: Architecture;
  /** `model_type` as written in config.json. */
  modelType: string;
  nLayer: number;
  dModel: number;
  nHead: number;
  /** Key/value heads (grouped-query attention); equals nHead for GPT-2. */
  nKvHead: number;
  headDim: number;
  /** Hidden size of the MLP (n_inner / intermediate_size). */
  dFF: number;
  vocabSize: number;
  maxPositions: number;
  /** Epsilon of LayerNorm (gpt2: layer_norm_epsilon) or RMSNorm (llama: rms_norm_eps). */
  normEps: number;
  /** Rotary base (llama family). */
  ropeTheta: number;
  /** MLP nonlinearity: gpt2 uses gelu_new (tanh approximation), llama silu (SwiGLU), bert exact (erf) gelu. */
  activation: 'gelu_new' | 'gelu' | 'silu' | 'relu';
  tieWordEmbeddings: boolean;
  /** Bias on q/k/v projections (gpt2: always; qwen2: true; llama: attention_bias). */
  qkvBias: boolean;
  /** Bias on the attention output projection. */
  attnOutBias: boolean;
  /** Bias on MLP projections. */
  mlpBias: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
  /** bert only: rows of the token-type (segment) embedding (type_vocab_size; 0 for DistilBERT, which has none). */
  typeVocabSize?: number;
  raw: Record<string, unknown>;
}

type Raw = Record<string, unknown>;

function num(raw: Raw, file: string, keys: string[], fallback?: number): number {
  for (const k of keys) {
    const v = raw[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new AtlasError(`expected a number, got ${JSON.stringify(v)}`, { file, field: k });
    }
    return v;
  }
  if (fallback !== undefined) return fallback;
  throw new AtlasError(`missing required field (one of: ${keys.join(', ')})`, { file, field: keys[0], hint: 'is this a Hugging Face config.json?' });
}

function optId(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return undefined;
}

function positiveInt(value: number, file: string, field: string): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new AtlasError(`must be a positive integer, got ${value}`, { file, field });
  }
  return value;
}

/** Parses a config.json object. `file` is only used in error messages. */
export function parseConfig(raw: Raw, file = 'config.json'): ModelConfig {
  const modelType = typeof raw.model_type === 'string' ? raw.model_type : undefined;
  if (!modelType) {
    throw new AtlasError('missing model_type', { file, field: 'model_type', hint: `supported: ${Object.keys(SUPPORTED_MODEL_TYPES).join(', ')}` });
  }
  const architecture = SUPPORTED_MODEL_TYPES[modelType];
  if (!architecture) {
    throw new AtlasError(`unsupported architecture '${modelType}'`, { file, field: 'model_type', hint: `supported model types: ${Object.keys(SUPPORTED_MODEL_TYPES).join(', ')}` });
  }
  if (architecture === 'gpt2') {
    const dModel = positiveInt(num(raw, file, ['n_embd', 'hidden_size']), file, 'n_embd');
    const nHead = positiveInt(num(raw, file, ['n_head', 'num_attention_heads']), file, 'n_head');
    if (dModel % nHead !== 0) throw new AtlasError(`n_embd (${dModel}) is not divisible by n_head (${nHead})`, { file, field: 'n_head' });
    const act = String(raw.activation_function ?? 'gelu_new');
    return {
      architecture,
      modelType,
      nLayer: positiveInt(num(raw, file, ['n_layer', 'num_hidden_layers']), file, 'n_layer'),
      dModel,
      nHead,
      nKvHead: nHead,
      headDim: dModel / nHead,
      dFF: positiveInt(num(raw, file, ['n_inner'], 4 * dModel), file, 'n_inner'),
      vocabSize: positiveInt(num(raw, file, ['vocab_size']), file, 'vocab_size'),
      maxPositions: positiveInt(num(raw, file, ['n_positions', 'n_ctx', 'max_position_embeddings'], 1024), file, 'n_positions'),
      normEps: num(raw, file, ['layer_norm_epsilon'], 1e-5),
      ropeTheta: 0,
      activation: parseActivation(act, file, 'activation_function'),
      tieWordEmbeddings: raw.tie_word_embeddings === undefined ? true : Boolean(raw.tie_word_embeddings),
      qkvBias: true,
      attnOutBias: true,
      mlpBias: true,
      bosTokenId: optId(raw.bos_token_id),
      eosTokenId: optId(raw.eos_token_id),
      padTokenId: optId(raw.pad_token_id),
      raw,
    };
  }
  if (architecture === 'bert') return parseBertConfig(raw, file, modelType);
  const dModel = positiveInt(num(raw, file, ['hidden_size']), file, 'hidden_size');
  const nHead = positiveInt(num(raw, file, ['num_attention_heads']), file, 'num_attention_heads');
  const nKvHead = positiveInt(num(raw, file, ['num_key_value_heads'], nHead), file, 'num_key_value_heads');
  if (nHead % nKvHead !== 0) {
    throw new AtlasError(`num_attention_heads (${nHead}) is not a multiple of num_key_value_heads (${nKvHead})`, { file, field: 'num_key_value_heads' });
  }
  const headDim = positiveInt(num(raw, file, ['head_dim'], dModel / nHead), file, 'head_dim');
  const ropeScaling = raw.rope_scaling as Raw | null | undefined;
  if (ropeScaling && typeof ropeScaling === 'object' && ropeScaling.rope_type !== 'default' && ropeScaling.type !== 'default') {
    throw new AtlasError(`rope_scaling ${JSON.stringify(ropeScaling)} is not supported yet`, { file, field: 'rope_scaling', hint: 'only plain rotary embeddings (rope_scaling: null) are implemented' });
  }
  const attentionBias = modelType === 'qwen2' ? true : Boolean(raw.attention_bias ?? false);
  return {
    architecture,
    modelType,
    nLayer: positiveInt(num(raw, file, ['num_hidden_layers']), file, 'num_hidden_layers'),
    dModel,
    nHead,
    nKvHead,
    headDim,
    dFF: positiveInt(num(raw, file, ['intermediate_size']), file, 'intermediate_size'),
    vocabSize: positiveInt(num(raw, file, ['vocab_size']), file, 'vocab_size'),
    maxPositions: positiveInt(num(raw, file, ['max_position_embeddings'], 2048), file, 'max_position_embeddings'),
    normEps: num(raw, file, ['rms_norm_eps'], 1e-6),
    ropeTheta: num(raw, file, ['rope_theta'], 10000),
    activation: parseActivation(String(raw.hidden_act ?? 'silu'), file, 'hidden_act'),
    tieWordEmbeddings: Boolean(raw.tie_word_embeddings ?? false),
    qkvBias: attentionBias,
    attnOutBias: modelType === 'qwen2' ? false : attentionBias,
    mlpBias: Boolean(raw.mlp_bias ?? false),
    bosTokenId: optId(raw.bos_token_id),
    eosTokenId: optId(raw.eos_token_id),
    padTokenId: optId(raw.pad_token_id),
    raw,
  };
}

/**
 * BERT (`bert`: hidden_size, num_hidden_layers, num_attention_heads, intermediate_size, hidden_act,
 * max_position_embeddings 512, type_vocab_size 2, layer_norm_eps 1e-12) and DistilBERT (`distilbert`: dim,
 * n_layers, n_heads, hidden_dim, activation, max_position_embeddings 512; no token types; LayerNorm eps fixed at
 * 1e-12 in transformers' DistilBERT code). Defaults are transformers' BertConfig / DistilBertConfig defaults.
 */
function parseBertConfig(raw: Raw, file: string, modelType: string): ModelConfig {
  const distil = modelType === 'distilbert';
  const f = (bert: string, distilbert: string): string => (distil ? distilbert : bert);
  const dModel = positiveInt(num(raw, file, [f('hidden_size', 'dim')], distil ? 768 : undefined), file, f('hidden_size', 'dim'));
  const nHead = positiveInt(num(raw, file, [f('num_attention_heads', 'n_heads')], distil ? 12 : undefined), file, f('num_attention_heads', 'n_heads'));
  if (dModel % nHead !== 0) {
    throw new AtlasError(`${f('hidden_size', 'dim')} (${dModel}) is not divisible by ${f('num_attention_heads', 'n_heads')} (${nHead})`, { file, field: f('num_attention_heads', 'n_heads') });
  }
  if (!distil && raw.position_embedding_type !== undefined && raw.position_embedding_type !== 'absolute') {
    throw new AtlasError(`position_embedding_type ${JSON.stringify(raw.position_embedding_type)} is not supported`, { file, field: 'position_embedding_type', hint: "only 'absolute' (learned positions, the BERT default) is implemented" });
  }
  // DistilBERT's sinusoidal_pos_embds: the table is stored as position_embeddings.weight anyway, so it loads as is.
  const typeVocabSize = distil ? 0 : num(raw, file, ['type_vocab_size'], 2);
  if (!Number.isInteger(typeVocabSize) || typeVocabSize < 0) throw new AtlasError(`must be a non-negative integer, got ${typeVocabSize}`, { file, field: 'type_vocab_size' });
  const actField = f('hidden_act', 'activation');
  return {
    architecture: 'bert',
    modelType,
    nLayer: positiveInt(num(raw, file, [f('num_hidden_layers', 'n_layers')], distil ? 6 : undefined), file, f('num_hidden_layers', 'n_layers')),
    dModel,
    nHead,
    nKvHead: nHead,
    headDim: dModel / nHead,
    dFF: positiveInt(num(raw, file, [f('intermediate_size', 'hidden_dim')], distil ? 4 * dModel : undefined), file, f('intermediate_size', 'hidden_dim')),
    vocabSize: positiveInt(num(raw, file, ['vocab_size']), file, 'vocab_size'),
    maxPositions: positiveInt(num(raw, file, ['max_position_embeddings'], 512), file, 'max_position_embeddings'),
    normEps: distil ? 1e-12 : num(raw, file, ['layer_norm_eps'], 1e-12),
    ropeTheta: 0,
    activation: parseActivation(String(raw[actField] ?? 'gelu'), file, actField),
    tieWordEmbeddings: false,
    qkvBias: true,
    attnOutBias: true,
    mlpBias: true,
    bosTokenId: optId(raw.bos_token_id),
    eosTokenId: optId(raw.eos_token_id),
    padTokenId: optId(raw.pad_token_id),
    typeVocabSize,
    raw,
  };
}

function parseActivation(name: string, file: string, field: string): ModelConfig['activation'] {
  switch (name) {
    case 'gelu_new': case 'gelu_pytorch_tanh': return 'gelu_new';
    case 'gelu': return 'gelu';
    case 'silu': case 'swish': return 'silu';
    case 'relu': return 'relu';
    default:
      throw new AtlasError(`unsupported activation '${name}'`, { file, field, hint: 'supported: gelu_new, gelu_pytorch_tanh, gelu, silu, relu' });
  }
}

/** Reads and parses `<dir>/config.json`. */
export function loadConfig(dir: string): ModelConfig {
  const file = join(dir, 'config.json');
  if (!existsSync(file)) {
    throw new AtlasError('not found', { file, hint: 'a model folder needs the config.json of a Hugging Face checkpoint' });
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new AtlasError(`is not valid JSON: ${(e as Error).message}`, { file });
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new AtlasError('must hold a JSON object', { file });
  return parseConfig(raw as Raw, file);
}
