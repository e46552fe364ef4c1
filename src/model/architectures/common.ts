/**
 * Helpers shared by the architecture files: reading typed fields of config.json (every error names the file
 * and the field), activation names, rope_scaling, and finding a checkpoint's stored tensor names (prefix and
 * naming variants) for the weight recipes.
 */
import { AtlasError } from '../../errors.ts';
import type { ActivationKind, ConfigContext, NormSpec, RopeScaling, StoredTensors, WeightRecipe } from '../spec.ts';

export type Raw = Record<string, unknown>;

/** The first of `keys` present in config.json, as a finite number; `fallback` when none is (undefined → required). */
export function num(raw: Raw, ctx: ConfigContext, keys: string[], fallback?: number): number {
  for (const k of keys) {
    const v = raw[k];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new AtlasError(`expected a number, got ${JSON.stringify(v)}`, { file: ctx.file, field: k });
    }
    return v;
  }
  if (fallback !== undefined) return fallback;
  throw new AtlasError(`missing required field (one of: ${keys.join(', ')})`, { file: ctx.file, field: keys[0], hint: 'is this a Hugging Face config.json?' });
}

/** A positive integer field (first of `keys`), with an optional default. */
export function posInt(raw: Raw, ctx: ConfigContext, keys: string[], fallback?: number): number {
  const v = num(raw, ctx, keys, fallback);
  const field = keys.find((k) => raw[k] !== undefined && raw[k] !== null) ?? keys[0];
  if (!Number.isInteger(v) || v <= 0) throw new AtlasError(`must be a positive integer, got ${v}`, { file: ctx.file, field });
  return v;
}

/** A boolean field with a default. */
export function bool(raw: Raw, ctx: ConfigContext, key: string, fallback: boolean): boolean {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'boolean') throw new AtlasError(`expected true or false, got ${JSON.stringify(v)}`, { file: ctx.file, field: key });
  return v;
}

/** A string field with a default. */
export function str(raw: Raw, ctx: ConfigContext, key: string, fallback: string): string {
  const v = raw[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'string') throw new AtlasError(`expected a string, got ${JSON.stringify(v)}`, { file: ctx.file, field: key });
  return v;
}

/** bos/eos/pad ids: a number, or the first of a list (some configs list several eos ids). */
export function optId(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (Array.isArray(v) && typeof v[0] === 'number') return v[0];
  return undefined;
}

export function tokenIds(raw: Raw): { bosTokenId?: number; eosTokenId?: number; padTokenId?: number } {
  return { bosTokenId: optId(raw.bos_token_id), eosTokenId: optId(raw.eos_token_id), padTokenId: optId(raw.pad_token_id) };
}

/** `a` divisible by `b`, or an error naming the field of `b`. */
export function divides(ctx: ConfigContext, aName: string, a: number, bName: string, b: number): void {
  if (a % b !== 0) throw new AtlasError(`${aName} (${a}) is not divisible by ${bName} (${b})`, { file: ctx.file, field: bName });
}

/** Hugging Face ACT2FN names → the activations the runtime implements. */
const ACTIVATIONS: Record<string, ActivationKind> = {
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  gelu: 'gelu',
  silu: 'silu',
  swish: 'silu',
  relu: 'relu',
};

export function activation(raw: Raw, ctx: ConfigContext, key: string, fallback: string): ActivationKind {
  const name = str(raw, ctx, key, fallback);
  const a = ACTIVATIONS[name];
  if (!a) throw new AtlasError(`unsupported activation '${name}'`, { file: ctx.file, field: key, hint: `supported: ${Object.keys(ACTIVATIONS).join(', ')}` });
  return a;
}

export const layerNorm = (eps: number, bias = true): NormSpec => ({ kind: 'layernorm', eps, bias, weightOffset: 0 });
export const rmsNorm = (eps: number, weightOffset = 0): NormSpec => ({ kind: 'rmsnorm', eps, bias: false, weightOffset });

/** config.json `rope_scaling` → RopeScaling; `longrope` only for the families whose config defines it (Phi-3). */
export function ropeScaling(raw: Raw, ctx: ConfigContext, maxPositions: number, opts: { longrope?: boolean } = {}): RopeScaling {
  const rs = raw.rope_scaling;
  if (rs === undefined || rs === null) return { type: 'none' };
  if (typeof rs !== 'object' || Array.isArray(rs)) throw new AtlasError(`expected an object or null, got ${JSON.stringify(rs)}`, { file: ctx.file, field: 'rope_scaling' });
  const r = rs as Raw;
  const type = r.rope_type ?? r.type;
  const f = (key: string, fallback?: number): number => {
    const v = r[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new AtlasError(`rope_scaling.${key} must be a number, got ${JSON.stringify(r[key])}`, { file: ctx.file, field: `rope_scaling.${key}` });
    }
    return v;
  };
  switch (type) {
    case 'default': return { type: 'none' };
    case 'linear': return { type: 'linear', factor: f('factor') };
    // HF's dynamic NTK grows the base past config.max_position_embeddings (not a rope_scaling key).
    case 'dynamic': return { type: 'dynamic', factor: f('factor'), originalMaxPositions: maxPositions };
    case 'llama3':
      return {
        type: 'llama3', factor: f('factor'), lowFreqFactor: f('low_freq_factor'), highFreqFactor: f('high_freq_factor'),
        originalMaxPositions: f('original_max_position_embeddings'),
      };
    case 'longrope': case 'su': {
      if (!opts.longrope) break;
      const list = (key: string): number[] => {
        const v = r[key];
        if (!Array.isArray(v) || v.some((x) => typeof x !== 'number')) throw new AtlasError(`rope_scaling.${key} must be a list of numbers`, { file: ctx.file, field: `rope_scaling.${key}` });
        return v as number[];
      };
      // HF _compute_longrope_parameters: factor = max_position_embeddings / original_max_position_embeddings.
      const orig = typeof raw.original_max_position_embeddings === 'number' ? raw.original_max_position_embeddings : maxPositions;
      const factor = typeof raw.original_max_position_embeddings === 'number' ? maxPositions / orig : f('factor', 1);
      const att = typeof r.attention_factor === 'number' ? r.attention_factor : factor <= 1 ? 1 : Math.sqrt(1 + Math.log(factor) / Math.log(orig));
      return { type: 'longrope', shortFactor: list('short_factor'), longFactor: list('long_factor'), originalMaxPositions: orig, attentionFactor: att };
    }
  }
  throw new AtlasError(`rope_scaling type ${JSON.stringify(type)} is not supported`, {
    file: ctx.file, field: 'rope_scaling', hint: `supported rope_scaling types: null, default, linear, dynamic, llama3${opts.longrope ? ', longrope' : ''}`,
  });
}

// ---------------------------------------------------------------------------------------------------------
// Stored names

/**
 * The prefix a checkpoint uses: the first of `prefixes` under which `probe` (a tensor every checkpoint of the
 * family stores, e.g. the token embedding) exists; `prefixes[0]` when none matches (the loader then reports
 * the missing tensor under the name `save_pretrained` would have written).
 */
export function detectPrefix(stored: StoredTensors, prefixes: readonly string[], probes: readonly string[]): string {
  for (const p of prefixes) for (const probe of probes) if (stored.has(p + probe)) return p;
  return prefixes[0]!;
}

/** The first candidate name that is stored, else the first candidate. */
export function pick(stored: StoredTensors, candidates: readonly string[]): string {
  for (const c of candidates) if (stored.has(c)) return c;
  return candidates[0]!;
}

/** Recipe builder: rows of a stored tensor (optionally transposed first). */
export const whole = (from: string, storedShape: number[], transpose = false): WeightRecipe => (transpose ? { from, storedShape, transpose } : { from, storedShape });
export const rowRange = (from: string, storedShape: number[], start: number, count: number, transpose = false): WeightRecipe => ({
  from, storedShape, rows: { start, count }, ...(transpose ? { transpose } : {}),
});

/** A norm's weight (and bias) recipes, for `canonicalW` / `canonicalB` from stored `<prefix>.weight` / `.bias`. */
export function normRecipes(
  m: Map<string, WeightRecipe>, norm: NormSpec | undefined, canonicalW: string, canonicalB: string, storedW: string, storedB: string, d: number,
): void {
  if (!norm) return;
  m.set(canonicalW, whole(storedW, [d]));
  if (norm.kind === 'layernorm' && norm.bias) m.set(canonicalB, whole(storedB, [d]));
}

/** Matches a buffer name (any prefix). */
export function bufferMatcher(patterns: RegExp[]): (name: string) => boolean {
  return (name) => patterns.some((p) => p.test(name));
}
