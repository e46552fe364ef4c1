import { AtlasError } from '../errors.ts';

/**
 * The token budget of a forward pass: --max-length when given, else the model's maximum. A --max-length above
 * the model's positions is an error (it used to be reduced silently); `fim` rejects it the same way.
 */
export function resolveMaxLength(requested: number | undefined, maxPositions: number): number {
  if (requested === undefined) return maxPositions;
  if (!Number.isInteger(requested) || requested < 1) throw new AtlasError(`--max-length must be a positive integer, got ${requested}`, { field: 'max-length' });
  if (requested > maxPositions) {
    throw new AtlasError(`--max-length ${requested} is more than the model's ${maxPositions} positions (max_position_embeddings)`, { field: 'max-length', hint: `use --max-length ${maxPositions} or less, or leave it out` });
  }
  return requested;
}

/** A warning naming how many texts are longer than maxLength tokens (they are cut), or undefined. */
export function truncationWarning(tokenCounts: readonly number[], maxLength: number): string | undefined {
  const long = tokenCounts.filter((c) => c > maxLength);
  if (long.length === 0) return undefined;
  return `${long.length} of ${tokenCounts.length} text${tokenCounts.length === 1 ? ' is' : 's are'} longer than ${maxLength} tokens and ${long.length === 1 ? 'was' : 'were'} truncated (longest: ${Math.max(...long)} tokens)`;
}
