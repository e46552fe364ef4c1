/**
 * Every command with each kind of bad input — a missing path, one that is the wrong kind of thing (a folder for
 * a file, a file for a folder), an empty file, garbage bytes, a number flag given NaN / a negative / a fraction /
 * text / an out-of-range value, a flag given twice, a flag without its value — must answer with exit status 2
 * and one line, never status 1 (a stack trace). The CLI runs in this process (test/cli-inprocess.ts: main() as
 * bin/latent-atlas.js calls it) so the ~300 cases take seconds, not the minutes child processes would.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { runCli, isCleanInputError, type CliResult } from './cli-inprocess.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
const P: Record<string, string> = {};

before(() => {
  root = mkdtempSync(join(tmpdir(), 'atlas-fuzz-'));
  process.env.LATENT_ATLAS_CACHE = join(root, 'cache');
  P.tiny = join(root, 'tiny');
  writeTinyCheckpoint(P.tiny, { architecture: 'gpt2', seed: 1, nLayer: 2 });
  P.missing = join(root, 'does-not-exist');
  P.emptyDir = join(root, 'empty-dir');
  mkdirSync(P.emptyDir);
  P.emptyFile = join(root, 'empty.csv');
  writeFileSync(P.emptyFile, '');
  P.garbage = join(root, 'garbage.csv');
  writeFileSync(P.garbage, Buffer.from([0, 159, 146, 150, 255, 0, 10, 13, 0, 1, 2]));
  P.badModel = join(root, 'bad-model');
  mkdirSync(P.badModel);
  writeFileSync(join(P.badModel, 'config.json'), '{"model_type": "gpt2", "n_layer": "two"');
  P.noLabels = join(root, 'nolabel.csv');
  writeFileSync(P.noLabels, 'text\nhello\n');
});
after(() => rmSync(root, { recursive: true, force: true }));

const FILE_INPUTS = () => [P.missing, P.emptyDir, P.emptyFile, P.garbage];
const MODEL_INPUTS = () => [P.missing, P.emptyDir, P.emptyFile, P.badModel];
const COUNT_BAD = ['NaN', '-1', '0', '1.5', 'abc', '1e400', ''];
const SEED_BAD = ['NaN', '-1', 'abc', '1.5'];
const NUMBER_BAD = ['NaN', 'abc', 'Infinity', ''];

interface Spec {
  /** Arguments of a run that gets past flag parsing (it may still fail later, e.g. on a mutated input). */
  base: () => string[];
  model?: string[];
  files?: string[];
  dirs?: string[];
  counts?: string[];
  seeds?: string[];
  numbers?: string[];
  layers?: string;
}

const out = (name: string) => join(root, 'out', name);
const MODEL_DATA = () => ['--model', P.tiny, '--data', 'builtin:days', '--num-samples', '2'];
const SPECS: Record<string, Spec> = {
  extract: { base: MODEL_DATA, model: ['model'], files: ['data', 'config'], counts: ['num-samples', 'batch-size', 'max-length', 'threads'], seeds: ['seed'], layers: 'layers' },
  map: { base: () => [...MODEL_DATA(), '--out', out('map')], model: ['model'], files: ['data'], counts: ['num-samples', 'dims', 'k', 'batch-size'], seeds: ['seed'], layers: 'layers' },
  profile: { base: () => [...MODEL_DATA(), '--out', out('profile')], model: ['model'], files: ['data'], counts: ['k', 'range-max', 'batch-size'], layers: 'layers' },
  fisher: { base: () => [...MODEL_DATA(), '--out', out('fisher')], model: ['model'], files: ['data'], counts: ['k', 'batch-size', 'rank', 'samples'], numbers: ['lambda', 'perplexity'], layers: 'layer' },
  mri: { base: () => [...MODEL_DATA(), '--out', out('mri')], model: ['model'], files: ['data'], counts: ['components', 'gridsize', 'splits', 'batch-size'], seeds: ['seed', 'split-seed'], numbers: ['threshold', 'test-size'] },
  fim: { base: () => ['--model', P.tiny, '--data', 'builtin:days', '--num-samples', '2', '--out', out('fim')], model: ['model'], files: ['data'], counts: ['num-samples', 'max-length', 'batch-size'], seeds: ['seed'] },
  info: { base: () => ['--model', P.tiny], model: ['model'] },
  'make-tiny': { base: () => ['--out', out('tiny')], counts: ['layers'], seeds: ['seed'] },
  similarity: { base: () => ['--models', P.tiny, '--models', P.tiny, '--out', out('sim')], model: ['models'] },
  'task-vector': { base: () => ['--base', P.tiny, '--finetuned', P.tiny, '--out', join(out('tv'), 'tv.safetensors')], model: ['base', 'finetuned'], files: ['fisher'] },
  demo: { base: () => ['--model', P.tiny, '--data', 'builtin:days', '--num-samples', '2', '--out', out('demo')], model: ['model'], files: ['data'], counts: ['num-samples', 'threads'] },
  report: { base: () => [P.missing], dirs: [] },
  serve: { base: () => [P.missing, '--port', '0'], counts: ['port'] },
};

/**
 * Sets one flag's value in an argument list, as `--flag=value` (so a value starting with '-' is a value; how
 * `--flag -1` with a space parses is the flag parser's own business).
 */
function withFlag(args: string[], flag: string, value: string): string[] {
  const out = [...args];
  const i = out.indexOf(`--${flag}`);
  if (i >= 0) out.splice(i, 2, `--${flag}=${value}`);
  else out.push(`--${flag}=${value}`);
  return out;
}

function cases(): [string, string[]][] {
  const list: [string, string[]][] = [];
  for (const [cmd, s] of Object.entries(SPECS)) {
    const base = s.base();
    const add = (why: string, args: string[]) => list.push([`${cmd} ${why}`, [cmd, ...args]]);
    for (const f of s.model ?? []) for (const v of MODEL_INPUTS()) add(`--${f} ${v.split('/').pop()}`, withFlag(base, f, v));
    for (const f of s.files ?? []) for (const v of FILE_INPUTS()) add(`--${f} ${v.split('/').pop()}`, withFlag(base, f, v));
    for (const f of s.counts ?? []) for (const v of COUNT_BAD) add(`--${f} '${v}'`, withFlag(base, f, v));
    for (const f of s.seeds ?? []) for (const v of SEED_BAD) add(`--${f} '${v}'`, withFlag(base, f, v));
    for (const f of s.numbers ?? []) for (const v of NUMBER_BAD) add(`--${f} '${v}'`, withFlag(base, f, v));
    if (s.layers) for (const v of ['99', '-99', 'NaN', 'one', '']) add(`--${s.layers} '${v}'`, withFlag(base, s.layers, v));
    // A flag given twice, an unknown flag, a flag missing its value, an unexpected positional.
    const firstFlag = base.find((a) => a.startsWith('--') && a !== '--models');
    if (firstFlag) {
      const i = base.indexOf(firstFlag);
      add(`${firstFlag} twice`, [...base, firstFlag, base[i + 1]]);
      add(`${firstFlag} without a value`, [...base.filter((_, j) => j !== i + 1 && j !== i), firstFlag]);
    }
    add('an unknown flag', [...base, '--no-such-flag', '1']);
  }
  return list;
}

test('CLI fuzz: every command × every kind of bad input → exit status 2 and one line, never a stack trace', { timeout: 600_000 }, async () => {
  const failures: string[] = [];
  let n = 0;
  for (const [name, args] of cases()) {
    n++;
    const r: CliResult = await Promise.race([
      runCli(args),
      new Promise<CliResult>((resolve) => setTimeout(() => resolve({ code: -1, stdout: '', stderr: 'did not finish within 60 s' }), 60_000).unref()),
    ]);
    if (!isCleanInputError(r)) failures.push(`${name}: status ${r.code}: ${r.stderr.split('\n').slice(0, 3).join(' | ').slice(0, 300)}`);
  }
  if (process.env.FUZZ_REPORT) writeFileSync(process.env.FUZZ_REPORT, failures.join('\n') + '\n');
  assert.ok(n > 200, `${n} cases`);
  assert.deepEqual(failures, []);
});
