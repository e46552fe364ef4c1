/**
 * One table of defaults per operation (scikit-learn's `__init__` style). Each option of an operation is
 * described once — kind, default, one line of help, its CLI flag — in a table next to the operation
 * (src/<area>/defaults.ts). The operation fills missing options from the table (withDefaults), and the CLI
 * derives its flags, help lines and parsing from the same table (src/cli/table-flags.ts), so a default is
 * written exactly once and the CLI passes only what the user typed.
 */

export type OptionKind = 'int' | 'number' | 'string' | 'boolean' | 'choice' | 'list';

export interface OptionDef<V = unknown> {
  kind: OptionKind;
  /** The default; undefined = computed at run time (say how in `defaultText`) or none. */
  default: V;
  /** One line for the CLI's help and the API docs. */
  help: string;
  /** How the help shows a computed default ("the model's maximum"). */
  defaultText?: string;
  /** CLI flag without dashes; default: the key in kebab case. false: API only. */
  flag?: string | false;
  /** Other flag names accepted (kept for compatibility, never shown twice in help). */
  aliases?: readonly string[];
  /** Placeholder in the help ("N", "DIR"). */
  metavar?: string;
  /** Allowed values of a 'choice'. */
  choices?: readonly string[];
  /** Bounds of 'int' / 'number' (inclusive). */
  min?: number;
  max?: number;
  /** Custom parser of the flag's text (kind 'string'), e.g. a layer spec; throws AtlasError naming the flag. */
  parse?: (raw: string, flag: string) => V;
}

export type OptionTable = Record<string, OptionDef<any>>;

/** The options object an operation takes: every key optional, typed by its definition. */
export type OptionsOf<T extends OptionTable> = { [K in keyof T]?: T[K] extends OptionDef<infer V> ? V : never };
/** The options after withDefaults: keys with a default are present. */
export type ResolvedOptions<T extends OptionTable> = { [K in keyof T]: T[K] extends OptionDef<infer V> ? V : never };

/** Declares one option with its value type (`opt<number>({ kind: 'int', default: 8, help: '…' })`). */
export function opt<V>(def: OptionDef<V>): OptionDef<V> {
  return def;
}

/** Freezes a table (its defaults can be read, never changed at run time). */
export function defineOptions<T extends OptionTable>(table: T): Readonly<T> {
  for (const d of Object.values(table)) Object.freeze(d);
  return Object.freeze(table);
}

/** The defaults of a table as a plain object (what the operation uses when an option is not given). */
export function defaultsOf<T extends OptionTable>(table: T): ResolvedOptions<T> {
  const out: Record<string, unknown> = {};
  for (const [k, d] of Object.entries(table)) out[k] = d.default;
  return out as ResolvedOptions<T>;
}

/** `given` over the table's defaults; undefined values in `given` count as not given. */
export function withDefaults<T extends OptionTable, G extends object>(table: T, given: G | undefined): ResolvedOptions<T> & G {
  const out: Record<string, unknown> = defaultsOf(table);
  for (const [k, v] of Object.entries(given ?? {})) if (v !== undefined) out[k] = v;
  return out as ResolvedOptions<T> & G;
}

/** The CLI flag of an option (kebab case of its key unless named), or undefined when it is API only. */
export function flagOf(key: string, def: OptionDef): string | undefined {
  if (def.flag === false) return undefined;
  return def.flag ?? key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

/** The default as the help text shows it. */
export function formatDefault(def: OptionDef): string | undefined {
  if (def.defaultText !== undefined) return def.defaultText;
  if (def.default === undefined || def.default === null) return undefined;
  if (Array.isArray(def.default)) return def.default.join(',');
  if (typeof def.default === 'number' && def.default !== 0 && Math.abs(def.default) < 1e-3) return def.default.toExponential(); // 1e-4, not 0.0001
  return String(def.default);
}

/** A copy of `table` with some defaults changed (a command's own default, e.g. map's last layer). */
export function overrideDefaults<T extends OptionTable>(table: T, defaults: OptionsOf<T>): Readonly<T> {
  const out: OptionTable = { ...table };
  for (const [k, v] of Object.entries(defaults)) out[k] = { ...table[k]!, default: v, defaultText: undefined };
  return defineOptions(out as T);
}

/** The options `keys` of a table (a command that uses part of an operation's options). */
export function pickOptions<T extends OptionTable, K extends keyof T & string>(table: T, keys: readonly K[]): Readonly<Pick<T, K>> {
  const out: Partial<T> = {};
  for (const k of keys) out[k] = table[k];
  return defineOptions(out as Pick<T, K>);
}
