/**
 * The Layers tab (web/src/explorer.ts) over a layers bundle written by writeLayerBundle from synthetic
 * activations (3 layers, 80 points in 12 dimensions, a 'score' column), in headless Chromium:
 * - the slider changes the layer and the points move (screen positions before/after differ);
 * - search highlights exactly the texts containing the substring, with the count shown;
 * - clicking a point lists exactly its k nearest neighbours in the ORIGINAL space of that layer, checked
 *   against a brute-force float64 search written here;
 * - colouring by a numeric column changes the picture;
 * - a profile row and a compare.json cell move the slider to their layer.
 * Also:
 * the server refuses a bundle whose knn.npy disagrees with the manifest. A screenshot goes to the temp folder.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../src/app/server.ts';
import { writeLayerBundle, LAYER_BUNDLE } from '../src/geometry/layer-bundle.ts';
import { writeNpy } from '../src/data/npy.ts';
import { Rng } from '../src/geometry/rng.ts';
import { layersPayload } from '../src/app/layers-payload.ts';
import { buildReport } from '../src/app/report.ts';
import { launchChromium, CHROMIUM } from '../scripts/chromium.ts';

const hasChromium = existsSync(CHROMIUM);
const skip = hasChromium ? false : `${CHROMIUM} not found: install Debian's chromium to run the browser tests`;

const N = 80, D = 12, LAYERS = [0, 3, 6], K = 10;
const CLASSES = ['cat', 'dog', 'fish', 'bird'];
let dir: string;
let xs: Float64Array[];
let browser: BrowserContext;
let app: RunningServer;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-explorer-'));
  const rng = new Rng(11);
  const labels = Array.from({ length: N }, (_, i) => i % CLASSES.length);
  // Each layer: class centres that drift and rotate, plus noise, so the layers differ.
  xs = LAYERS.map((_, l) => {
    const x = new Float64Array(N * D);
    for (let i = 0; i < N; i++) for (let j = 0; j < D; j++) x[i * D + j] = (j === (labels[i] + l) % D ? 3 + l : 0) + (j === D - 1 ? i / N : 0) + rng.normal();
    return x;
  });
  await writeLayerBundle(join(dir, 'run', 'layers-pca'), {
    title: 'synthetic layers', method: 'pca', layers: LAYERS, xs: xs.map((data) => ({ rows: N, cols: D, data })), k: K,
    texts: labels.map((c, i) => `text ${i} about a ${CLASSES[c]}`), labels, classNames: CLASSES,
    columns: { score: Array.from({ length: N }, (_, i) => i * 0.5), kind: labels.map((c) => (c % 2 ? 'odd' : 'even')) },
  });
  // A profile and a layer × layer matrix, linked to the slider.
  mkdirSync(join(dir, 'run', 'profile'), { recursive: true });
  writeFileSync(join(dir, 'run', 'profile', 'profile.json'), JSON.stringify({ layers: LAYERS.map((layer, i) => ({ layer, n: N, twonnId: 5 + i, labelOverlap: 0.3 + 0.1 * i })) }));
  mkdirSync(join(dir, 'run', 'compare'), { recursive: true });
  writeFileSync(join(dir, 'run', 'compare', 'compare.json'), JSON.stringify({ layersA: LAYERS, layersB: LAYERS, measures: ['cka'], matrices: { cka: LAYERS.map((a) => LAYERS.map((b) => (a === b ? 1 : 0.5))) } }));
  if (!hasChromium) return;
  browser = await launchChromium(join(dir, 'profile'));
  app = await startServer({ root: join(dir, 'run'), port: 0 });
});

after(async () => {
  await browser?.close();
  await app?.close();
  rmSync(join(dir, 'profile'), { recursive: true, force: true });
  console.log(`# explorer screenshots: ${dir}`);
});

/** Brute force, float64, ties by lower index: the k nearest of point q in layer l (self excluded). */
function bruteKnn(l: number, q: number): number[] {
  const x = xs[l];
  const d = Array.from({ length: N }, (_, j) => {
    let s = 0;
    for (let a = 0; a < D; a++) s += (x[q * D + a] - x[j * D + a]) ** 2;
    return [s, j] as const;
  }).filter(([, j]) => j !== q);
  d.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return d.slice(0, K).map(([, j]) => j);
}

test('stored neighbours equal a brute-force search in the original space', () => {
  const p = layersPayload(join(dir, 'run'), 'layers-pca');
  assert.deepEqual(p.layers, LAYERS);
  for (let l = 0; l < LAYERS.length; l++) for (const q of [0, 17, 79]) assert.deepEqual(p.knn.slice((l * N + q) * K, (l * N + q + 1) * K), bruteKnn(l, q), `layer ${l}, point ${q}`);
  assert.equal(typeof p.columns.score[0], 'number');
});

test('a knn.npy that disagrees with the manifest is refused', async () => {
  const bad = join(dir, 'bad');
  await writeLayerBundle(join(bad, 'b'), { title: 'b', method: 'pca', layers: [0], xs: [{ rows: N, cols: D, data: xs[0] }], texts: [], labels: [], classNames: [], k: 3 });
  writeNpy(join(bad, 'b', LAYER_BUNDLE.knn), new Int32Array(N * 2), [1, N, 2]);
  assert.throws(() => layersPayload(bad, 'b'), /knn\.npy' must be int32 of shape \(1, 80, 3\)/);
});

async function open(): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${app.url}?view=layers`);
  await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
  await page.waitForSelector('#layers-plot[data-layer="0"]');
  assert.deepEqual(errors, []);
  return page;
}

const positions = (page: Page) => page.evaluate((n) => Array.from({ length: n }, (_, i) => (window as any).atlas.layers.screenPosition(i) as [number, number]), N);

test('explorer: slider moves the points, search highlights, click lists the offline neighbours, numeric colouring', { skip }, async () => {
  const page = await open();
  assert.equal(await page.locator('#tab-layers').isVisible(), true);
  const before = await positions(page);
  await page.locator('#layers-slider').fill('1');
  await page.waitForSelector('#layers-plot[data-layer="3"]:not([data-animating])');
  const after = await positions(page);
  const moved = before.filter(([x, y], i) => Math.hypot(x - after[i][0], y - after[i][1]) > 2).length;
  assert.ok(moved > N / 2, `most points move between layers, ${moved} did`);

  // Search: 'dog' matches the texts of class 1.
  await page.fill('#layers-search', 'dog');
  const expected = Array.from({ length: N }, (_, i) => i).filter((i) => i % 4 === 1).length;
  assert.equal((await page.locator('#layers-search-count').textContent())!.trim(), `${expected} matches`);
  assert.equal(await page.locator('#layers-plot').getAttribute('data-highlight'), String(expected));
  await page.fill('#layers-search', '');

  // Click a point that stands alone on screen, at layer index 1 (layer 3).
  // The most isolated point on screen (largest distance to its nearest other point), so the click is unambiguous.
  // Read once the redraw after clearing the search has settled (a loaded machine can catch a frame mid-layout).
  let pos = await positions(page);
  let isolation: number[] = [];
  for (const t0 = Date.now(); ; await page.waitForTimeout(100)) {
    pos = await positions(page);
    isolation = pos.map(([x, y], i) => Math.min(...pos.map(([u, v], j) => (j === i ? Infinity : Math.hypot(u - x, v - y)))));
    if (Math.max(...isolation) > 6 || Date.now() - t0 > 5000) break;
  }
  const alone = isolation.indexOf(Math.max(...isolation));
  assert.ok(isolation[alone] > 6, `some point stands alone (most isolated: ${isolation[alone].toFixed(1)} px from its nearest)`);
  await page.mouse.click(pos[alone][0], pos[alone][1]);
  await page.waitForSelector(`#layers-plot[data-point="${alone}"]`);
  const listed = (await page.locator('#layers-neighbours li').evaluateAll((li) => li.map((e) => Number(e.getAttribute('data-index')))));
  assert.deepEqual(listed, bruteKnn(1, alone));
  assert.equal(await page.locator('#layers-plot').getAttribute('data-highlight'), String(K + 1));
  // Moving to another layer keeps the point and lists that layer's neighbours.
  await page.locator('#layers-slider').fill('2');
  await page.waitForSelector('#layers-plot[data-layer="6"]:not([data-animating])');
  assert.deepEqual(await page.locator('#layers-neighbours li').evaluateAll((li) => li.map((e) => Number(e.getAttribute('data-index')))), bruteKnn(2, alone));
  await page.screenshot({ path: join(dir, 'explorer.png') });

  // Colour by the numeric column: the plot's pixels change.
  const byLabel = await page.locator('#layers-plot canvas').screenshot();
  await page.selectOption('#layers-colour', 'score');
  await page.waitForSelector('#layers-plot[data-colour="score"]');
  const byScore = await page.locator('#layers-plot canvas').screenshot();
  assert.ok(!byLabel.equals(byScore), 'colouring by a numeric column changes the picture');
  assert.match((await page.locator('#layers-legend').textContent())!, /0\.00.*\(low\).*39\.5 \(high\)/);

  // Linked views: a profile row and a similarity cell move the slider to their layer.
  assert.deepEqual(await page.locator('#layers-links th').allTextContents(), ['layer', 'twonnId', 'labelOverlap']);
  await page.click('#layers-links tr[data-layer="0"]');
  await page.waitForSelector('#layers-plot[data-layer="0"]:not([data-animating])');
  assert.equal(await page.locator('.cmp-cell').count(), LAYERS.length ** 2);
  await page.click('.cmp-cell[data-layer="3"] >> nth=0');
  await page.waitForSelector('#layers-plot[data-layer="3"]:not([data-animating])');
  assert.equal(await page.locator('#layers-slider').inputValue(), '1');
  await page.close();
});

test('the static report carries the bundle: the Layers tab works from disk with the network blocked', { skip }, async () => {
  const r = await buildReport(join(dir, 'run'));
  const file = join(dir, 'report.html');
  writeFileSync(file, r.html);
  const page = await browser.newPage();
  const requests: string[] = [];
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.route(/^(https?|wss?):/, (route) => { requests.push(route.request().url()); return route.abort(); });
  await page.goto(`file://${file}`);
  await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
  await page.click('nav button[data-tab=layers]');
  await page.waitForSelector('#layers-plot[data-layer="0"]');
  assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent() ?? '');
  await page.click('#layers-links tr[data-layer="6"]');
  await page.waitForSelector('#layers-plot[data-layer="6"]:not([data-animating])');
  assert.deepEqual(errors, []);
  assert.deepEqual(requests, []);
  await page.close();
});

test('/api/layers validates its parameter: traversal, unknown names and missing bundles are refused', async () => {
  const s = await startServer({ root: join(dir, 'run'), port: 0 });
  try {
    const get = async (q: string) => { const r = await fetch(`${s.url}api/layers${q}`); return [r.status, await r.json()] as const; };
    assert.equal((await get('?dir=layers-pca'))[0], 200);
    assert.equal((await get('?dir=..%2F..'))[0], 403);
    assert.equal((await get('?dir=%2Fetc'))[0], 403);
    assert.equal((await get('?dir=profile'))[0], 404);
    assert.equal((await get('?dir=layers-pca&x=1'))[0], 400);
    assert.equal((await get(''))[0], 400);
    const idx = await (await fetch(`${s.url}api/index`)).json();
    assert.deepEqual(idx.layerBundles.map((b: { dir: string }) => b.dir), ['layers-pca']);
    assert.deepEqual(idx.compares.map((c: { path: string }) => c.path), ['compare/compare.json']);
  } finally {
    await s.close();
  }
});
