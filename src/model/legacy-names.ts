/**
 * TRANSITION ONLY — delete once src/params and src/fisher read CanonicalWeights (src/model/weights.ts).
 *
 * The names the older consumers (parameter store, task vectors, similarity, the gradient engine, their tests)
 * use for a checkpoint's tensors: the stored name without the `transformer.` / `model.` / `bert.` prefix,
 * DistilBERT blocks under BERT's names, old `LayerNorm.gamma/beta` as `weight/bias`. Families added after
 * the spec (src/model/architectures/) keep their stored names as they are.
 */
import { W, type ModelSpec } from './spec.ts';
import { moduleOfFamily } from './architectures/index.ts';
import type { StoredTensors } from './spec.ts';

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

function stripOne(name: string, prefixes: string[]): string {
  for (const p of prefixes) if (name.startsWith(p)) return name.slice(p.length);
  return name;
}

const LEGACY: Record<string, (stored: string) => string> = {
  gpt2: (n) => stripOne(n, ['transformer.', 'model.']),
  llama: (n) => stripOne(n, ['transformer.', 'model.']),
  bert: (n) => {
    const name = stripOne(n, ['bert.', 'distilbert.']).replace(/(LayerNorm|layer_norm)\.gamma$/, '$1.weight').replace(/(LayerNorm|layer_norm)\.beta$/, '$1.bias');
    for (const [re, to] of DISTILBERT_BLOCK_NAMES) if (re.test(name)) return name.replace(re, to);
    return name;
  },
};

/** The legacy name of a stored tensor. */
export function legacyName(spec: ModelSpec, stored: string): string {
  return (LEGACY[spec.family] ?? ((n: string) => n))(stored);
}

const NOTHING_STORED: StoredTensors = { names: () => [], has: () => false, shape: () => [] };

/**
 * Every stored tensor the model reads, under its legacy name, with its stored shape; plus `lm_head.weight`
 * for tied models (served as the embedding), as the older code expects.
 */
export function legacyTensorShapes(spec: ModelSpec): Map<string, number[]> {
  const recipes = moduleOfFamily(spec.family).weightRecipes(spec, NOTHING_STORED);
  const m = new Map<string, number[]>();
  for (const r of recipes.values()) {
    const n = legacyName(spec, r.from);
    if (!m.has(n)) m.set(n, [...r.storedShape]);
  }
  if (spec.unembed?.tied) m.set('lm_head.weight', [spec.vocabSize, spec.dModel]);
  return m;
}

/** Legacy name of the tensor a tied lm_head serves. */
export function legacyEmbeddingName(spec: ModelSpec, recipes: Map<string, { from: string }>): string {
  return legacyName(spec, recipes.get(W.embed)!.from);
}
