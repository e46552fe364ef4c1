/**
 * Bring your own activations to the explorer: `latent-atlas serve OUT --activations acts.npy --labels labels.csv`
 * (a real CLI child process) builds the layers bundle from an N×L×d .npy in OUT and serves it; in headless
 * Chromium the Layers tab opens on its own, the slider changes the layer and moves the points, the hover texts
 * come from the labels file, and a clicked point lists exactly its k nearest neighbours in the ORIGINAL
 * activations of that layer (brute force here). The bundle is reused while the inputs are unchanged and rebuilt
 * when the labels change; the bring-your-own flags without --activations are refused in one line.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext } from 'playwright-core';
import { writeNpy } from '../src/data/npy.ts';
import { Rng } from '../src/geometry/rng.ts';
import { selfCommand } from '../src/cli/self.ts';
import { activationsBundle } from '../src/cli/commands/serve.ts';
import { launchChromium, CHROMIUM } from '../scripts/chromium.ts';
import { isCleanInputError, runCli } from './cli-inprocess.ts';

const hasChromium = existsSync(CHROMIUM);
const skip = hasChromium ? false : `${CHROMIUM} not found: install Debian's chromium to run the browser tests`;

const N = 50, L = 4, D = 8, K = 10;
const NAMES = ['north', 'south'];
let dir: string;
let acts: Float32Array;
let browser: BrowserContext;
let child: ChildProcess | null = null;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'atlas-byo-'));
  const rng = new Rng(21);
  acts = new Float32Array(N * L * D);
  for (let i = 0; i < N; i++) for (let l = 0; l < L; l++) for (let j = 0; j < D; j++) acts[(i * L + l) * D + j] = (j === (i % 2) + l ? 2 + l : 0) + rng.normal();
  writeNpy(join(dir, 'acts.npy'), acts, [N, L, D]);
  writeFileSync(join(dir, 'labels.csv'), `label,text\n${Array.from({ length: N }, (_, i) => `${NAMES[i % 2]},own text ${i}`).join('\n')}\n`);
  if (hasChromium) browser = await launchChromium(join(dir, 'profile'));
});

after(async () => {
  if (child && child.exitCode === null) child.kill('SIGTERM');
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Brute force, float64 over the float32 activations, ties by lower index (self excluded). */
function bruteKnn(l: number, q: number): number[] {
  const d = Array.from({ length: N }, (_, j) => {
    let s = 0;
    for (let a = 0; a < D; a++) s += (acts[(q * L + l) * D + a] - acts[(j * L + l) * D + a]) ** 2;
    return [s, j] as const;
  }).filter(([, j]) => j !== q);
  d.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return d.slice(0, K).map(([, j]) => j);
}

test('serve --activations --labels opens the explorer on the bundle built from them; the slider works', { skip }, async () => {
  const [exe, ...args] = selfCommand();
  child = spawn(exe, [...args, 'serve', join(dir, 'out'), '--activations', join(dir, 'acts.npy'), '--labels', join(dir, 'labels.csv'), '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  child.stderr!.on('data', (b) => { err += String(b); });
  const url = await new Promise<string>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`serve did not start in 60 s:\n${out}\n${err}`)), 60_000);
    child!.stdout!.on('data', (b) => {
      out += String(b);
      const m = /open (http:\/\/\S+)/.exec(out);
      if (m) { clearTimeout(t); resolve(m[1]); }
    });
    child!.on('exit', (code) => { clearTimeout(t); reject(new Error(`serve exited (${code}):\n${out}\n${err}`)); });
  });
  assert.match(out, /built the layers bundle .*layers-pca \(50 points, layers 0, 1, 2, 3\)/);
  assert.match(err, /layer 3 \(4\/4\): 10 nearest neighbours/, 'progress lines on stderr');
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url.replace(/\?.*$/, '')); // no ?view: a folder holding only a bundle opens on the Layers tab
  await page.waitForSelector('body[data-ready]', { timeout: 15_000 });
  await page.waitForSelector('#layers-plot[data-layer="0"]');
  assert.equal(await page.locator('#tab-layers').isVisible(), true);
  assert.equal(await page.locator('#warning').isHidden(), true, 'no "no results" warning over a bundle');
  const positions = () => page.evaluate((n) => Array.from({ length: n }, (_, i) => (window as any).atlas.layers.screenPosition(i) as [number, number]), N);
  const before = await positions();
  await page.locator('#layers-slider').fill('2');
  await page.waitForSelector('#layers-plot[data-layer="2"]:not([data-animating])');
  const pos = await positions();
  assert.ok(before.filter(([x, y], i) => Math.hypot(x - pos[i][0], y - pos[i][1]) > 2).length > N / 2, 'the points move');
  const alone = pos.findIndex(([x, y], i) => pos.every(([u, v], j) => j === i || Math.hypot(u - x, v - y) > 10));
  assert.ok(alone >= 0);
  await page.mouse.click(pos[alone][0], pos[alone][1]);
  await page.waitForSelector(`#layers-plot[data-point="${alone}"]`);
  assert.deepEqual(await page.locator('#layers-neighbours li').evaluateAll((li) => li.map((e) => Number(e.getAttribute('data-index')))), bruteKnn(2, alone));
  assert.match((await page.locator('#layers-neighbours .sel-count').textContent())!, new RegExp(`${NAMES[alone % 2]}: own text ${alone}$`));
  assert.deepEqual(errors, []);
  await page.close();
  child.kill('SIGTERM');
  await new Promise((r) => child!.once('exit', r));
});

test('the bundle is reused while activations, labels and options are unchanged, rebuilt otherwise', async () => {
  const o = { activations: join(dir, 'acts.npy'), labels: join(dir, 'labels.csv') };
  const root = join(dir, 'cache-check');
  assert.equal((await activationsBundle(root, o)).cached, false);
  assert.equal((await activationsBundle(root, o)).cached, true);
  const later = new Date(Date.now() + 5000);
  utimesSync(join(dir, 'labels.csv'), later, later);
  assert.equal((await activationsBundle(root, o)).cached, false, 'labels touched: rebuilt');
  const two = await activationsBundle(root, { ...o, layers: '1,-1' });
  assert.equal(two.cached, false);
  assert.deepEqual(two.manifest.layers, [1, 3]);
});

test('bring-your-own flags without --activations, and missing activations, are one-line errors', async () => {
  const r1 = await runCli(['serve', join(dir, 'out'), '--labels', join(dir, 'labels.csv')]);
  assert.ok(isCleanInputError(r1), r1.stderr);
  assert.match(r1.stderr, /--labels needs --activations/);
  const r2 = await runCli(['serve', join(dir, 'out'), '--activations', join(dir, 'nope.npy')]);
  assert.ok(isCleanInputError(r2), r2.stderr);
  assert.match(r2.stderr, /nope\.npy.*not found/);
});
