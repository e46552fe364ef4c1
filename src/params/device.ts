import { AtlasError } from '../errors.ts';

/** Devices the parameter-space commands run on (the gradient engine is pure TypeScript). */
export const SUPPORTED_DEVICES = ['cpu'] as const;

/** Accepts the toolkit's `--device` flag: cpu (or absent) runs; anything else is a clear error. */
export function checkDevice(device: string | undefined): void {
  if (device === undefined || device === 'cpu') return;
  throw new AtlasError(`--device ${device} is not supported`, { field: 'device', hint: `supported: ${SUPPORTED_DEVICES.join(', ')} (the gradient engine runs on the CPU; omit --device or pass --device cpu)` });
}
