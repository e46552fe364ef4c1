/**
 * The app's server and report without a browser: discovery of outputs by file kind, the JSON payloads (checked
 * against the arrays written), path-traversal refusals (literal and percent-encoded '..', absolute paths,
 * symlinks out of the folder), query validation, and the static report's self-containment.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer } from '../src/app/server.ts';
import { scanOutputFolder } from '../src/app/scan.ts';
import { buildReport } from '../src/app/report.ts';
import { checkRelativePath, HttpError } from '../src/app/safe-path.ts';
import { serveCommand } from '../src/cli/commands/serve.ts';
import { writeFixture, type Fixture } from './app-fixture.ts';

let dir: string;
let root: string;
let fx: Fixture;
let app: RunningServer;

/** Raw GET (the path is sent exactly as given: no URL normalisation of '..'). */
function get(path: string, opts: { method?: string; host?: string } = {}): Promise<{ status: number; type: string; body: string }> {
  const u = new URL(app.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: opts.method ?? 'GET', headers: opts.host ? { host: opts.host } : {} }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-app-'));
  root = join(dir, 'out');
  mkdirSync(root);
  fx = writeFixture(root, { n: 50, fisherN: 20 });
  writeFileSync(join(dir, 'secret.txt'), 'outside the output folder');
  symlinkSync(join(dir, 'secret.txt'), join(root, 'leak.txt'));
  symlinkSync(join(root, 'profile', 'profile.csv'), join(root, 'inside-link.csv'));
  app = await startServer({ root, port: 0 });
});

after(async () => {
  await app?.close();
  rmSync(dir, { recursive: true, force: true });
});

test('binds 127.0.0.1 by default', () => {
  assert.match(app.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
});

test('scan finds maps, the Fisher output, plots, tables and graphs by file kind', () => {
  const idx = scanOutputFolder(root);
  assert.deepEqual(idx.maps.map((m) => [m.path, m.layer, m.nComponents, m.rows]), [['maps/map-layer1-pca.npy', 1, 2, 50], ['maps/map-layer2-pca.npy', 2, 3, 50]]);
  assert.equal(idx.fisher.length, 1);
  assert.deepEqual(idx.fisher[0], { dir: 'fisher', n: 20, embeddings: ['fisher-mds', 'euclidean-mds'], comparison: 'fisher/comparison.json', hasEdges: true, hasTexts: true });
  assert.deepEqual(idx.plots.map((p) => p.svg).sort(), ['fisher/geodesic-scatter.svg', 'profile/profile-id.svg']);
  // The symlink that stays inside is a table; the one pointing outside is not listed at all.
  assert.deepEqual(idx.tables.map((t) => t.path).sort(), ['inside-link.csv', 'profile/profile.csv']);
  assert.deepEqual(idx.graphs.map((g) => g.path), ['graph.json']);
  assert.ok(!JSON.stringify(idx).includes('leak.txt'));
});

test('/api/map returns the embedding, labels and texts that were written', async () => {
  for (const m of fx.maps) {
    const r = await get(`/api/map?path=${encodeURIComponent(m.path)}`);
    assert.equal(r.status, 200, r.body);
    const p = JSON.parse(r.body);
    assert.equal(p.n, fx.n);
    assert.equal(p.k, m.k);
    assert.equal(p.layer, m.layer);
    assert.equal(p.coords.length, fx.n * m.k);
    for (let i = 0; i < p.coords.length; i++) assert.ok(Math.abs(p.coords[i] - m.coords[i]) <= 1e-6 * Math.max(1, Math.abs(m.coords[i])), `coord ${i}`);
    assert.deepEqual(p.labels, fx.labels);
    assert.deepEqual(p.texts, fx.texts);
  }
});

test('/api/fisher returns embeddings, ellipses, edges and texts', async () => {
  const r = await get('/api/fisher?dir=fisher');
  assert.equal(r.status, 200, r.body);
  const f = JSON.parse(r.body);
  assert.equal(f.n, 20);
  assert.deepEqual(Object.keys(f.embeddings), ['fisher-mds', 'euclidean-mds']);
  assert.equal(f.ellipses.length, 20);
  assert.deepEqual(f.edges, fx.edges);
  assert.deepEqual(f.texts, fx.fisherTexts);
  assert.equal(f.comparison.comparison.spearman, 0.9);
});

test('files inside the folder are served with their type', async () => {
  const r = await get('/files/profile/profile.csv');
  assert.equal(r.status, 200);
  assert.match(r.type, /text\/csv/);
  assert.match(r.body, /^layer,twonn_id/);
  assert.equal((await get('/files/inside-link.csv')).status, 200);
  assert.equal((await get('/files/profile%2Fprofile.csv')).status, 200);
});

test('path traversal is refused: .., encoded .., absolute paths, symlinks out of the folder', async () => {
  const refused = [
    '/files/../secret.txt', '/files/%2e%2e/secret.txt', '/files/%2E%2E%2Fsecret.txt', '/files/maps/..%2f..%2fsecret.txt', '/files/..%5csecret.txt',
    '/files/%2Fetc%2Fpasswd', '/files//etc/passwd', '/files/leak.txt', '/files/./run.json', '/../secret.txt', '/%2e%2e/secret.txt',
    `/api/map?path=${encodeURIComponent('../secret.npy')}`, `/api/map?path=${encodeURIComponent('/etc/passwd.npy')}`, '/api/fisher?dir=..', `/api/fisher?dir=${encodeURIComponent(dir)}`,
  ];
  for (const path of refused) {
    const r = await get(path);
    assert.ok(r.status === 403 || r.status === 400, `${path} → ${r.status} ${r.body}`);
    assert.match(r.type, /application\/json/, path);
    assert.ok(!r.body.includes('outside the output folder') || JSON.parse(r.body).error, `${path} leaked the file`);
    assert.equal(typeof JSON.parse(r.body).error, 'string', path);
  }
  assert.equal((await get('/files/%ZZ')).status, 400);
});

test('query parameters and methods are validated, with JSON errors', async () => {
  const cases: [string, number, RegExp][] = [
    ['/api/map', 400, /'path' is required/],
    ['/api/map?path=maps/map-layer1-pca.npy&x=1', 400, /unknown query parameter 'x'/],
    ['/api/map?path=a.npy&path=b.npy', 400, /given twice/],
    ['/api/map?path=', 400, /empty/],
    ['/api/map?path=profile/profile.csv', 400, /\.npy/],
    ['/api/map?path=maps/nope.npy', 404, /does not exist/],
    ['/api/index?refresh=1', 400, /unknown query parameter/],
    ['/api/fisher?dir=maps', 404, /ellipses/],
    ['/nope', 404, /no such route/],
  ];
  for (const [path, status, re] of cases) {
    const r = await get(path);
    assert.equal(r.status, status, `${path}: ${r.body}`);
    assert.match(JSON.parse(r.body).error, re, path);
  }
  const post = await get('/api/index', { method: 'POST' });
  assert.equal(post.status, 405);
  const rebinding = await get('/api/index', { host: 'evil.example:80' });
  assert.equal(rebinding.status, 403);
  assert.match(JSON.parse(rebinding.body).error, /loopback/);
});

test('the app page and its script are served', async () => {
  const page = await get('/');
  assert.equal(page.status, 200);
  assert.match(page.body, /<script src="app.js"><\/script>/);
  const js = await get('/app.js');
  assert.equal(js.status, 200);
  assert.ok(js.body.length > 1000);
});

test('static report: one file, all data inlined, no network references, script-safe', async () => {
  const r = await buildReport(root);
  assert.equal(r.maps, 2);
  assert.equal(r.fisher, 1);
  assert.ok(!/(src|href)="(https?:)?\/\//.test(r.html), 'no external resources');
  assert.ok(!/<script src=/.test(r.html), 'no external scripts');
  assert.ok(!/<link /.test(r.html), 'no external stylesheets');
  // The text containing '</script>' must not end the data tag early: the tag parses back to the same texts.
  const m = /<script type="application\/json" id="atlas-data">([^<]*)<\/script>/.exec(r.html);
  assert.ok(m, 'data tag present and free of raw "<"');
  const data = JSON.parse(m[1]);
  assert.deepEqual(data.maps['maps/map-layer1-pca.npy'].texts, fx.texts);
  assert.deepEqual(data.fisher.fisher.edges, fx.edges);
  assert.match(data.files['profile/profile-id.svg'], /^data:image\/svg\+xml;base64,/);
  assert.match(data.files['profile/profile.csv'], /^layer,twonn_id/);
});

test('path checks are purely textual before touching the disk', () => {
  for (const bad of ['..', 'a/../b', './a', '/abs', 'C:/x', 'a\\b', 'a//b', 'a\0b', '']) assert.throws(() => checkRelativePath(bad), HttpError, bad);
  assert.deepEqual(checkRelativePath('maps/x.npy'), ['maps', 'x.npy']);
  assert.deepEqual(checkRelativePath('a..b/c'), ['a..b', 'c']);
});

test('serve validates its flags', async () => {
  await assert.rejects(serveCommand.run([root, '--port', 'abc']), /--port must be an integer/);
  await assert.rejects(serveCommand.run([root, '--port', '70000']), /--port must be ≤ 65535/);
  await assert.rejects(serveCommand.run([join(dir, 'missing'), '--port', '0']), /output folder not found/);
  await assert.rejects(serveCommand.run([root, '--host', 'a b']), /--host/);
});
