/**
 * A model's ModelSpec and canonical-weight recipes, from its config and (when known) its stored tensors,
 * through the family's architecture module (src/model/architectures/). Stored names are the checkpoint's
 * names as the rest of src/params knows them (src/model/legacy-names.ts: without the `transformer.` /
 * `model.` prefix), so fim / similarity / task-vector outputs name tensors alike.
 */
import type { ModelConfig } from '../model/config.ts';
import type { ModelSpec, StoredTensors, WeightRecipe } from '../model/spec.ts';
import { moduleOfFamily } from '../model/architectures/index.ts';
import { legacyName } from '../model/legacy-names.ts';

export interface ModelLayout {
  spec: ModelSpec;
  /** canonical name → recipe (stored names as ParamStore keys them), for every canonical tensor of the spec. */
  recipes: Map<string, WeightRecipe>;
}

/** Stored tensors by name (a checkpoint's reader, a ParamStore's map), or null: the family's default names. */
export type StoredSource = StoredTensors | Map<string, { shape: number[] }> | null;

const NOTHING: StoredTensors = { names: () => [], has: () => false, shape: () => [] };

function asStored(s: StoredSource): StoredTensors {
  if (!s) return NOTHING;
  if (s instanceof Map) return { names: () => [...s.keys()], has: (n) => s.has(n), shape: (n) => s.get(n)!.shape };
  return s;
}

/** The layout of `config`'s model whose tensors are `stored` (their names decide prefixes and optional tensors). */
export function modelLayout(config: ModelConfig, stored: StoredSource): ModelLayout {
  const spec = config.spec;
  const raw = moduleOfFamily(spec.family).weightRecipes(spec, asStored(stored));
  const recipes = new Map<string, WeightRecipe>();
  for (const [name, r] of raw) recipes.set(name, { ...r, from: legacyName(spec, r.from) });
  return { spec, recipes };
}
