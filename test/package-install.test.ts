/**
 * The package as users get it: build (npm pack runs `prepare`), pack, install the tarball with --omit=dev
 * into an empty project (from npm's local cache when it can), then with Node alone (no tsx, no TypeScript):
 * (a) `npx latent-atlas demo` with small settings, (b) a plain .mjs script that imports the public API and
 * extracts, reduces and computes TwoNN on the embedded model, (c) the type declarations compile in a strict
 * consumer project. Also checks what the tarball holds: no tests, fixtures, scripts, sources or bench.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('..', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'atlas-pack-'));
test.after(() => rmSync(work, { recursive: true, force: true }));

// A child npm must not inherit the npm_* settings of the `npm test` that started us (they name this checkout).
const cleanEnv: NodeJS.ProcessEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
const env: NodeJS.ProcessEnv = {
  ...cleanEnv,
  // onnxruntime-node's CPU binaries are bundled; its install script would otherwise fetch CUDA ones on linux/x64.
  ONNXRUNTIME_NODE_INSTALL: 'skip',
  LATENT_ATLAS_HOME: join(work, 'home'), LATENT_ATLAS_CACHE: join(work, 'cache'), LATENT_ATLAS_QUIET: '1', HF_HUB_OFFLINE: '1',
};
const npm = (args: string[], cwd: string) => run('npm', args, { cwd, env, maxBuffer: 64 << 20 });

/** Newest modification time under a folder (the build's inputs). */
function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) if (e.isFile()) t = Math.max(t, statSync(join(e.parentPath, e.name)).mtimeMs);
  return t;
}

test('npm pack → install --omit=dev → demo, API script and typed consumer run with Node alone', { timeout: 1_200_000 }, async (t) => {
  const started = performance.now();
  const phase = (name: string) => t.diagnostic(`${name}: ${((performance.now() - started) / 1000).toFixed(0)} s`);
  // `npm pack` runs `prepare` (the build). When dist/ is newer than every source (CI: `npm ci` just built it),
  // the build is not repeated: npm pack --ignore-scripts packs it as it is.
  const built = existsSync(join(repo, 'dist', 'index.js')) && statSync(join(repo, 'dist', 'index.js')).mtimeMs > Math.max(newest(join(repo, 'src')), newest(join(repo, 'web')), statSync(join(repo, 'tsconfig.build.json')).mtimeMs);
  const { stdout: packed } = await npm(['pack', '--json', ...(built ? ['--ignore-scripts'] : []), '--pack-destination', work], repo);
  phase(built ? 'packed (dist/ up to date)' : 'built and packed');
  const info = JSON.parse(packed.slice(packed.indexOf('['))) as { filename: string; size: number; entryCount: number; files: { path: string }[] }[];
  const files = info[0]!.files.map((f) => f.path);
  for (const f of files) {
    assert.match(f, /^(package\.json|README\.md|LICENSE|bin\/latent-atlas\.js|dist\/.+\.(js|d\.ts|js\.map|html|css)|data\/builtin\/[^/]+|models\/[^/]+\/[^/]+)$/, `unexpected file in the tarball: ${f}`);
  }
  for (const needed of ['dist/index.js', 'dist/index.d.ts', 'dist/cli/bin.js', 'dist/app/client/app.js', 'dist/geometry/knn-worker.js', 'models/latent-atlas-brown-gpt2/model.safetensors']) {
    assert.ok(files.includes(needed), `${needed} is missing from the tarball`);
  }
  assert.ok(!files.some((f) => f.startsWith('dist/') && f.endsWith('.ts') && !f.endsWith('.d.ts')), 'no TypeScript sources');

  const project = join(work, 'consumer');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, type: 'module' }));
  await npm(['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', join(work, info[0]!.filename)], project);
  phase('installed');
  const installed = join(project, 'node_modules');
  assert.ok(!existsSync(join(installed, 'tsx')) && !existsSync(join(installed, 'typescript')), 'devDependencies are not installed');

  // (a) the CLI: --version, and the demo with small settings.
  const version = await run('npx', ['--no-install', 'latent-atlas', '--version'], { cwd: project, env });
  assert.equal(version.stdout.trim(), JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')).version);
  const demo = await run('npx', ['--no-install', 'latent-atlas', 'demo', '--quick', '--data', 'builtin:days', '--out', 'demo'], { cwd: project, env, maxBuffer: 16 << 20 });
  assert.match(demo.stdout, /latent-atlas-brown-gpt2/, 'the demo runs the embedded model');
  assert.match(demo.stdout, /report: .*index\.html/);
  assert.ok(existsSync(join(project, 'demo', 'index.html')) && existsSync(join(project, 'demo', 'run.json')));

  phase('demo');
  // (b) the public API from a plain ES module.
  writeFileSync(join(project, 'api.mjs'), `
import { defaultModel, openModel, loadDataset, extractLayers, reduce, twoNN, defaultsOf, EXTRACT_OPTIONS } from 'latent-atlas';
const model = await openModel(defaultModel().dir);
try {
  const data = await loadDataset('builtin:days', { numSamples: 6 });
  const layers = await extractLayers(model, data, { layers: '-1', aggregate: 'mean' });
  const [layer, x] = [...layers][0];
  const map = await reduce(x, { method: 'pca', nComponents: 2 });
  const id = await twoNN(x);
  console.log(JSON.stringify({ layer, rows: x.rows, cols: x.cols, map: [map.embedding.rows, map.embedding.cols], id: id.id, batchSize: defaultsOf(EXTRACT_OPTIONS).batchSize }));
} finally {
  await model.release();
}
`);
  const api = await run(process.execPath, ['api.mjs'], { cwd: project, env });
  const r = JSON.parse(api.stdout.trim().split('\n').pop()!);
  assert.equal(r.layer, 4, 'layer -1 of the 4-layer embedded model');
  assert.equal(r.rows, 42);
  assert.equal(r.cols, 128);
  assert.deepEqual(r.map, [42, 2]);
  assert.ok(Number.isFinite(r.id) && r.id > 0, `TwoNN ${r.id}`);
  assert.equal(r.batchSize, 8);

  phase('API script');
  // (c) the declarations under strict, as a TypeScript user compiles against them.
  writeFileSync(join(project, 'consumer.ts'), `
import { openModel, loadDataset, extractLayers, reduce, twoNN, fisherGeometry, FISHER_OPTIONS, defaultsOf, type ReduceOptions, type Matrix } from 'latent-atlas';
const model = await openModel('gpt2', { threads: 1 });
const data = await loadDataset('builtin:topics', { numSamples: 5 });
const layers: Map<number, Matrix<Float32Array>> = await extractLayers(model, data, { layers: [0, 1], aggregate: 'mean' });
const options: ReduceOptions = { method: 'umap', nComponents: 2, minDist: 0.2 };
const map = await reduce(layers.get(1)!, options);
const id: number = (await twoNN(layers.get(1)!)).id;
const lambda: number = defaultsOf(FISHER_OPTIONS).lambda;
const fisher = await fisherGeometry(model, data, { out: 'out', layer: -1, k: 5 });
console.log(map.embedding.rows, id, lambda, fisher.comparison.spearman);
// @ts-expect-error internal modules are not importable
import('latent-atlas/dist/geometry/knn.js');
`);
  writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', noEmit: true, skipLibCheck: false, typeRoots: [join(repo, 'node_modules', '@types')], types: ['node'] },
    files: ['consumer.ts'],
  }));
  const tsc = join(repo, 'node_modules', 'typescript', 'bin', 'tsc');
  const typed = await run(process.execPath, [tsc, '-p', project], { cwd: project, env }).catch((e: { stdout: string }) => ({ stdout: e.stdout, failed: true }));
  assert.ok(!('failed' in typed), `the declarations do not compile in a strict consumer:\n${typed.stdout}`);
  phase('typed consumer');
});
