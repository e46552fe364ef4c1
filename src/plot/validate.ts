/**
 * Input checks shared by the plot functions. Bad input is an AtlasError naming the option at fault; a plot that
 * silently drops or misplaces points would be a wrong picture.
 */
import { AtlasError } from '../errors.ts';

export type Numbers = readonly number[] | Float32Array | Float64Array;

/** Checks that `values` has `length` entries (when given) and that all are finite. */
export function checkFinite(field: string, values: Numbers, length?: number): void {
  if (length !== undefined && values.length !== length) {
    throw new AtlasError(`has ${values.length} values but ${length} were expected`, { field, hint: 'pass one value per point' });
  }
  for (let i = 0; i < values.length; i++) {
    if (!Number.isFinite(values[i])) {
      throw new AtlasError(`value ${i} is ${values[i]}, not a finite number`, { field, hint: 'remove or impute non-finite values before plotting' });
    }
  }
}

/** Checks class indices: integers in [0, classCount). */
export function checkLabels(field: string, labels: readonly number[] | Int32Array | Uint32Array | Uint8Array | Uint16Array, length: number, classCount: number): void {
  if (labels.length !== length) {
    throw new AtlasError(`has ${labels.length} labels for ${length} points`, { field, hint: 'pass one class index per point' });
  }
  for (let i = 0; i < labels.length; i++) {
    const l = labels[i]!;
    if (!Number.isInteger(l) || l < 0 || l >= classCount) {
      throw new AtlasError(`label ${i} is ${l}, not a class index in [0, ${classCount})`, { field, hint: 'labels index into classNames' });
    }
  }
}

export function checkPositive(field: string, v: number): void {
  if (!(Number.isFinite(v) && v > 0)) throw new AtlasError(`must be a positive number, got ${v}`, { field });
}

export type LabelArray = readonly number[] | Int32Array | Uint32Array | Uint8Array | Uint16Array;

/** Number of classes implied by labels and names: names win; otherwise max label + 1. */
export function classCount(labels: LabelArray | undefined, classNames: readonly string[] | undefined): number {
  if (classNames) return classNames.length;
  if (!labels || labels.length === 0) return 0;
  let m = -1;
  for (let i = 0; i < labels.length; i++) m = Math.max(m, labels[i]!);
  return m + 1;
}
