import { readFileSync, existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parse as parseYaml } from 'yaml';
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
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals, strict: true, tokens: true });
  } catch (e) {
    // parseArgs explains over several lines; the CLI's contract is one.
    throw new AtlasError((e as Error).message.replace(/\s*\n\s*/g, ' '), { hint: `see 'latent-atlas ${command} --help'` });
  }
  // A flag given twice silently kept the last value; a repeat is almost always a mistake in a long command line.
  const seen = new Map<string, string | undefined>();
  for (const t of parsed.tokens ?? []) {
    if (t.kind !== 'option' || options[t.name]?.multiple) continue;
    if (seen.has(t.name)) {
      throw new AtlasError(`--${t.name} is given twice ('${seen.get(t.name) ?? ''}' and '${t.value ?? ''}')`, { hint: `give it once; see 'latent-atlas ${command} --help'` });
    }
    seen.set(t.name, t.value);
  }
  const { tokens: _tokens, ...rest } = parsed;
  return rest;
}

export type FlagValues = Record<string, string | boolean | string[] | undefined>;

/**
 * Flags plus an optional YAML config file (`--config run.yaml`) whose keys mirror the flags (`batch-size` or
 * `batch_size`); flags given on the command line override the file, and defaults apply last. Unknown keys in
 * the file are errors (a typo must not be silently ignored).
 */
export function parseFlagsWithConfig(command: string, argv: string[], options: Options): { values: FlagValues; positionals: string[] } {
  const noDefaults: Options = { config: { type: 'string' } };
  for (const [k, o] of Object.entries(options)) noDefaults[k] = { ...o, default: undefined };
  const { values, positionals } = parseFlags(command, argv, noDefaults, true);
  const merged: FlagValues = { ...(values as FlagValues) };
  const configPath = values.config as string | undefined;
  if (configPath) {
    if (!existsSync(configPath)) throw new AtlasError('config file not found', { file: configPath });
    let doc: unknown;
    try {
      doc = parseYaml(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new AtlasError(`is not valid YAML: ${(e as Error).message}`, { file: configPath });
    }
    if (doc === null || doc === undefined) throw new AtlasError('the config file is empty', { file: configPath, hint: 'write options as `name: value` lines, or leave out --config' });
    if (typeof doc !== 'object' || Array.isArray(doc)) throw new AtlasError('must be a mapping of option names to values', { file: configPath });
    for (const [rawKey, v] of Object.entries((doc ?? {}) as Record<string, unknown>)) {
      const key = rawKey.replace(/_/g, '-');
      const opt = options[key];
      if (!opt) throw new AtlasError(`unknown option '${rawKey}'`, { file: configPath, field: rawKey, hint: `valid options: ${Object.keys(options).join(', ')}` });
      if (merged[key] !== undefined) continue;
      if (opt.type === 'boolean') {
        if (typeof v !== 'boolean') throw new AtlasError('must be true or false', { file: configPath, field: rawKey });
        merged[key] = v;
      } else if (opt.multiple) {
        merged[key] = (Array.isArray(v) ? v : [v]).map(String);
      } else {
        merged[key] = Array.isArray(v) ? v.join(',') : String(v);
      }
    }
  }
  for (const [k, o] of Object.entries(options)) if (merged[k] === undefined && o.default !== undefined) merged[k] = o.default as string | boolean | string[];
  return { values: merged, positionals };
}

/** Parses an integer flag value, naming the flag in the error. */
export function intFlag(value: unknown, flag: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback;
  if (String(value).trim() === '') throw new AtlasError(`--${flag} needs a value (an integer ≥ ${min})`); // Number('') is 0
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new AtlasError(`--${flag} must be an integer ≥ ${min}, got '${String(value)}'`);
  return n;
}

/** Parses a number flag value, naming the flag in the error. */
export function numberFlag(value: unknown, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  if (String(value).trim() === '') throw new AtlasError(`--${flag} needs a value (a number)`); // Number('') is 0
  const n = Number(value);
  if (!Number.isFinite(n)) throw new AtlasError(`--${flag} must be a number, got '${String(value)}'`);
  return n;
}

export function stringFlag(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

/** Requires a flag, with a message that says what to pass. */
export function requireFlag(value: unknown, flag: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw new AtlasError(`--${flag} is required (${what})`);
  return value;
}
