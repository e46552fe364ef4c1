import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNpy } from '../src/data/npy.ts';
import { CLI_ARGS } from './cli-entry.ts';

const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), 'atlas-cli-'));
const env = { ...process.env, LATENT_ATLAS_HOME: home, LATENT_ATLAS_CACHE: join(home, 'cache'), LATENT_ATLAS_QUIET: '1', HF_HUB_OFFLINE: '1' };

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [...CLI_ARGS, ...args], { env, cwd: home });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

test('demo --quick runs the pipeline on the default model and writes the report', async () => {
  const out = join(home, 'demo');
  const r = await cli(['demo', '--quick', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /report: .*index\.html/);
  // With the trained model shipped under models/ the demo uses it and builtin:brown-genres (15 labels × 10 in
  // --quick); without it, a labelled random fallback and builtin:topics (6 labels × 10).
  const shipped = existsSync(join(import.meta.dirname, '..', 'models', 'latent-atlas-brown-gpt2', 'config.json'));
  if (shipped) assert.match(r.stdout, /latent-atlas-brown-gpt2[\s\S]*data: brown-genres/);
  else assert.match(r.stdout, /RANDOM/, 'a random fallback model must say so');
  const nTexts = shipped ? 150 : 60;
  const run = JSON.parse(readFileSync(join(out, 'run.json'), 'utf8'));
  assert.equal(run.texts, nTexts);
  for (const m of run.maps) {
    assert.ok(existsSync(join(out, m.html)) && existsSync(join(out, m.png)));
  }
  const map = readNpy(join(out, run.maps[0].html.replace(/\.html$/, '.npy')));
  assert.deepEqual(map.shape, [nTexts, 2]);
  const profile = JSON.parse(readFileSync(join(out, 'profile', 'profile.json'), 'utf8'));
  assert.equal(profile.layers.length, run.layers.length);
  assert.equal(readFileSync(join(out, 'index.html'), 'utf8').includes('randomly initialised'), !shipped);
  const fisher = JSON.parse(readFileSync(join(out, run.fisher), 'utf8'));
  assert.equal(fisher.n, nTexts / 2);
  assert.ok(fisher.comparison.spearman > -1 && fisher.comparison.spearman <= 1);
});

test('extract + map from a YAML config; flags override the file', async () => {
  const model = join(home, 'tiny');
  assert.equal((await cli(['make-tiny', '--out', model, '--layers', '2'])).code, 0);
  const cfg = join(home, 'run.yaml');
  writeFileSync(cfg, `model: ${model}\ndata: builtin:days\nnum_samples: 5\nlayers: "1"\nreduce: tsne\n`);
  const r = await cli(['map', '--config', cfg, '--reduce', 'pca', '--out', join(home, 'maps')]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(home, 'maps', 'map-layer1-pca.html')), 'the --reduce flag wins over the file');
  const meta = JSON.parse(readFileSync(join(home, 'maps', 'map-layer1-pca.json'), 'utf8'));
  assert.equal(meta.rows, 35);
  assert.equal(meta.classNames.length, 7);
});

test('input errors are one clear line with exit status 2, never a stack trace', async () => {
  const cases: [string[], RegExp][] = [
    [['extract', '--data', 'builtin:topics'], /--model is required/],
    [['extract', '--model', join(home, 'nope'), '--data', 'builtin:topics'], /nope.*folder not found/],
    [['map', '--model', join(home, 'tiny'), '--data', 'builtin:topics', '--reduce', 'lda'], /--reduce must be one of/],
    [['map', '--config', join(home, 'missing.yaml')], /missing\.yaml: config file not found/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['extract', '--bogus'], /unknown option '--bogus'.*latent-atlas extract --help/],
  ];
  for (const [args, message] of cases) {
    const r = await cli(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  writeFileSync(join(home, 'bad.yaml'), 'batch_sise: 4\n');
  const r = await cli(['extract', '--config', join(home, 'bad.yaml')]);
  assert.match(r.stderr, /bad\.yaml: field 'batch_sise': unknown option/);
});
