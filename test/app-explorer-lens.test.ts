/**
 * The explorer's per-layer colours and two runs side by side, in headless Chromium:
 * - `map --activations <cache entry> --align` picks up a logit lens written beside the activations
 *   (src/data/lens-files.ts layout, written here with writeNpy) and stores it as per-layer columns: entropy,
 *   top-1 probability and rank equal the lens arrays, top token the decoded id, a layer the lens lacks is null;
 * - colouring by lens entropy changes the rendered pixels, and each point's colour (read from the page's colour
 *   buffer) sits on viridis at the position its entropy takes in the range over ALL layers (inverted by nearest
 *   viridis sample, independent of the app's binning); the colours follow the slider; a layer without lens is grey;
 * - colouring by top token gives equal colours to equal tokens and different colours to different tokens;
 * - side by side (3-layer run A, 5-layer run B over the same texts): the sliders follow by relative depth,
 *   a click in A marks the same text in B and B lists that text's neighbours in B's own space (brute force
 *   here), a search in A highlights the same texts in B; a run with other texts is refused with a message.
 * `serve --activations` on the same cache entry writes byte-identical coords/knn and the same lens columns.
 * Screenshots go to the temp folder printed at the end.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { startServer, type RunningServer } from '../src/app/server.ts';
import { LAYER_BUNDLE, LENS_COLUMNS, writeLayerBundle } from '../src/geometry/layer-bundle.ts';
import { LENS_FILES } from '../src/data/lens-files.ts';
import { writeNpy } from '../src/data/npy.ts';
import { Rng } from '../src/geometry/rng.ts';
import { layersPayload } from '../src/app/layers-payload.ts';
import { colormapRgb } from '../src/plot/colormap.ts';
import { launchChromium, CHROMIUM } from '../scripts/chromium.ts';
import { runCli } from './cli-inprocess.ts';
import { activationsBundle } from '../src/cli/commands/serve.ts';

const hasChromium = existsSync(CHROMIUM);
const skip = hasChromium ? false : `${CHROMIUM} not found: install Debian's chromium to run the browser tests`;

const N = 60, D = 10, K = 10;
const CACHE_LAYERS = [0, 1, 2, 3];
/** The lens covers layers 1..3 only (layer 0 has none: grey). */
const LENS_LAYERS = [1, 2, 3];
const LK = 3;
const CLASSES = ['cat', 'dog', 'fish'];
const TOKENS: Record<string, string> = { 5: ' the', 9: ' cat', 11: ' dog', 42: ' fish', 77: '.' };
const TOKEN_IDS = [5, 9, 11, 42, 77];
let dir: string;
let entropy: Float32Array, topIds: Int32Array, topProbs: Float32Array, rank: Int32Array;
let xsB: Float64Array[];
let browser: BrowserContext;
let app: RunningServer;
const labels = Array.from({ length: N }, (_, i) => i % CLASSES.length);
const texts = labels.map((c, i) => `sentence ${i} on a ${CLASSES[c]}`);
const LB = 5, DB = 8;

function layers(rng: Rng, L: number, d: number, shift: number): Float64Array[] {
  return Array.from({ length: L }, (_, l) => {
    const x = new Float64Array(N * d);
    for (let i = 0; i < N; i++) for (let j = 0; j < d; j++) x[i * d + j] = (j === (labels[i] + l + shift) % d ? 3 + l : 0) + rng.normal();
    return x;
  });
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-lens-'));
  const rng = new Rng(5);
  // A cache entry (meta.json + layer-<L>.npy) with a logit lens beside it.
  const entry = join(dir, 'cache-entry');
  mkdirSync(entry, { recursive: true });
  layers(rng, CACHE_LAYERS.length, D, 0).forEach((x, l) => writeNpy(join(entry, `layer-${CACHE_LAYERS[l]}.npy`), Float32Array.from(x), [N, D]));
  writeFileSync(join(entry, 'meta.json'), JSON.stringify({ model: 'org/tiny-lm', texts, labels, classNames: CLASSES, layers: CACHE_LAYERS }));
  const L = LENS_LAYERS.length;
  entropy = new Float32Array(N * L);
  rank = new Int32Array(N * L);
  topIds = new Int32Array(N * L * LK);
  topProbs = new Float32Array(N * L * LK);
  for (let i = 0; i < N; i++) for (let j = 0; j < L; j++) {
    entropy[i * L + j] = (4 - j) * (0.2 + 0.8 * ((i * 7 + j * 13) % N) / N); // falls with depth, varies by text
    rank[i * L + j] = (i + j) % 4;
    for (let t = 0; t < LK; t++) {
      topIds[(i * L + j) * LK + t] = TOKEN_IDS[(i + j + t) % TOKEN_IDS.length];
      topProbs[(i * L + j) * LK + t] = 0.5 / (t + 1) - 0.001 * (i % 10);
    }
  }
  writeNpy(join(entry, LENS_FILES.entropy), entropy, [N, L]);
  writeNpy(join(entry, LENS_FILES.rank), rank, [N, L]);
  writeNpy(join(entry, LENS_FILES.topIds), topIds, [N, L, LK]);
  writeNpy(join(entry, LENS_FILES.topProbs), topProbs, [N, L, LK]);
  writeFileSync(join(entry, LENS_FILES.meta), JSON.stringify({ version: LENS_FILES.version, layers: LENS_LAYERS, k: LK, position: 'final', tokens: TOKENS }));
  // Run A: the cache entry through `map --align`; run B: 5 layers over the same texts; run C: other texts.
  const r = await runCli(['map', '--activations', entry, '--layers', 'all', '--align', '--out', join(dir, 'study', 'a')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /per-layer colours: lens entropy, lens top token, lens top-1 probability, lens rank of final token/);
  xsB = layers(rng, LB, DB, 1);
  await writeLayerBundle(join(dir, 'study', 'b', 'layers-pca'), { title: 'run B', method: 'pca', layers: [0, 2, 4, 6, 8], xs: xsB.map((data) => ({ rows: N, cols: DB, data })), texts, labels, classNames: CLASSES, k: K });
  await writeLayerBundle(join(dir, 'study', 'c', 'layers-pca'), { title: 'run C', method: 'pca', layers: [0, 1], xs: xsB.slice(0, 2).map((data) => ({ rows: N, cols: DB, data })), texts: texts.map((t, i) => (i === 7 ? 'another text' : t)), labels, classNames: CLASSES, k: K });
  if (!hasChromium) return;
  browser = await launchChromium(join(dir, 'profile'));
  app = await startServer({ root: join(dir, 'study'), port: 0 });
});

after(async () => {
  await browser?.close();
  await app?.close();
  rmSync(join(dir, 'profile'), { recursive: true, force: true });
  console.log(`# explorer lens / side-by-side screenshots: ${dir}`);
});

test('map --align stores the logit lens of the cache entry as per-layer columns', () => {
  const p = layersPayload(join(dir, 'study'), 'a/layers-pca');
  assert.deepEqual(p.layers, CACHE_LAYERS);
  const L = LENS_LAYERS.length;
  const ent = p.layerColumns[LENS_COLUMNS.entropy] as (number | null)[][];
  const tok = p.layerColumns[LENS_COLUMNS.topToken] as (string | null)[][];
  const prob = p.layerColumns[LENS_COLUMNS.topProb] as (number | null)[][];
  const rk = p.layerColumns[LENS_COLUMNS.rank] as (number | null)[][];
  assert.ok(ent[0].every((v) => v === null) && tok[0].every((v) => v === null), 'layer 0 has no lens');
  for (let b = 1; b < CACHE_LAYERS.length; b++) {
    const j = LENS_LAYERS.indexOf(CACHE_LAYERS[b]);
    for (let i = 0; i < N; i++) {
      assert.equal(ent[b][i], entropy[i * L + j]);
      assert.equal(prob[b][i], topProbs[(i * L + j) * LK]);
      assert.equal(rk[b][i], rank[i * L + j]);
      assert.equal(tok[b][i], TOKENS[topIds[(i * L + j) * LK]]);
    }
  }
});

test('serve --activations on the cache entry builds the same bundle as map --align (coords, neighbours, lens columns)', async () => {
  const b = await activationsBundle(join(dir, 'served'), { activations: join(dir, 'cache-entry') });
  assert.equal(b.cached, false);
  const a = join(dir, 'study', 'a', 'layers-pca');
  for (const f of [LAYER_BUNDLE.coords, LAYER_BUNDLE.knn]) assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b.dir, f))), f);
  assert.deepEqual(layersPayload(join(dir, 'served'), 'layers-pca').layerColumns, layersPayload(join(dir, 'study'), 'a/layers-pca').layerColumns);
});

test('a lens whose arrays disagree with lens.json is left out with a warning; the bundle is still written', async () => {
  const entry = join(dir, 'bad-entry');
  mkdirSync(entry, { recursive: true });
  for (const l of [0, 1]) writeNpy(join(entry, `layer-${l}.npy`), new Float32Array(N * 4).map((_, k) => Math.sin(k * (l + 1))), [N, 4]);
  writeFileSync(join(entry, 'meta.json'), JSON.stringify({ model: 'm', texts, labels, classNames: CLASSES }));
  writeNpy(join(entry, LENS_FILES.entropy), new Float32Array(N * 3), [N, 3]);
  writeFileSync(join(entry, LENS_FILES.meta), JSON.stringify({ version: 1, layers: [0, 1], k: 1, position: 'final', tokens: {} }));
  const r = await runCli(['map', '--activations', entry, '--layers', 'all', '--align', '--out', join(dir, 'bad-out')]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: logit lens left out of the layers bundle: .*lens-entropy\.npy.*shape \(60, 2\).*got <f4 \(60, 3\)/);
  assert.deepEqual(layersPayload(join(dir, 'bad-out'), 'layers-pca').layerColumns, {});
});

test('bundles without per-layer columns read as before; layer-columns.json merges, wrong shapes are noted', async () => {
  const root = join(dir, 'study');
  const b = layersPayload(root, 'b/layers-pca');
  assert.deepEqual(b.layerColumns, {});
  assert.equal(JSON.parse(readFileSync(join(root, 'b', 'layers-pca', LAYER_BUNDLE.manifest), 'utf8')).layerColumns, undefined, 'no field written when there are none');
  const c = join(root, 'c', 'layers-pca');
  writeFileSync(join(c, LAYER_BUNDLE.layerColumns), JSON.stringify({ score: [texts.map((_, i) => i), texts.map(() => null)], short: [[1, 2]], mixed: [texts.map(() => 1), texts.map(() => 'x')] }));
  const p = layersPayload(root, 'c/layers-pca');
  assert.deepEqual(Object.keys(p.layerColumns), ['score']);
  assert.equal((p.layerColumns.score as number[][])[0][5], 5);
  assert.ok(p.notes.some((n) => /'short' ignored \(needs 2 arrays of 60 values\)/.test(n)), p.notes.join('; '));
  assert.ok(p.notes.some((n) => /'mixed' ignored \(mixes numbers and strings\)/.test(n)), p.notes.join('; '));
  rmSync(join(c, LAYER_BUNDLE.layerColumns));
  await assert.rejects(writeLayerBundle(join(dir, 'x'), { title: 'x', method: 'pca', layers: [0], xs: [{ rows: N, cols: DB, data: xsB[0] }], texts, labels, classNames: CLASSES, layerColumns: { e: [[1]] } }), /per-layer column 'e' must hold 1 arrays of 60 values/);
});

async function open(query: string): Promise<Page> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(`${app.url}?view=layers&${query}`);
  await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
  await page.waitForSelector('#layers-plot[data-layer]');
  assert.deepEqual(errors, []);
  return page;
}

/** Viridis sampled finely; a colour's position on it by nearest sample (independent of the app's 64 bins). */
const VIRIDIS = Array.from({ length: 1001 }, (_, k) => colormapRgb('viridis', k / 1000).map((c) => c / 255));
const viridisT = ([r, g, b]: number[]) => {
  let best = 0, bd = Infinity;
  VIRIDIS.forEach(([u, v, w], k) => { const d = (u - r) ** 2 + (v - g) ** 2 + (w - b) ** 2; if (d < bd) { bd = d; best = k; } });
  return { t: best / 1000, d: Math.sqrt(bd) };
};
const colours = (page: Page) => page.evaluate(() => (window as any).atlas.explorer.pointColours() as number[][]);

test('colour by logit-lens entropy: pixels change, colours follow the entropy over all layers and follow the slider', { skip }, async () => {
  const page = await open('layers=a/layers-pca');
  const options = await page.locator('#layers-colour option').evaluateAll((o) => o.map((e) => (e as HTMLOptionElement).value));
  assert.ok(options.includes(LENS_COLUMNS.entropy) && options.includes(LENS_COLUMNS.topToken), options.join());
  await page.locator('#layers-slider').fill('1');
  await page.waitForSelector('#layers-plot[data-layer="1"]:not([data-animating])');
  const byLabel = await page.locator('#layers-plot canvas').screenshot();
  await page.selectOption('#layers-colour', LENS_COLUMNS.entropy);
  await page.waitForSelector(`#layers-plot[data-colour="${LENS_COLUMNS.entropy}"]`);
  const byEntropy = await page.locator('#layers-plot canvas').screenshot();
  assert.ok(!byLabel.equals(byEntropy), 'colouring by lens entropy changes the picture');
  await page.screenshot({ path: join(dir, 'lens-entropy.png') });
  const L = LENS_LAYERS.length;
  const lo = Math.min(...entropy), hi = Math.max(...entropy);
  const check = async (j: number) => {
    const c = await colours(page);
    assert.equal(c.length, N);
    for (let i = 0; i < N; i++) {
      const { t, d } = viridisT(c[i]);
      assert.ok(d < 0.02, `point ${i}: colour ${c[i]} is on viridis`);
      const want = (entropy[i * L + j] - lo) / (hi - lo);
      assert.ok(Math.abs(t - want) <= 1 / 64 + 0.002, `point ${i} at lens layer ${LENS_LAYERS[j]}: viridis position ${t}, entropy at ${want.toFixed(3)} of the range`);
    }
  };
  await check(0);
  await page.locator('#layers-slider').fill('3');
  await page.waitForSelector('#layers-plot[data-layer="3"]:not([data-animating])');
  await check(2);
  // Layer 0 has no lens: every point grey.
  await page.locator('#layers-slider').fill('0');
  await page.waitForSelector('#layers-plot[data-layer="0"]:not([data-animating])');
  assert.ok((await colours(page)).every((c) => c.every((v) => Math.abs(v - 0.45) < 1e-6)), 'no lens at layer 0: grey');

  // Top token: equal tokens equal colours, different tokens different colours.
  await page.locator('#layers-slider').fill('2');
  await page.waitForSelector('#layers-plot[data-layer="2"]:not([data-animating])');
  await page.selectOption('#layers-colour', LENS_COLUMNS.topToken);
  const ct = await colours(page);
  const j = LENS_LAYERS.indexOf(2);
  for (let a = 0; a < N; a += 3) for (let b = a + 1; b < N; b += 5) {
    const same = topIds[(a * L + j) * LK] === topIds[(b * L + j) * LK];
    assert.equal(ct[a].join() === ct[b].join(), same, `points ${a}, ${b}`);
  }
  assert.match((await page.locator('#layers-legend').textContent())!, /at layer 2.*cat.*dog.*fish.*the/);
  await page.close();
});

/** Brute force, float64, ties by lower index: the k nearest of point q in run B's layer l (self excluded). */
function bruteKnnB(l: number, q: number): number[] {
  const x = xsB[l];
  const d = Array.from({ length: N }, (_, j) => {
    let s = 0;
    for (let a = 0; a < DB; a++) s += (x[q * DB + a] - x[j * DB + a]) ** 2;
    return [s, j] as const;
  }).filter(([, j]) => j !== q);
  d.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return d.slice(0, K).map(([, j]) => j);
}

test('side by side: linked slider by relative depth, a click in one run marks the same text in the other, search links, other texts refused', { skip }, async () => {
  const page = await open('layers=a/layers-pca&beside=b/layers-pca');
  await page.waitForSelector('#layers-b-plot[data-layer="0"]');
  assert.equal(await page.locator('#layers-pane-b').isVisible(), true);
  // A has 4 layers, B 5: A's index 2 (2/3 of the depth) ↔ B's index round(2/3·4) = 3 (layer 6).
  await page.locator('#layers-slider').fill('2');
  await page.waitForSelector('#layers-b-plot[data-layer="6"]:not([data-animating])');
  await page.waitForSelector('#layers-plot[data-layer="2"]:not([data-animating])');
  // And back: B's index 4 (the last) ↔ A's index 3 (the last).
  await page.locator('#layers-b-slider').fill('4');
  await page.waitForSelector('#layers-plot[data-layer="3"]:not([data-animating])');
  await page.waitForSelector('#layers-b-plot[data-layer="8"]:not([data-animating])');

  // Click a point that stands alone in A.
  const pos = await page.evaluate((n) => Array.from({ length: n }, (_, i) => (window as any).atlas.layers.screenPosition(i) as [number, number]), N);
  const alone = pos.findIndex(([x, y], i) => pos.every(([u, v], j) => j === i || Math.hypot(u - x, v - y) > 10));
  assert.ok(alone >= 0, 'some point stands alone');
  await page.mouse.click(pos[alone][0], pos[alone][1]);
  await page.waitForSelector(`#layers-plot[data-point="${alone}"]`);
  await page.waitForSelector(`#layers-b-plot[data-point="${alone}"]`);
  const listedB = await page.locator('#layers-b-neighbours li').evaluateAll((li) => li.map((e) => Number(e.getAttribute('data-index'))));
  assert.deepEqual(listedB, bruteKnnB(4, alone), 'B lists the clicked text\'s neighbours in its own space');
  assert.equal(await page.locator('#layers-b-plot').getAttribute('data-highlight'), String(K + 1));
  const listedA = await page.locator('#layers-neighbours li').evaluateAll((li) => li.map((e) => Number(e.getAttribute('data-index'))));
  const shared = listedA.filter((j) => listedB.includes(j)).length;
  assert.equal(await page.locator('#layers-shared').getAttribute('data-shared'), String(shared));
  assert.equal(await page.locator('#layers-b-shared').getAttribute('data-shared'), String(shared));
  await page.screenshot({ path: join(dir, 'side-by-side.png') });

  // Search in B highlights the same texts in A.
  await page.fill('#layers-b-search', 'fish');
  const fish = texts.filter((t) => t.includes('fish')).length;
  await page.waitForSelector(`#layers-plot[data-highlight="${fish}"]`);
  assert.equal(await page.locator('#layers-b-plot').getAttribute('data-highlight'), String(fish));

  // A run over other texts is refused, with the first difference named.
  await page.selectOption('#layers-beside', 'c/layers-pca');
  await page.waitForSelector('#layers-beside-error:not([hidden])');
  assert.match((await page.locator('#layers-beside-error').textContent())!, /Cannot show 'c\/layers-pca' beside 'a\/layers-pca': text #7 is "sentence 7 on a dog" in 'a\/layers-pca' but "another text" in 'c\/layers-pca'/);
  assert.equal(await page.locator('#layers-pane-b').isVisible(), false);
  assert.equal(await page.locator('#layers-beside').inputValue(), '');
  await page.close();
});
