/**
 * The CLI's view of the option tables (src/util/option-table.ts): parseArgs flags, help lines and parsing,
 * all derived from the table, so the CLI never restates a default. fromFlags returns only what the user gave;
 * the operation fills the rest from the same table.
 */
import type { ParseArgsConfig } from 'node:util';
import { AtlasError } from '../errors.ts';
import { flagOf, formatDefault, type OptionDef, type OptionTable, type OptionsOf } from '../util/option-table.ts';
import type { FlagValues } from './command.ts';

type Options = NonNullable<ParseArgsConfig['options']>;

/** parseArgs flags of the tables (no defaults: unset flags stay undefined). */
export function tableFlags(...tables: OptionTable[]): Options {
  const out: Options = {};
  for (const table of tables) {
    for (const [key, def] of Object.entries(table)) {
      const flag = flagOf(key, def);
      if (!flag) continue;
      const type = def.kind === 'boolean' ? 'boolean' : 'string';
      for (const name of [flag, ...(def.aliases ?? [])]) out[name] = { type };
      if (def.kind === 'boolean' && def.default === true) out[`no-${flag}`] = { type: 'boolean' };
    }
  }
  return out;
}

function metavar(def: OptionDef): string {
  if (def.kind === 'boolean') return '';
  if (def.metavar) return def.metavar;
  if (def.choices) return def.choices.join('|');
  return 'X';
}

/** One help line per option of the table (or of `keys`), in table order: `--flag VALUE  help (default X)`. */
export function tableHelp(table: OptionTable, keys: readonly string[] = Object.keys(table)): string {
  const lines: string[] = [];
  for (const key of keys) {
    const def = table[key];
    const flag = def && flagOf(key, def);
    if (!def || !flag) continue;
    const name = def.kind === 'boolean' && def.default === true ? `--[no-]${flag}` : `--${flag}`;
    const left = `  ${name}${metavar(def) ? ` ${metavar(def)}` : ''}`;
    const shown = formatDefault(def);
    const dflt = shown !== undefined && def.kind !== 'boolean' ? ` (default ${shown})` : '';
    const alias = def.aliases?.length ? ` [also --${def.aliases.join(', --')}]` : '';
    lines.push(`${left.padEnd(26)}${left.length >= 26 ? '\n' + ' '.repeat(26) : ''}${def.help}${dflt}${alias}`);
  }
  return lines.join('\n');
}

function parseValue(def: OptionDef, raw: string, flag: string): unknown {
  switch (def.kind) {
    case 'int':
    case 'number': {
      const n = raw.trim() === '' ? NaN : Number(raw);
      const int = def.kind === 'int';
      const bounds = [def.min !== undefined ? `≥ ${def.min}` : '', def.max !== undefined ? `≤ ${def.max}` : ''].filter(Boolean).join(' and ');
      if ((int ? !Number.isInteger(n) : !Number.isFinite(n)) || (def.min !== undefined && n < def.min) || (def.max !== undefined && n > def.max)) {
        throw new AtlasError(`--${flag} must be ${int ? 'an integer' : 'a number'}${bounds ? ` ${bounds}` : ''}, got '${raw}'`);
      }
      return n;
    }
    case 'choice':
      if (!def.choices!.includes(raw)) throw new AtlasError(`--${flag} must be one of ${def.choices!.join(', ')}, got '${raw}'`);
      return raw;
    case 'list':
      return raw.split(',').map((s) => s.trim()).filter(Boolean);
    case 'string':
      return def.parse ? def.parse(raw, flag) : raw;
    case 'boolean':
      return raw === 'true';
  }
}

/**
 * The options the user gave (flags or --config keys), parsed and checked against the table; a flag and its
 * alias given together is an error. Unset options are absent, so the operation's defaults apply.
 */
export function fromFlags<T extends OptionTable>(table: T, values: FlagValues): OptionsOf<T> {
  const out: Record<string, unknown> = {};
  for (const [key, def] of Object.entries(table)) {
    const flag = flagOf(key, def);
    if (!flag) continue;
    const given = [flag, ...(def.aliases ?? [])].filter((n) => values[n] !== undefined);
    if (given.length > 1) throw new AtlasError(`--${given[0]} and --${given[1]} are the same option: give it once`);
    if (def.kind === 'boolean') {
      if (values[`no-${flag}`] === true) out[key] = false;
      else if (given.length) out[key] = values[given[0]!] === true;
      continue;
    }
    if (!given.length) continue;
    const raw = values[given[0]!];
    out[key] = parseValue(def, Array.isArray(raw) ? raw.join(',') : String(raw), flag);
  }
  return out as OptionsOf<T>;
}
