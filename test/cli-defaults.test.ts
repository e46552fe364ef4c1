/**
 * One table of defaults per operation: the CLI derives its flags from the tables and passes no default of
 * its own, so every CLI default is the API default. Checked for every command that declares its tables:
 * the help shows each option once with the table's default, parsing no flags yields no option (the
 * operation's table fills them), and a flag's value reaches the options object.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { commands } from '../src/cli/main.ts';
import { fromFlags } from '../src/cli/table-flags.ts';
import { defaultsOf, flagOf, formatDefault, withDefaults } from '../src/util/option-table.ts';
import { EXTRACT_OPTIONS } from '../src/data/defaults.ts';
import { FISHER_OPTIONS } from '../src/fisher/defaults.ts';
import { MRI_OPTIONS } from '../src/mri/defaults.ts';
import { PARAM_FISHER_OPTIONS } from '../src/params/defaults.ts';
import { REDUCE_OPTIONS } from '../src/geometry/defaults.ts';

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

test('every command with tables: each option appears once in --help with the table default', () => {
  const withTables = commands.filter((c) => c.tables);
  assert.ok(withTables.length >= 6, 'extract, map, profile, fisher, mri, fim declare their tables');
  for (const c of withTables) {
    for (const [tableName, table] of Object.entries(c.tables!)) {
      for (const [key, def] of Object.entries(table)) {
        const flag = flagOf(key, def);
        if (!flag) continue;
        const lines = c.help.split('\n').filter((l) => new RegExp(`^\\s+--(\\[no-\\])?${escape(flag)}(?![\\w-])`).test(l));
        if (key === 'seed' && lines.length === 1) continue; // --seed is shared by several tables, listed once
        assert.equal(lines.length, 1, `${c.name} --help lists --${flag} (${tableName}.${key}) ${lines.length} times`);
        const shown = formatDefault(def);
        if (shown !== undefined && def.kind !== 'boolean') {
          // the line, or its continuation line, carries "(default X)"
          const at = c.help.indexOf(lines[0]!);
          const block = c.help.slice(at, at + lines[0]!.length + 200).split('\n').slice(0, 2).join('\n');
          assert.ok(block.includes(`(default ${shown})`), `${c.name} --help: --${flag} should say (default ${shown}):\n${block}`);
        }
      }
      assert.deepEqual(fromFlags(table, {}), {}, `${c.name}: with no flags the CLI passes no ${tableName} option (the operation's defaults apply)`);
    }
  }
});

test('each flag is listed once in every help text, and builtin:brown-genres is named wherever --data is', () => {
  for (const c of commands) {
    const flags = c.help.split('\n').map((l) => /^\s+(--[a-z0-9[\]-]+)/.exec(l)?.[1]).filter((f): f is string => !!f);
    const seen = new Set<string>();
    for (const f of flags) {
      assert.ok(!seen.has(f), `${c.name} --help lists ${f} twice`);
      seen.add(f);
    }
    if (/--data\b/.test(c.help)) assert.match(c.help, /builtin:brown-genres/, `${c.name} --help names builtin:brown-genres`);
  }
});

test('the defaults written once: λ, batch size, max length, the map/UMAP knobs', () => {
  assert.equal(defaultsOf(FISHER_OPTIONS).lambda, 1e-4);
  assert.equal(defaultsOf(FISHER_OPTIONS).batchSize, defaultsOf(EXTRACT_OPTIONS).batchSize);
  assert.equal(defaultsOf(MRI_OPTIONS).maxLength, undefined, "mri, like extract and fisher, defaults to the model's maximum length");
  assert.equal(defaultsOf(EXTRACT_OPTIONS).maxLength, undefined);
  assert.equal(defaultsOf(FISHER_OPTIONS).maxLength, undefined);
  assert.equal(defaultsOf(PARAM_FISHER_OPTIONS).maxLength, 128, 'parameter Fisher: shorter (per-sample gradients)');
  for (const flag of ['perplexity', 'n-neighbors', 'min-dist']) assert.ok(commands.find((c) => c.name === 'map')!.help.includes(`--${flag}`), `map exposes --${flag}`);
});

test('flags reach the options: values, aliases, negatives, --no-*; bad values name the flag', () => {
  assert.deepEqual(fromFlags(FISHER_OPTIONS, { layers: '-2', 'knn-k': '7', 'no-png': true }), { layer: -2, k: 7, png: false });
  assert.deepEqual(fromFlags(EXTRACT_OPTIONS, { pooling: 'mean', layer: '-1' }), { aggregate: 'mean', layers: '-1' });
  assert.deepEqual(withDefaults(REDUCE_OPTIONS, fromFlags(REDUCE_OPTIONS, { 'min-dist': '0.25' })).minDist, 0.25);
  assert.throws(() => fromFlags(FISHER_OPTIONS, { lambda: 'abc' }), /--lambda must be a number ≥ 0, got 'abc'/);
  assert.throws(() => fromFlags(EXTRACT_OPTIONS, { aggregate: 'median' }), /--aggregate must be one of final, mean/);
  assert.throws(() => fromFlags(EXTRACT_OPTIONS, { aggregate: 'mean', pooling: 'final' }), /--aggregate and --pooling are the same option/);
});
