import { CLI_ARGS } from './cli-entry.ts';
import { test, before, after, mock } from 'node:test';
import assert from 'node:assert/strict';
import fs, { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel, type LoadedModel } from '../src/model/load.ts';
import { assembleDataset } from '../src/data/dataset.ts';
import { extractActivations } from '../src/data/extract.ts';
import { isAtlasError } from '../src/errors.ts';
import { runCli, isCleanInputError } from './cli-inprocess.ts';

process.env.LATENT_ATLAS_QUIET = '1';
let root: string;
let tiny: string;
let model: LoadedModel;
const texts = ['the cat sat on the mat', 'on Monday we went to the market', 'short one', 'we rest on Sunday', 'Thursday again', 'a dog ran'];
const dataset = assembleDataset({ name: 't', source: 'memory', texts, labelNames: ['a', 'b', 'a', 'b', 'a', 'b'], warnings: [] });

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'atlas-fs-errors-'));
  chmodSync(root, 0o755); // readable by the unprivileged child below
  tiny = join(root, 'tiny');
  writeTinyCheckpoint(tiny, { architecture: 'gpt2', seed: 3, nLayer: 2 });
  model = await loadModel(tiny, { threads: 1 });
  process.env.LATENT_ATLAS_CACHE = join(root, 'cache');
});
after(async () => { await model.release(); rmSync(root, { recursive: true, force: true }); });

const filesUnder = (d: string): string[] => (existsSync(d) ? readdirSync(d, { recursive: true }).map(String) : []);

test('issue 15.12: a full disk while caching says how much is cached and a rerun resumes from it', async () => {
  const cacheRoot = join(root, 'cache-enospc');
  const clean = await extractActivations(model, dataset, { cacheRoot: join(root, 'cache-clean'), batchSize: 2, progress: false });
  // Fail every write into the third batch's temp file, as a full disk would.
  let current = '';
  const realOpen = fs.openSync;
  const realWrite = fs.writeSync;
  mock.method(fs, 'openSync', (...a: Parameters<typeof fs.openSync>) => { current = String(a[0]); return realOpen(...a); });
  mock.method(fs, 'writeSync', (...a: unknown[]) => {
    if (/batch-2\.bin\.tmp-/.test(current)) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
    return (realWrite as (...x: unknown[]) => number)(...a);
  });
  syncBuiltinESMExports();
  try {
    await assert.rejects(extractActivations(model, dataset, { cacheRoot, batchSize: 2, progress: false }), (e) => {
      assert.ok(isAtlasError(e), String(e));
      assert.match(e.message, /writing batch 3 of 3 of the activation cache: no space left on the device/);
      assert.match(e.message, /2 of 3 batches \(\d+\.\d\d MB\) are safely cached in .*rerun: it resumes from the cached batches/);
      return true;
    });
  } finally {
    mock.restoreAll();
    syncBuiltinESMExports();
  }
  const left = filesUnder(cacheRoot);
  assert.ok(!left.some((f) => /\.tmp-|meta\.json|layer-/.test(f)), `nothing partial: ${left.join(', ')}`);
  assert.equal(left.filter((f) => /batch-\d\.bin$/.test(f)).length, 2);
  const resumed = await extractActivations(model, dataset, { cacheRoot, batchSize: 2, progress: false });
  assert.equal(resumed.cached, false);
  for (const l of resumed.layers) assert.deepEqual(readFileSync(join(resumed.dir, `layer-${l}.npy`)), readFileSync(join(clean.dir, `layer-${l}.npy`)));
});

test('issue 15.11: an unwritable --out or --cache fails before any computation, one line, status 2', async () => {
  // Root ignores permission bits, so the CLI runs as 'nobody' in a child process when the tests run as root.
  const ro = join(root, 'read-only');
  mkdirSync(ro);
  chmodSync(ro, 0o555);
  const asRoot = process.getuid?.() === 0;
  const env = { ...process.env, LATENT_ATLAS_QUIET: '1', LATENT_ATLAS_CACHE: join(ro, 'cache'), HOME: ro };
  
  const run = async (args: string[]) => {
    try {
      const r = await promisify(execFile)(process.execPath, [...CLI_ARGS, ...args], { env, cwd: root, timeout: 120_000, ...(asRoot ? { uid: 65534, gid: 65534 } : {}) });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  const [map, extract] = await Promise.all([
    run(['map', '--model', tiny, '--data', 'builtin:days', '--num-samples', '3', '--out', join(ro, 'maps'), '--cache', join(root, 'cache-ok-' + Date.now())]),
    run(['extract', '--model', tiny, '--data', 'builtin:days', '--num-samples', '3', '--cache', join(ro, 'cache')]),
  ]);
  for (const [r, flag] of [[map, 'out'], [extract, 'cache']] as const) {
    assert.ok(isCleanInputError(r), `status ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`read-only/\\w+: cannot write the output folder: permission denied \\(cannot write here\\) \\(--${flag}\\)`));
  }
  assert.deepEqual(filesUnder(ro), []);
  assert.ok(!filesUnder(root).some((f) => f.startsWith('cache-ok-') && f.endsWith('meta.json')), 'map did not extract before failing');
});

test('issue 15.15: --out naming a file where a folder is wanted (and the reverse) is one line, status 2', async () => {
  const file = join(root, 'a-file.txt');
  writeFileSync(file, 'x');
  const map = await runCli(['map', '--model', tiny, '--data', 'builtin:days', '--out', file]);
  assert.ok(isCleanInputError(map), map.stderr);
  assert.match(map.stderr, /a-file\.txt: --out must be a folder, but this is a file/);
  const tv = await runCli(['task-vector', '--base', tiny, '--finetuned', tiny, '--out', root]);
  assert.ok(isCleanInputError(tv), tv.stderr);
  assert.match(tv.stderr, /--out must be a file name, but this is a folder \(give a file path such as .*task_vector\.safetensors\)/);
});

test('issue 15.14: an invalid --match-regex names the flag (no SyntaxError trace); g/y flags do not carry over between texts', async () => {
  const r = await runCli(['extract', '--model', tiny, '--data', 'builtin:days', '--match-regex', '(Mon', '--aggregate', 'match']);
  assert.ok(isCleanInputError(r), r.stderr);
  assert.match(r.stderr, /--match-regex '\(Mon' is not a valid regular expression: .*Unterminated group/);
  const { compileUserRegex } = await import('../src/data/dataset.ts');
  const re = compileUserRegex('/day/g');
  assert.equal(re.exec('Monday')?.index, 3);
  assert.equal(re.exec('Sunday')?.index, 3, 'a stateful /g would start at 6 and miss');
});

test('issue 15.16: serve --host with an address of another machine, or a name that does not resolve, is one line', async () => {
  for (const [host, message] of [['10.254.254.254', /'10\.254\.254\.254' is not an address of this machine/], ['999.1.1.1', /'999\.1\.1\.1' is not an IP address and does not resolve/]] as const) {
    const r = await runCli(['serve', root, '--host', host, '--port', '0']);
    assert.ok(isCleanInputError(r), r.stderr);
    assert.match(r.stderr, message);
  }
});

test('a file-system error that escapes a command is still one line with status 2 (main converts it)', async () => {
  const { fsError } = await import('../src/data/fs-errors.ts');
  const e = fsError(Object.assign(new Error('EROFS: read-only file system, open'), { code: 'EROFS', path: '/x/y' }));
  assert.ok(isAtlasError(e));
  assert.equal(e.message, '/x/y: the file system is read-only (choose a folder on a writable disk)');
});
