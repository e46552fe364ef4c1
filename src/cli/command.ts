import { parseArgs, type ParseArgsConfig } from 'node:util';
import { AtlasError } from '../errors.ts';

/** One CLI subcommand. Each lives in its own file under src/cli/commands/ and is listed in main.ts. */
export interface Command {
  name: string;
  /** One line for `latent-atlas --help`. */
  summary: string;
  /** Full help text: usage line, options with their defaults. */
  help: string;
  run(argv: string[]): Promise<void>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/**
 * Parses a subcommand's flags with node's util.parseArgs, turning its errors (unknown flag, missing value)
 * into AtlasErrors that point at `--help`.
 */
export function parseFlags<O extends Options>(command: string, argv: string[], options: O, allowPositionals = false) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (e) {
    throw new AtlasError((e as Error).message, { hint: `see 'latent-atlas ${command} --help'` });
  }
}

/** Parses an integer flag value, naming the flag in the error. */
export function intFlag(value: string | undefined, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new AtlasError(`--${flag} must be an integer ≥ ${min}, got '${value}'`);
  return n;
}
