/**
 * The README's screenshots of the real app: runs `latent-atlas demo` (and the Fisher pipeline on the same
 * folder) unless --run DIR is given, serves the folder, and photographs the Map (with a hover tooltip), Fisher
 * and Plots tabs in headless Chromium, the Layers tab (explorer), and two runs side by side (the final-token and
 * the mean-pooled representations of the same texts, linked slider and clicked point), and the explorer coloured
 * by logit-lens entropy (`extract --lens` on the demo's model and data, `map --activations ENTRY --align` into
 * RUN/lens/, made unless it exists).
 *
 *   node --import tsx scripts/screenshots.ts [--run DIR] [--out docs/screenshots] [--only app-explorer-lens,…]
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { startServer } from '../src/app/server.ts';
import { launchChromium } from './chromium.ts';
import { defaultModel } from '../src/model/default-model.ts';
import { LENS_COLUMNS } from '../src/geometry/layer-bundle.ts';

const { values } = parseArgs({ options: { run: { type: 'string' }, out: { type: 'string', default: 'docs/screenshots' }, only: { type: 'string' } } });
/** Which screenshots to take (--only: a comma list of file names without .png; default all). */
const only = values.only ? new Set(values.only.split(',').map((n) => n.trim().replace(/\.png$/, ''))) : undefined;
const want = (name: string) => !only || only.has(name);
const out = resolve(values.out!);
mkdirSync(out, { recursive: true });
const tmp = mkdtempSync(join(tmpdir(), 'atlas-shots-'));
// The TypeScript sources (dist/ may be stale in a checkout).
const bin = ['--import', import.meta.resolve('tsx'), fileURLToPath(new URL('../src/cli/bin.ts', import.meta.url))];
const cli = (...args: string[]) => execFileSync(process.execPath, [...bin, ...args], { stdio: ['ignore', 'inherit', 'inherit'] });
let root = values.run ? resolve(values.run) : join(tmp, 'atlas-demo');
if (!values.run) {
  cli('demo', '--out', root);
  const run = JSON.parse(readFileSync(join(root, 'run.json'), 'utf8'));
  cli('fisher', '--model', run.modelDir, '--data', 'builtin:topics', '--num-samples', '8', '--out', root);
  // Maps of every layer in one frame, for the Layers tab (explorer).
  cli('map', '--model', run.modelDir, '--data', 'builtin:topics', '--layers', 'all', '--align', '--out', root);
  // A second run over the same texts for the side-by-side view: the mean over tokens instead of the final token.
  cli('map', '--model', run.modelDir, '--data', 'builtin:topics', '--layers', 'all', '--align', '--aggregate', 'mean', '--out', join(root, 'mean-pooled'));
}
root = resolve(root);
if (want('app-explorer-lens') && !existsSync(join(root, 'lens'))) {
  // The logit lens of the demo's model on the demo's data (run.json; the shipped model and its Brown passages).
  const run = existsSync(join(root, 'run.json')) ? JSON.parse(readFileSync(join(root, 'run.json'), 'utf8')) : {};
  const model = run.modelDir ?? defaultModel().dir;
  const data = run.dataset === 'brown-genres' || (!run.dataset && basename(model) === 'latent-atlas-brown-gpt2') ? 'builtin:brown-genres' : 'builtin:topics';
  const printed = execFileSync(process.execPath, [...bin, 'extract', '--model', model, '--data', data, '--layers', 'all', '--lens', '--cache', join(tmp, 'cache')], { stdio: ['ignore', 'pipe', 'inherit'] }).toString().trim().split('\n');
  cli('map', '--activations', printed[printed.length - 1]!, '--layers', 'all', '--align', '--out', join(root, 'lens'));
}
const app = await startServer({ root, port: 0 });
const browser = await launchChromium(join(tmp, 'profile'), { width: 1200, height: 720 });
try {
  const page = await browser.newPage();
  await page.goto(app.url);
  await page.waitForSelector('body[data-ready]', { timeout: 30_000 });
  if (want('app-map')) {
  // Hover the point nearest the plot's centre of mass so the tooltip shows a text.
  const n = Number(await page.locator('#map-plot canvas').getAttribute('data-points'));
  const pos = await page.evaluate((k) => Array.from({ length: k }, (_, i) => (window as any).atlas.map.screenPosition(i) as [number, number]), n);
  const [x, y] = pos[Math.floor(n / 3)];
  await page.mouse.move(x, y);
  await page.waitForSelector('#tooltip:not([hidden])');
  await page.screenshot({ path: join(out, 'app-map.png') });
  }
  if (want('app-fisher') && await page.locator('nav button[data-tab=fisher]').isVisible()) {
    await page.mouse.move(0, 0);
    await page.click('nav button[data-tab=fisher]');
    await page.waitForFunction(() => ((document.querySelector('#fisher-plot canvas') as HTMLCanvasElement)?.dataset.layers ?? '').includes('ellipses'));
    await page.screenshot({ path: join(out, 'app-fisher.png') });
  }
  if (want('app-plots')) {
    await page.click('nav button[data-tab=plots]');
    await page.waitForFunction(() => Array.from(document.querySelectorAll('#tab-plots img')).every((i) => (i as HTMLImageElement).complete));
    await page.screenshot({ path: join(out, 'app-plots.png') });
  }
  if ((want('app-explorer') || want('app-explorer-pair')) && await page.locator('nav button[data-tab=layers]').isVisible()) {
    // The explorer: a middle layer, one point clicked (its neighbours in the original space listed and highlighted).
    await page.click('nav button[data-tab=layers]');
    const layers = Number(await page.locator('#layers-slider').getAttribute('max'));
    await page.locator('#layers-slider').fill(String(Math.floor(layers / 2)));
    await page.waitForSelector('#layers-plot:not([data-animating])');
    const m = Number(await page.evaluate(() => (window as any).atlas.explorer ? document.querySelector('#layers-info')?.textContent?.match(/(\d+) points/)?.[1] : 0));
    const [px, py] = await page.evaluate((k) => (window as any).atlas.layers.screenPosition(k) as [number, number], Math.floor(m / 4));
    await page.mouse.click(px, py);
    await page.waitForSelector('#layers-plot[data-point]');
    await page.screenshot({ path: join(out, 'app-explorer.png') });
    const beside = await page.locator('#layers-beside option').evaluateAll((o) => o.map((e) => (e as HTMLOptionElement).value).filter((v) => v.startsWith('mean-pooled/')));
    if (beside.length) {
      // Two runs side by side: the same texts pooled two ways; the clicked point is marked in both.
      await page.selectOption('#layers-beside', beside[0]);
      await page.waitForSelector('#layers-b-plot[data-point]:not([data-animating])');
      await page.waitForSelector('#layers-plot:not([data-animating])');
      // Scroll each run's panel to its neighbour list (the shared neighbours in bold).
      await page.evaluate(() => { for (const id of ['layers-neighbours', 'layers-b-neighbours']) { const el = document.getElementById(id)!, aside = el.closest('aside')!; aside.scrollTop = el.offsetTop - aside.offsetTop - 30; } });
      await page.screenshot({ path: join(out, 'app-explorer-pair.png') });
    }
  }
  if (want('app-explorer-lens') && existsSync(join(root, 'lens', 'layers-pca'))) {
    // The explorer coloured by logit-lens entropy at the last block but one, one point hovered (its text in the tooltip).
    await page.goto(`${app.url}?view=layers&layers=lens/layers-pca`);
    await page.waitForSelector('#layers-plot[data-layer]', { timeout: 30_000 });
    const top = Number(await page.locator('#layers-slider').getAttribute('max'));
    await page.locator('#layers-slider').fill(String(Math.max(1, top - 1)));
    await page.waitForSelector('#layers-plot:not([data-animating])');
    await page.selectOption('#layers-colour', LENS_COLUMNS.entropy);
    await page.waitForSelector(`#layers-plot[data-colour="${LENS_COLUMNS.entropy}"]:not([data-animating])`);
    const [px, py] = await page.evaluate(() => (window as any).atlas.layers.screenPosition(7) as [number, number]);
    await page.mouse.move(px, py);
    await page.waitForTimeout(300);
    await page.screenshot({ path: join(out, 'app-explorer-lens.png') });
  }
  for (const f of ['app-map.png', 'app-fisher.png', 'app-plots.png', 'app-explorer.png', 'app-explorer-pair.png', 'app-explorer-lens.png']) {
    try {
      console.log(`${join(out, f)}: ${(statSync(join(out, f)).size / 1024).toFixed(0)} KB`);
    } catch { /* not taken */ }
  }
} finally {
  await browser.close();
  await app.close();
  rmSync(tmp, { recursive: true, force: true });
}
