/**
 * CLI conventions (issue 14) and clarity items (issue 15, 17–22), each reproduced from the original report:
 * negative layer indices with a space, reported as given; unknown options with "did you mean"; --out and a
 * positional model everywhere natural; make-tiny refusing to overwrite; exit 2 when nothing useful happened;
 * every hint in the sources names a flag that exists. Bad input: one line on stderr, status 2, no stack.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CLI_ARGS } from './cli-entry.ts';
import { commands, packageVersion } from '../src/cli/main.ts';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { writeSafetensors } from '../src/model/safetensors.ts';

const run = promisify(execFile);
const home = mkdtempSync(join(tmpdir(), 'atlas-conv-'));
test.after(() => rmSync(home, { recursive: true, force: true }));
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

/** Status 2, one line on stderr matching `message`, no stack trace. */
function badInput(r: { code: number; stderr: string }, message: RegExp, what: string): void {
  assert.equal(r.code, 2, `${what}: ${r.stderr}`);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('warning:'));
  assert.equal(lines.length, 1, `${what}: one line, got:\n${r.stderr}`);
  assert.match(lines[0]!, message, what);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: no stack trace`);
}

const tiny = join(home, 'tiny');
writeTinyCheckpoint(tiny, { architecture: 'gpt2', seed: 0, nLayer: 2 });

test('--version and documented exit codes', async () => {
  const v = await cli(['--version']);
  assert.equal(v.code, 0);
  assert.equal(v.stdout.trim(), packageVersion());
  assert.match((await cli(['--help'])).stdout, /Exit status: 0 done, 2 bad input .* 1 a bug/);
  badInput(await cli(['extrct']), /unknown command 'extrct' \(did you mean 'extract'\? see 'latent-atlas --help'\)/, 'unknown command');
});

test('17: negative layers with a space work and errors report the index as given', async () => {
  const out = join(home, 'map');
  const r = await cli(['map', tiny, '--data', 'builtin:days', '--num-samples', '3', '--layers', '-1', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(existsSync(join(out, 'map-layer2-pca.npy')), 'layer -1 of a 2-layer model is hidden state 2');
  badInput(await cli(['map', tiny, '--data', 'builtin:days', '--layers=-9']), /layer -9 does not exist: the model has layers 0\.\.2/, '--layers=-9');
  badInput(await cli(['map', tiny, '--data', 'builtin:days', '--layers', '-9']), /layer -9 does not exist/, '--layers -9');
  badInput(await cli(['fisher', tiny, '--data', 'builtin:days', '--layer', '-7']), /layer -7 does not exist/, 'fisher --layer -7');
});

test('19: an unknown option is one line with "did you mean" and the help pointer', async () => {
  badInput(await cli(['map', '--reduc', 'pca']), /unknown option '--reduc' \(did you mean --reduce\? see 'latent-atlas map --help'\)/, 'map --reduc');
  badInput(await cli(['fisher', '--lamda', '0']), /did you mean --lambda\?/, 'fisher --lamda');
  badInput(await cli(['extract', '--model']), /--model needs a value \(see 'latent-atlas extract --help'\)/, 'missing value');
  writeFileSync(join(home, 'typo.yaml'), 'batch_sise: 4\n');
  badInput(await cli(['extract', '--config', join(home, 'typo.yaml')]), /unknown option 'batch_sise' \(did you mean batch-size\?/, 'YAML typo');
});

test('20: --out everywhere, positional models, aliases', async () => {
  const cacheOut = join(home, 'extract-out');
  const e = await cli(['extract', tiny, '--data', 'builtin:days', '--num-samples', '2', '--layer', '1', '--pooling', 'mean', '--out', cacheOut]);
  assert.equal(e.code, 0, e.stderr);
  assert.ok(e.stdout.trim().split('\n').pop()!.startsWith(cacheOut), 'extract --out is the cache root');
  const info = await cli(['info', tiny]);
  assert.equal(info.code, 0, info.stderr);
  assert.equal(JSON.parse(info.stdout).layers, 2);
  badInput(await cli(['extract', tiny, '--model', join(home, 'other'), '--data', 'builtin:days']), /give the model once/, 'two models');
  const file = join(home, 'shared-report.html');
  const rep = await cli(['report', join(home, 'map'), '--out', file]);
  assert.equal(rep.code, 0, rep.stderr);
  assert.ok(existsSync(file), 'report --out FILE');
});

test('21: make-tiny refuses to overwrite an existing checkpoint unless --force', async () => {
  const dir = join(home, 'tiny-again');
  assert.equal((await cli(['make-tiny', '--out', dir])).code, 0);
  const before = readFileSync(join(dir, 'config.json'), 'utf8');
  badInput(await cli(['make-tiny', '--out', dir, '--arch', 'llama']), /exists and is not empty.*pass --force/, 'make-tiny over a checkpoint');
  assert.equal(readFileSync(join(dir, 'config.json'), 'utf8'), before, 'nothing was overwritten');
  assert.equal((await cli(['make-tiny', '--out', dir, '--arch', 'llama', '--force'])).code, 0);
  assert.notEqual(readFileSync(join(dir, 'config.json'), 'utf8'), before);
});

test('22: status 2 when nothing useful happened', async () => {
  const wide = join(home, 'wide');
  writeTinyCheckpoint(wide, { architecture: 'gpt2', seed: 0, nLayer: 2, dModel: 48 });
  const simOut = join(home, 'sim');
  badInput(await cli(['similarity', '--models', tiny, wide, '--out', simOut]), /compared 0 tensors/, 'similarity of mismatched models');
  assert.ok(!existsSync(simOut), 'no empty report is written');

  const fisher = join(home, 'other-fisher.safetensors');
  writeSafetensors(fisher, { 'not.a.tensor': { shape: [2], data: new Float32Array(2) } });
  const tv = join(home, 'tv', 'tau.safetensors');
  badInput(await cli(['task-vector', '--base', tiny, '--finetuned', tiny, '--out', tv, '--fisher', fisher]), /other-fisher\.safetensors: matches no tensor of the base model/, 'task-vector --fisher of another model');
  assert.ok(!existsSync(tv), 'nothing written');

  // A checkpoint whose config does not match its weights: info must reject it as extract does.
  const broken = join(home, 'broken');
  writeTinyCheckpoint(broken, { architecture: 'gpt2', seed: 0, nLayer: 2 });
  const cfg = JSON.parse(readFileSync(join(broken, 'config.json'), 'utf8'));
  writeFileSync(join(broken, 'config.json'), JSON.stringify({ ...cfg, n_inner: (cfg.n_inner ?? 4 * cfg.n_embd) * 2 }));
  const ex = await cli(['extract', broken, '--data', 'builtin:days', '--num-samples', '1']);
  assert.equal(ex.code, 2, `extract rejects the broken checkpoint: ${ex.stderr}`);
  badInput(await cli(['info', broken]), /shape/, 'info on a checkpoint extract rejects');
});

test('18: every flag named in a hint or error message of the sources exists', () => {
  const flags = new Set<string>(['help', 'version', 'config']);
  for (const c of commands) for (const m of c.help.matchAll(/--(?:\[no-\])?([a-z][a-z0-9-]*)/g)) flags.add(m[1]!);
  const src = fileURLToPath(new URL('../src/', import.meta.url));
  const unknown: string[] = [];
  for (const f of readdirSync(src, { recursive: true }) as string[]) {
    if (!f.endsWith('.ts')) continue;
    for (const line of readFileSync(join(src, f), 'utf8').split('\n')) {
      if (!/hint|AtlasError|throw /.test(line) || line.trim().startsWith('//') || line.trim().startsWith('*')) continue;
      if (/npm install /.test(line)) continue; // npm's own flags
      for (const m of line.matchAll(/['"`(\s]--([a-z][a-z0-9-]*)/g)) if (!flags.has(m[1]!) && !flags.has(m[1]!.replace(/^no-/, ''))) unknown.push(`${f}: --${m[1]}`);
    }
  }
  assert.deepEqual(unknown, [], 'flags named in messages that no command has');
});
