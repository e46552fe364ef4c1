/**
 * End-to-end tests of the app in headless Chromium (Debian's /usr/bin/chromium, driven by playwright-core;
 * .ci/run installs it). Skipped, with a message, when Chromium is absent.
 * - a real run (`latent-atlas demo --quick`): the scatter draws one point per text, hovering a point shows its
 *   text, switching layer loads that layer's map;
 * - a synthetic folder with 20,000 points and a Fisher output: all points drawn, ellipses and edges toggle
 *   the drawn layers (and the picture), box selection lists the selected texts;
 * - the static report opens from disk with every network request blocked.
 * Screenshots go to a temp folder (printed) as test artifacts.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../src/app/server.ts';
import { buildReport } from '../src/app/report.ts';
import { writeFixture, type Fixture } from './app-fixture.ts';
import { launchChromium, CHROMIUM } from '../scripts/chromium.ts';
import { CLI_ARGS } from './cli-entry.ts';

const hasChromium = existsSync(CHROMIUM);
const skip = hasChromium ? false : `${CHROMIUM} not found: install Debian's chromium (apt-get install chromium) to run the browser tests`;
if (!hasChromium) console.log(`# SKIP app browser tests: ${skip}`);

let dir: string;
let artifacts: string;
let browser: BrowserContext;
let demo: RunningServer;
let synth: RunningServer;
let fx: Fixture;
let demoRoot: string;
let synthRoot: string;

before(async () => {
  if (!hasChromium) return;
  dir = mkdtempSync(join(tmpdir(), 'atlas-browser-'));
  artifacts = join(dir, 'screenshots');
  mkdirSync(artifacts);
  demoRoot = join(dir, 'demo');
  synthRoot = join(dir, 'synth');
  const env = { ...process.env, LATENT_ATLAS_HOME: join(dir, 'home'), LATENT_ATLAS_CACHE: join(dir, 'cache') };
  const [, b] = await Promise.all([
    promisify(execFile)(process.execPath, [...CLI_ARGS, 'demo', '--quick', '--out', demoRoot], { env, timeout: 300_000 }), // a loaded 2-core CI machine needs minutes for demo --quick
    launchChromium(join(dir, 'profile')),
  ]);
  browser = b;
  mkdirSync(synthRoot);
  fx = writeFixture(synthRoot, { n: 20000, fisherN: 300 });
  demo = await startServer({ root: demoRoot, port: 0 });
  synth = await startServer({ root: synthRoot, port: 0 });
  console.log(`# screenshots: ${artifacts}`);
});

after(async () => {
  await browser?.close();
  await demo?.close();
  await synth?.close();
  // Screenshots stay (test artifacts); the rest goes.
  if (dir) for (const d of ['demo', 'synth', 'home', 'cache', 'profile']) rmSync(join(dir, d), { recursive: true, force: true });
});

async function open(url: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
  assert.deepEqual(errors, []);
  assert.equal(await page.locator('#error').isHidden(), true, await page.locator('#error').textContent() ?? '');
  return page;
}

const canvasData = (page: Page, host: string) => page.evaluate((h) => ({ ...(document.querySelector(`#${h} canvas`) as HTMLCanvasElement).dataset }), host);
const screenPos = (page: Page, which: 'map' | 'fisher', i: number) =>
  page.evaluate(([w, k]) => (window as any).atlas[w].screenPosition(k) as [number, number], [which, i] as const);

test('demo run: all points drawn, hover shows the text, switching layer reloads', { skip }, async () => {
  const run = JSON.parse(readFileSync(join(demoRoot, 'run.json'), 'utf8'));
  const page = await open(demo.url);
  const shown = await page.locator('#map-plot').getAttribute('data-map');
  const sidecar = JSON.parse(readFileSync(join(demoRoot, shown!.replace(/\.npy$/, '.json')), 'utf8'));
  assert.equal((await canvasData(page, 'map-plot')).renderer, 'webgl');
  assert.equal(Number((await canvasData(page, 'map-plot')).points), run.texts);
  assert.equal(sidecar.texts.length, run.texts);
  // Hover: a point that no other point overlaps, so the nearest point is that one.
  const positions = await page.evaluate((n) => Array.from({ length: n }, (_, i) => (window as any).atlas.map.screenPosition(i)), run.texts);
  const alone = positions.findIndex(([x, y]: number[], i: number) => positions.every(([u, v]: number[], j: number) => j === i || Math.hypot(u - x, v - y) > 10));
  assert.ok(alone >= 0, 'some point stands alone');
  await page.mouse.move(positions[alone][0], positions[alone][1]);
  await page.waitForSelector('#tooltip:not([hidden])');
  assert.equal(await page.locator('#tooltip .tip-text').textContent(), sidecar.texts[alone]);
  assert.equal(await page.locator('#tooltip b').textContent(), sidecar.classNames[sidecar.labels[alone]]);
  await page.screenshot({ path: join(artifacts, 'demo-map-hover.png') });
  // Switch layer: another layer's map is fetched and drawn.
  const layers = await page.locator('#map-layer option').evaluateAll((o) => o.map((x) => (x as HTMLOptionElement).value));
  assert.ok(layers.length >= 2, `demo writes maps of ≥ 2 layers, got ${layers}`);
  const before = await page.locator('#map-plot').getAttribute('data-layer');
  const other = layers.find((l) => l !== before)!;
  await page.selectOption('#map-layer', other);
  await page.waitForFunction((l) => document.querySelector('#map-plot')?.getAttribute('data-layer') === l && !document.querySelector('#map-plot')?.hasAttribute('data-loading'), other);
  const after = await page.locator('#map-plot').getAttribute('data-map');
  assert.notEqual(after, shown);
  assert.match(after!, new RegExp(`layer${other}-`));
  assert.equal(Number((await canvasData(page, 'map-plot')).points), run.texts);
  await page.screenshot({ path: join(artifacts, 'demo-map-other-layer.png') });
  await page.close();
});

test('20,000 points: all drawn; Fisher ellipses and edges toggle the drawn layers; box selection lists texts', { skip }, async () => {
  const page = await open(synth.url);
  assert.equal(Number((await canvasData(page, 'map-plot')).points), 20000);
  // 3D view of the 3-component map.
  await page.selectOption('#map-layer', '2');
  await page.waitForFunction(() => document.querySelector('#map-plot')?.getAttribute('data-layer') === '2' && !document.querySelector('#map-plot')?.hasAttribute('data-loading'));
  await page.selectOption('#map-dim', '3');
  await page.waitForFunction(() => (document.querySelector('#map-plot canvas') as HTMLCanvasElement).dataset.points === '20000');
  await page.screenshot({ path: join(artifacts, 'synthetic-3d.png') });

  await page.click('nav button[data-tab=fisher]');
  await page.waitForFunction(() => (document.querySelector('#fisher-plot canvas') as HTMLCanvasElement)?.dataset.layers === 'edges,ellipses,points');
  const withEllipses = await page.locator('#fisher-plot').screenshot({ path: join(artifacts, 'fisher-ellipses-on.png') });
  await page.click('#fisher-ellipses');
  await page.waitForFunction(() => (document.querySelector('#fisher-plot canvas') as HTMLCanvasElement).dataset.layers === 'edges,points');
  const without = await page.locator('#fisher-plot').screenshot({ path: join(artifacts, 'fisher-ellipses-off.png') });
  assert.ok(!withEllipses.equals(without), 'the picture changes when ellipses are hidden');
  await page.click('#fisher-edges');
  await page.waitForFunction(() => (document.querySelector('#fisher-plot canvas') as HTMLCanvasElement).dataset.layers === 'points');
  assert.equal(Number((await canvasData(page, 'fisher-plot')).points), fx.fisherN);
  // Hover shows the Fisher point's text (from points.json).
  const [x, y] = await screenPos(page, 'fisher', 0);
  await page.mouse.move(x, y);
  await page.waitForSelector('#tooltip:not([hidden])');
  assert.match((await page.locator('#tooltip .tip-text').textContent())!, /^fisher point \d+ /);
  // Box selection (shift-drag) around the right half of the ring.
  const box = (await page.locator('#fisher-plot').boundingBox())!;
  await page.keyboard.down('Shift');
  await page.mouse.move(box.x + box.width * 0.5 + 5, box.y + 5);
  await page.mouse.down();
  await page.mouse.move(box.x + box.width - 5, box.y + box.height - 5, { steps: 4 });
  await page.mouse.up();
  await page.keyboard.up('Shift');
  const count = await page.locator('#fisher-selection .sel-list li').count();
  assert.ok(count > fx.fisherN * 0.3 && count < fx.fisherN * 0.7, `about half the ring selected, got ${count}`);
  const first = await page.locator('#fisher-selection .sel-list li').first().textContent();
  assert.match(first!, /fisher point \d+/);
  await page.close();
});

test('static report opens from disk with the network blocked', { skip }, async () => {
  const r = await buildReport(synthRoot);
  const file = join(dir, 'report.html');
  writeFileSync(file, r.html);
  const page = await browser.newPage();
  const requests: string[] = [];
  await page.route(/^(https?|wss?):/, (route) => { requests.push(route.request().url()); return route.abort(); });
  await page.goto(`file://${file}`);
  await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
  assert.equal(Number((await canvasData(page, 'map-plot')).points), 20000);
  await page.click('nav button[data-tab=plots]');
  assert.equal(await page.locator('#tab-plots figure img').count(), 2);
  await page.click('nav button[data-tab=tables]');
  await page.waitForSelector('#tab-tables table.data');
  assert.deepEqual(requests, []);
  await page.screenshot({ path: join(artifacts, 'report-tables.png') });
  await page.close();
});

test('issue 15.6/15.23: NaN points counted as missing; a good map clears the error of a bad one; hidden labels leave the selection', { skip }, async () => {
  const root = join(dir, 'defects');
  mkdirSync(root);
  const { writeNpy } = await import('../src/data/npy.ts');
  // 40 points on a line, two labels alternating, point 3 with a NaN coordinate.
  const coords = Float32Array.from({ length: 80 }, (_, i) => (i % 2 ? (i >> 1) % 5 : i >> 1));
  coords[6] = NaN;
  const meta = (layer: number) => JSON.stringify({ method: 'pca', layer, labels: Array.from({ length: 40 }, (_, i) => i % 2), classNames: ['even', 'odd'], texts: Array.from({ length: 40 }, (_, i) => `text ${i}`) });
  writeNpy(join(root, 'map-layer1-pca.npy'), coords, [40, 2]);
  writeFileSync(join(root, 'map-layer1-pca.json'), meta(1));
  writeNpy(join(root, 'map-layer2-pca.npy'), coords, [40, 2]);
  writeFileSync(join(root, 'map-layer2-pca.json'), meta(2));
  const { truncateSync } = await import('node:fs');
  truncateSync(join(root, 'map-layer2-pca.npy'), 200); // header intact, data cut: the payload fails
  const app = await startServer({ root, port: 0 });
  const page = await browser.newPage();
  try {
    await page.goto(`${app.url}?map=map-layer2-pca.npy`);
    await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
    assert.equal(await page.locator('#error').isHidden(), false, 'the broken map shows an error');
    await page.selectOption('#map-layer', '1');
    await page.waitForFunction(() => document.querySelector('#map-plot')?.getAttribute('data-layer') === '1' && !document.querySelector('#map-plot')?.hasAttribute('data-loading'));
    assert.equal(await page.locator('#error').isHidden(), true, 'before: the banner stayed over the good map');
    assert.equal(Number((await canvasData(page, 'map-plot')).points), 39, 'the NaN point is not drawn (before: drawn at 0)');
    assert.match((await page.locator('#map-missing').textContent())!, /^1 point not drawn: NaN\/Inf coordinates/);
    // Select everything, then hide 'odd': its texts leave the selection.
    const box = (await page.locator('#map-plot').boundingBox())!;
    await page.keyboard.down('Shift');
    await page.mouse.move(box.x + 2, box.y + 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width - 2, box.y + box.height - 2, { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up('Shift');
    const all = await page.locator('#map-selection .sel-list li').count();
    assert.ok(all >= 30, `selected ${all}`);
    await page.click('#map-legend .legend-item[data-class="1"]');
    const texts = await page.locator('#map-selection .sel-list li').allTextContents();
    assert.ok(texts.length > 0 && texts.every((t) => t.startsWith('even:')), texts.join(' | '));
    await page.screenshot({ path: join(artifacts, 'defects-missing-points.png') });
  } finally {
    await page.close();
    await app.close();
  }
});
