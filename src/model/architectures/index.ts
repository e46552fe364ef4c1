/**
 * The registry of architecture families: config.json's `model_type` → the module that describes it.
 * Adding an architecture = one file next to this one + one line in ARCHITECTURES.
 */
import { AtlasError } from '../../errors.ts';
import type { ArchitectureModule, ConfigContext, ModelSpec } from '../spec.ts';
import { gpt2 } from './gpt2.ts';
import { llama } from './llama.ts';
import { bert } from './bert.ts';
import { roberta } from './roberta.ts';
import { gptNeox } from './gpt-neox.ts';
import { gptNeo } from './gpt-neo.ts';
import { gptj } from './gptj.ts';
import { opt } from './opt.ts';
import { gemma } from './gemma.ts';
import { gemma2 } from './gemma2.ts';
import { phi3 } from './phi3.ts';

export const ARCHITECTURES: readonly ArchitectureModule[] = [gpt2, llama, bert, roberta, gptNeox, gptNeo, gptj, opt, gemma, gemma2, phi3];

const BY_MODEL_TYPE = new Map<string, ArchitectureModule>();
for (const m of ARCHITECTURES) for (const t of m.modelTypes) BY_MODEL_TYPE.set(t, m);

/** Every supported `model_type`, in registry order. */
export function supportedModelTypes(): string[] {
  return [...BY_MODEL_TYPE.keys()];
}

/** The module of a family id (ModelSpec.family). */
export function moduleOfFamily(family: string): ArchitectureModule {
  const m = ARCHITECTURES.find((a) => a.family === family);
  if (!m) throw new Error(`no architecture module for family '${family}'`);
  return m;
}

/** The module for a config.json's model_type; AtlasError naming the file and listing the supported types otherwise. */
export function moduleForConfig(raw: Record<string, unknown>, ctx: ConfigContext): ArchitectureModule {
  const modelType = raw.model_type;
  if (typeof modelType !== 'string' || !modelType) {
    throw new AtlasError('missing model_type', { file: ctx.file, field: 'model_type', hint: `supported model types: ${supportedModelTypes().join(', ')}` });
  }
  const m = BY_MODEL_TYPE.get(modelType);
  if (!m) {
    throw new AtlasError(`unsupported architecture '${modelType}'`, { file: ctx.file, field: 'model_type', hint: `supported model types: ${supportedModelTypes().join(', ')}` });
  }
  return m;
}

/** config.json → ModelSpec through its family's module. */
export function specFromConfig(raw: Record<string, unknown>, ctx: ConfigContext): ModelSpec {
  return moduleForConfig(raw, ctx).parseConfig(raw, ctx);
}
