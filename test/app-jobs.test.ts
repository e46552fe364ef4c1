/**
 * Background jobs of the app (src/app/jobs.ts, web/src/jobs.ts) on a Fisher run of a tiny generated checkpoint:
 * - in headless Chromium, changing k in the Fisher tab recomputes the run (metrics and t-SNE from the step cache,
 *   graphs onward recomputed) and the view reloads with exactly the edge count of the new k: the library's
 *   fisherGraphs offline and a brute-force float64 symmetric k-NN count written here;
 * - a cross-origin POST from another loopback origin's page is refused with 403, and so are requests without
 *   the token, with a foreign Origin or Host; bad parameters get a one-line JSON error;
 * - cancelling a running new-run job from the page kills its process (state 'cancelled') and publishes nothing.
 * Skipped, with a message, when Chromium is absent.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { loadModel } from '../src/model/load.ts';
import { loadDataset } from '../src/data/dataset.ts';
import { ParamStore } from '../src/params/param-store.ts';
import { runFisherPipeline, type FisherPipelineResult } from '../src/fisher/pipeline.ts';
import { fisherGraphs } from '../src/fisher/graph.ts';
import { readNpy } from '../src/data/npy.ts';
import { startServer, type RunningServer } from '../src/app/server.ts';
import { launchChromium, CHROMIUM } from '../scripts/chromium.ts';

const hasChromium = existsSync(CHROMIUM);
const skip = hasChromium ? false : `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser tests`;
if (!hasChromium) console.log(`# SKIP app jobs tests: ${skip}`);

const WORDS = { a: ['the cat sat', 'a dog ran', 'my bird sang', 'the fish swam', 'a cow ate', 'the fox hid', 'our pig slept', 'a hen laid'], b: ['one two three', 'four five six', 'seven eight', 'nine ten', 'eleven twelve', 'two four six', 'three five', 'eight nine ten'] };

let dir: string;
let root: string;
let modelDir: string;
let run: FisherPipelineResult;
let app: RunningServer;
let foreign: Server;
let foreignUrl: string;
let browser: BrowserContext;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-jobs-'));
  root = join(dir, 'root');
  modelDir = join(dir, 'model');
  writeTinyCheckpoint(modelDir, { architecture: 'gpt2', nLayer: 2, dModel: 16, nHead: 2, seed: 7, std: 0.2 });
  writeFileSync(join(dir, 'data.csv'), ['text,label', ...Object.entries(WORDS).flatMap(([l, ts]) => ts.map((t) => `${t},${l}`))].join('\n') + '\n');
  // A big dataset for the cancelled job: far more texts than it gets to before the cancel.
  writeFileSync(join(dir, 'big.csv'), ['text,label', ...Array.from({ length: 20000 }, (_, i) => `text number ${i} ${WORDS.a[i % 8]},${i % 2 ? 'a' : 'b'}`)].join('\n') + '\n');
  const launching = hasChromium ? launchChromium(join(dir, 'profile')) : null;
  const model = await loadModel(modelDir, { threads: 1 });
  try {
    const dataset = await loadDataset(join(dir, 'data.csv'));
    run = await runFisherPipeline(ParamStore.fromCheckpoint(model.checkpoint), model.tokenizer, model.key, dataset, { out: root, k: 4, png: false, perplexity: 4 });
  } finally {
    await model.release();
  }
  app = await startServer({ root, port: 0, jobPng: false });
  foreign = createServer((_req, res) => { res.writeHead(200, { 'Content-Type': 'text/html' }); res.end('<!DOCTYPE html><title>another site</title><p>another origin</p>'); });
  await new Promise<void>((r) => foreign.listen(0, '127.0.0.1', () => r()));
  foreignUrl = `http://127.0.0.1:${(foreign.address() as { port: number }).port}/`;
  if (launching) browser = await launching;
});

after(async () => {
  await browser?.close();
  await app?.close();
  foreign?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Undirected edges (i < j) of a CSR graph. */
function edgeCount(g: { n: number; indptr: Int32Array; indices: Int32Array }): number {
  let m = 0;
  for (let i = 0; i < g.n; i++) for (let o = g.indptr[i]; o < g.indptr[i + 1]; o++) if (g.indices[o] > i) m++;
  return m;
}

/** Pairs {i, j} with j among i's k nearest (float64 Euclidean, brute force) or i among j's. */
function bruteForceKnnEdges(p: { rows: number; cols: number; data: ArrayLike<number> }, k: number): number {
  const n = p.rows, pairs = new Set<number>();
  for (let i = 0; i < n; i++) {
    const d: [number, number][] = [];
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      let s = 0;
      for (let a = 0; a < p.cols; a++) s += (p.data[i * p.cols + a] - p.data[j * p.cols + a]) ** 2;
      d.push([s, j]);
    }
    d.sort((x, y) => x[0] - y[0]);
    for (const [, j] of d.slice(0, k)) pairs.add(Math.min(i, j) * n + Math.max(i, j));
  }
  return pairs.size;
}

async function open(url: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
  assert.deepEqual(errors, []);
  return page;
}

const jobs = async () => (await (await fetch(new URL('api/jobs', app.url))).json()).jobs as { id: string; state: string; kind: string; pid?: number; message: string; cached: string[]; dir: string }[];

/** A raw POST (headers exactly as given). */
function post(path: string, body: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  const u = new URL(app.url);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'POST', headers: { 'Content-Length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

test('changing k in the page recomputes the graphs onward; the view shows the new k\'s edges', { skip }, async () => {
  const k0 = 4, k1 = 7;
  const expected0 = edgeCount((await fisherGraphs(run.points, run.store, { k: k0 })).fisher);
  const expected1 = edgeCount((await fisherGraphs(run.points, run.store, { k: k1 })).fisher);
  assert.equal(expected0, bruteForceKnnEdges(run.points, k0));
  assert.equal(expected1, bruteForceKnnEdges(run.points, k1));
  assert.notEqual(expected1, expected0);
  const page = await open(`${app.url}?view=fisher`);
  assert.equal(Number(await page.locator('#fisher-plot').getAttribute('data-edges')), expected0);
  assert.equal(await page.locator('#job-k').inputValue(), String(k0)); // the run's own k
  await page.fill('#job-k', String(k1));
  await page.click('#job-rerun');
  await page.waitForSelector('#job-status[data-state=done]', { timeout: 60_000 });
  await page.waitForFunction((m) => document.querySelector('#fisher-plot')?.getAttribute('data-edges') === String(m), expected1, { timeout: 10_000 });
  assert.equal(await page.locator('#job-k').inputValue(), String(k1));
  const j = (await jobs()).at(-1)!;
  assert.equal(j.state, 'done');
  assert.deepEqual(j.cached, ['metrics', 'tsne'], 'only the graph step onward is recomputed');
  const cmp = JSON.parse(readFileSync(join(root, 'fisher', 'comparison.json'), 'utf8'));
  assert.equal(cmp.k, k1);
  assert.ok(!existsSync(join(root, '.jobs')), 'the staging folder is gone');
  // A k the run cannot have: one-line JSON error, shown in the page.
  await page.fill('#job-k', '16');
  await page.click('#job-rerun');
  await page.waitForSelector('#job-status[data-state=refused]');
  assert.match((await page.locator('#job-status').textContent())!, /^k must be an integer in \[1, 15\] for 16 texts, got 16/);
  await page.close();
});

test('cross-origin and token-less requests are refused with 403; bad parameters get one-line JSON errors', { skip }, async () => {
  const before = (await jobs()).length;
  // A page of another (loopback) origin posts to the app: a no-cors "simple" request reaches the server, which
  // refuses it (seen on the server: the browser hides an opaque response's status from the page).
  const seen: { origin?: string; status: number }[] = [];
  const listener = (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    if (req.url === '/api/jobs/rerun') res.on('finish', () => seen.push({ origin: req.headers.origin, status: res.statusCode }));
  };
  app.server.on('request', listener);
  const page = await browser.newPage();
  await page.goto(foreignUrl);
  await page.evaluate((u) => fetch(`${u}api/jobs/rerun`, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: JSON.stringify({ dir: 'fisher', k: 5 }) }).then(() => 'sent', () => 'failed'), app.url);
  const t0 = Date.now();
  while (!seen.length && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 50));
  app.server.off('request', listener);
  assert.deepEqual(seen, [{ origin: foreignUrl.slice(0, -1), status: 403 }]);
  await page.close();
  const token = app.jobs!.token;
  const u = new URL(app.url);
  const json = { 'Content-Type': 'application/json' };
  const body = JSON.stringify({ dir: 'fisher', k: 5 });
  const cases: [string, Record<string, string>, number, RegExp][] = [
    ['no token', { ...json, Origin: `http://${u.host}` }, 403, /x-atlas-token/],
    ['wrong token', { ...json, 'X-Atlas-Token': token.replace(/./, (c) => (c === 'a' ? 'b' : 'a')) }, 403, /x-atlas-token/],
    ['foreign Origin with the token', { ...json, 'X-Atlas-Token': token, Origin: foreignUrl.slice(0, -1) }, 403, /cross-origin/],
    ['foreign Host (DNS rebinding)', { ...json, 'X-Atlas-Token': token, Host: `attacker.example:${u.port}` }, 403, /Host/],
    ['cross-site fetch metadata', { ...json, 'X-Atlas-Token': token, 'Sec-Fetch-Site': 'cross-site' }, 403, /cross-site/],
    ['not JSON', { 'Content-Type': 'text/plain', 'X-Atlas-Token': token }, 415, /application\/json/],
  ];
  for (const [what, headers, status, message] of cases) {
    const r = await post('/api/jobs/rerun', body, headers);
    assert.equal(r.status, status, `${what}: ${r.body}`);
    assert.match(JSON.parse(r.body).error, message, what);
  }
  const auth = { ...json, 'X-Atlas-Token': token };
  const bad: [Record<string, unknown>, number, RegExp][] = [
    [{ dir: 'fisher', k: 0 }, 400, /^--k must be an integer ≥ 1, got '0'$/],
    [{ dir: 'fisher', k: 2.5 }, 400, /^--k must be an integer/],
    [{ dir: 'fisher', rule: 'longest' }, 400, /^--rule must be one of mean, /],
    [{ dir: 'fisher', lambda: -1 }, 400, /^--lambda must be a number ≥ 0/],
    [{ dir: 'fisher', colour: 'red' }, 400, /^unknown field 'colour'$/],
    [{ dir: '../fisher' }, 403, /'\.' or '\.\.'/],
    [{ dir: 'nowhere' }, 404, /does not exist/],
  ];
  for (const [b, status, message] of bad) {
    const r = await post('/api/jobs/rerun', JSON.stringify(b), auth);
    assert.equal(r.status, status, r.body);
    assert.ok(!r.body.includes('\n'), 'one line');
    assert.match(JSON.parse(r.body).error, message, r.body);
  }
  const n = await post('/api/jobs/new', JSON.stringify({ model: modelDir, data: 'x.csv', name: '../escape' }), auth);
  assert.equal(n.status, 403, n.body);
  assert.equal((await jobs()).length, before, 'no job was created');
});

test('cancelling a running job from the page kills its process and publishes nothing', { skip }, async () => {
  const page = await open(app.url);
  await page.click('#tab-button-jobs');
  await page.fill('#new-model', modelDir);
  await page.fill('#new-data', join(dir, 'big.csv'));
  await page.fill('#new-name', 'runs/big');
  await page.fill('#new-k', '5');
  await page.click('#new-start');
  const row = page.locator('#jobs-list tr').first();
  // Running and past the start: the metrics step reports texts done.
  await page.waitForFunction(() => /metrics: \d+ \/ 20000 texts/.test(document.querySelector('#jobs-list tr')?.textContent ?? ''), undefined, { timeout: 30_000 });
  const job = (await jobs()).at(-1)!;
  assert.equal(job.state, 'running');
  const pid = job.pid!;
  assert.ok(pid > 0);
  process.kill(pid, 0); // alive
  await row.locator('.job-cancel').click();
  await page.waitForSelector(`#jobs-list tr[data-job="${job.id}"][data-state=cancelled]`);
  // The process is gone (not merely told to stop), and nothing it wrote is published.
  const t0 = Date.now();
  while (Date.now() - t0 < 10_000) {
    try { process.kill(pid, 0); } catch (e) { if ((e as NodeJS.ErrnoException).code === 'ESRCH') break; }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  assert.equal((await jobs()).find((j) => j.id === job.id)!.state, 'cancelled');
  const t1 = Date.now();
  while (existsSync(join(root, '.jobs')) && Date.now() - t1 < 5000) await new Promise((r) => setTimeout(r, 50));
  assert.ok(!existsSync(join(root, 'runs')), 'no output folder of the cancelled run');
  assert.ok(!existsSync(join(root, '.jobs')), 'its staging folder is removed');
  assert.deepEqual(readdirSync(root).sort(), ['cache', 'embeddings', 'fisher', 'geodesics', 'graphs', 'metrics', 'metrics_2d']);
  await page.close();
});

test('a new run started as a job is published as a whole folder, and shows up in the index; jobs off in a read-only server', { skip }, async () => {
  const auth = { 'Content-Type': 'application/json', 'X-Atlas-Token': app.jobs!.token };
  const r = await post('/api/jobs/new', JSON.stringify({ model: modelDir, data: join(dir, 'data.csv'), numSamples: 6, name: 'runs/small', k: 3 }), auth);
  assert.equal(r.status, 202, r.body);
  const id = JSON.parse(r.body).id as string;
  const t0 = Date.now();
  let j = (await jobs()).find((x) => x.id === id)!;
  while ((j.state === 'queued' || j.state === 'running') && Date.now() - t0 < 60_000) {
    await new Promise((res) => setTimeout(res, 100));
    // Look at the folder BEFORE asking for the state: the server publishes and marks the job done in one tick,
    // so a folder seen before a 'running' answer really was published while the job ran.
    const publishedBefore = existsSync(join(root, 'runs'));
    j = (await jobs()).find((x) => x.id === id)!;
    if (j.state === 'queued' || j.state === 'running') assert.ok(!publishedBefore, 'nothing is published while the job runs');
  }
  assert.equal(j.state, 'done', j.message);
  assert.equal(j.dir, 'runs/small/fisher');
  const index = await (await fetch(new URL('api/index', app.url))).json();
  const entry = index.fisher.find((f: { dir: string }) => f.dir === 'runs/small/fisher');
  assert.ok(entry, 'listed');
  assert.equal(entry.n, 12, '6 texts per label, 2 labels');
  const payload = await (await fetch(new URL('api/fisher?dir=runs/small/fisher', app.url))).json();
  assert.equal(payload.comparison.k, 3);
  assert.equal(payload.edges.length / 2, bruteForceKnnEdges(readNpyPoints(join(root, 'runs', 'small', 'embeddings', 'eta.npy')), 3));
  // The same name again: refused, the run is not overwritten.
  const again = await post('/api/jobs/new', JSON.stringify({ model: modelDir, data: join(dir, 'data.csv'), name: 'runs/small' }), auth);
  assert.equal(again.status, 409, again.body);
  // Jobs off (serve --read-only): every job route answers 403.
  const ro = await startServer({ root, port: 0, jobs: false });
  try {
    const html = await (await fetch(ro.url)).text();
    assert.ok(!html.includes('atlas-token'), 'no token in a read-only page');
    const res = await fetch(new URL('api/jobs/rerun', ro.url), { method: 'POST', headers: auth, body: '{}' });
    assert.equal(res.status, 403);
    assert.match((await res.json()).error, /jobs are off/);
  } finally {
    await ro.close();
  }
});

function readNpyPoints(path: string) {
  const a = readNpy(path);
  return { rows: a.shape[0], cols: a.shape[1], data: a.data };
}
