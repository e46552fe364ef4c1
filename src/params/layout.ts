/**
 * A model's ModelSpec and canonical-weight recipes, from its config and (when known) its stored tensors.
 * The architecture modules of src/model/architectures/ do the work; this only adapts the inputs.
 */
import type { ModelConfig } from '../model/config.ts';
import type { ModelSpec, WeightRecipe } from '../model/spec.ts';

export interface ModelLayout {
  spec: ModelSpec;
  /** canonical name → recipe, for every canonical tensor of the spec. */
  recipes: Map<string, WeightRecipe>;
}

/** Stored tensors as a checkpoint lists them, a map of them, or null (the family's default names). */
export type StoredSource = { names(): string[]; shape?(name: string): number[] } | Map<string, { shape: number[] }> | null;

export function modelLayout(config: ModelConfig, stored: StoredSource): ModelLayout {
  void config;
  void stored;
  throw new Error('modelLayout: architecture modules not merged yet');
}
