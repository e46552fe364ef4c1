import { readFileSync, existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { AtlasError } from '../errors.ts';
import type { OptionTable } from '../util/option-table.ts';

/** One CLI subcommand. Each lives in its own file under src/cli/commands/ and is listed in main.ts. */
export interface Command {
  name: string;
  /** One line for `latent-atlas --help`. */
  summary: string;
  /** Full help text: usage line, options with their defaults. */
  help: string;
  /**
   * The option tables (src/<area>/defaults.ts) whose flags the command derives; the defaults test checks that
   * the command's help shows each table default and that the CLI passes no default of its own.
   */
  tables?: Record<string, OptionTable>;
  run(argv: string[]): Promise<void>;
}

type Options = NonNullable<ParseArgsConfig['options']>;

/** Edit distance, for "did you mean" (flags are short, so the plain O(ab) table is fine). */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j]! + 1, cur[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length]!;
}

/** The closest known name to `name`, when it is close enough to be a typo. */
export function didYouMean(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = k.startsWith(name) || name.startsWith(k) ? Math.abs(k.length - name.length) * 0.5 : editDistance(name, k);
    if (d < bestD) { bestD = d; best = k; }
  }
  return best !== undefined && bestD <= Math.max(2, Math.floor(name.length / 3)) ? best : undefined;
}

/**
 * A value that starts with '-' followed by a digit (`--layers -1`, `--layer -2`) belongs to the string flag
 * before it: parseArgs would take it for an option ("argument is ambiguous"), so it is joined as `--layers=-1`.
 */
function joinNegativeValues(argv: string[], options: Options): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const next = argv[i + 1];
    const name = a.startsWith('--') && !a.includes('=') ? a.slice(2) : undefined;
    if (name && options[name]?.type === 'string' && next !== undefined && /^-(\d|\.\d)/.test(next)) {
      out.push(`${a}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
}

/**
 * Parses a subcommand's flags with node's util.parseArgs, turning its errors (unknown flag, missing value)
 * into one-line AtlasErrors that say what to do and point at `--help`.
 */
export type ParsedFlags<O extends Options> = ReturnType<typeof parseArgs<{ args: string[]; options: O; allowPositionals: boolean; strict: true }>>;

export function parseFlags<O extends Options>(command: string, argv: string[], options: O, allowPositionals = false): ParsedFlags<O> {
  const help = `see 'latent-atlas ${command} --help'`;
  let parsed;
  try {
    parsed = parseArgs({ args: joinNegativeValues(argv, options), options, allowPositionals, strict: true, tokens: true });
  } catch (e) {
    const message = (e as Error).message;
    const unknown = /^Unknown option '(-{1,2})([^']*)'/.exec(message);
    if (unknown) {
      const guess = didYouMean(unknown[2]!, Object.keys(options));
      throw new AtlasError(`unknown option '${unknown[1]}${unknown[2]}'`, { hint: `${guess ? `did you mean --${guess}? ` : ''}${help}` });
    }
    const missing = /^Option '(--[^ ']+)[^']*' argument missing/.exec(message);
    if (missing) throw new AtlasError(`${missing[1]} needs a value`, { hint: help });
    const positional = /^Unexpected argument '([^']*)'/.exec(message);
    if (positional) throw new AtlasError(`unexpected argument '${positional[1]}': this command takes only options`, { hint: help });
    // parseArgs explains over several lines; the CLI's contract is one.
    throw new AtlasError(message.replace(/\s*\n\s*/g, ' '), { hint: help });
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
  return rest as ParsedFlags<O>;
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
      if (!opt) {
        const guess = didYouMean(key, Object.keys(options));
        throw new AtlasError(`unknown option '${rawKey}'`, { file: configPath, field: rawKey, hint: `${guess ? `did you mean ${guess}? ` : ''}see 'latent-atlas ${command} --help'` });
      }
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
