import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { AtlasError } from '../errors.ts';
import type { ActivationKind, ModelSpec } from './spec.ts';
import { ARCHITECTURES, specFromConfig } from './architectures/index.ts';

/** Architecture family id (ModelSpec.family: 'gpt2', 'llama', 'bert', …; see src/model/architectures/). */
export type Architecture = string;

/** model_type → family, for every supported model_type (derived from the architecture registry). */
export const SUPPORTED_MODEL_TYPES: Record<string, Architecture> = Object.fromEntries(
  ARCHITECTURES.flatMap((m) => m.modelTypes.map((t) => [t, m.family])),
);

/** Activation names as the older consumers spell them (gelu_new = the tanh approximation). */
type LegacyActivation = 'gelu_new' | 'gelu' | 'silu' | 'relu';
const LEGACY_ACTIVATION: Record<ActivationKind, LegacyActivation> = { gelu_tanh: 'gelu_new', gelu: 'gelu', silu: 'silu', relu: 'relu' };

/**
 * A checkpoint's config.json: `spec` is THE description of the model (src/model/spec.ts); the flat fields are
 * derived from it (first block's values) for the code that has not moved to the spec yet. `raw` keeps the
 * original.
 */
export interface ModelConfig {
  spec: ModelSpec;
  /** Family id = spec.family. */
  architecture: Architecture;
  /** `model_type` as written in config.json. */
  modelType: string;
  nLayer: number;
  dModel: number;
  nHead: number;
  /** Key/value heads (grouped-query attention); equals nHead for multi-head attention. */
  nKvHead: number;
  headDim: number;
  /** Hidden size of the MLP. */
  dFF: number;
  vocabSize: number;
  maxPositions: number;
  /** Epsilon of the first block's first norm. */
  normEps: number;
  /** Rotary base (0 for learned-position models). */
  ropeTheta: number;
  activation: LegacyActivation;
  tieWordEmbeddings: boolean;
  qkvBias: boolean;
  attnOutBias: boolean;
  mlpBias: boolean;
  bosTokenId?: number;
  eosTokenId?: number;
  padTokenId?: number;
  /** Rows of the token-type (segment) embedding (0 = none). */
  typeVocabSize?: number;
  raw: Record<string, unknown>;
}

/** The flat view of a spec. */
export function configFromSpec(spec: ModelSpec, raw: Record<string, unknown>): ModelConfig {
  const b = spec.blocks[0]!;
  return {
    spec,
    architecture: spec.family,
    modelType: spec.modelType,
    nLayer: spec.nLayer,
    dModel: spec.dModel,
    nHead: b.attn.nHead,
    nKvHead: b.attn.nKvHead,
    headDim: b.attn.headDim,
    dFF: b.mlp.dFF,
    vocabSize: spec.vocabSize,
    maxPositions: spec.maxPositions,
    normEps: b.ln1.eps,
    ropeTheta: b.attn.rotary?.base ?? 0,
    activation: LEGACY_ACTIVATION[b.mlp.activation],
    tieWordEmbeddings: spec.unembed?.tied ?? false,
    qkvBias: b.attn.qkvBias,
    attnOutBias: b.attn.outBias,
    mlpBias: b.mlp.bias,
    bosTokenId: spec.bosTokenId,
    eosTokenId: spec.eosTokenId,
    padTokenId: spec.padTokenId,
    typeVocabSize: spec.embed.tokenTypes,
    raw,
  };
}

/** Parses a config.json object through its family's module. `file` is only used in error messages. */
export function parseConfig(raw: Record<string, unknown>, file = 'config.json'): ModelConfig {
  return configFromSpec(specFromConfig(raw, { file }), raw);
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
  return parseConfig(raw as Record<string, unknown>, file);
}
