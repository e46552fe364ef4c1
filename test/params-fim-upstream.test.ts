import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.ts';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { SafetensorsFile } from '../src/model/safetensors.ts';
import { CALIBRATION_TEXTS } from '../src/data/calibration.ts';

process.env.LATENT_ATLAS_QUIET = '1';
const root = mkdtempSync(join(tmpdir(), 'fim-upstream-'));
test.after(() => { if (!process.env.KEEP_FIM_TEST) rmSync(root, { recursive: true, force: true }); else console.error(root); });

async function quiet(argv: string[]): Promise<void> {
  const log = console.log;
  console.log = () => {};
  try {
    await main(argv);
  } finally {
    console.log = log;
  }
}

/** Per-tensor sums straight from the saved diagonal (independent of the report code). */
function tensorSums(file: string): Map<string, { sum: number; data: Float32Array; shape: number[] }> {
  const st = SafetensorsFile.open(file);
  const out = new Map<string, { sum: number; data: Float32Array; shape: number[] }>();
  for (const n of st.names()) {
    const t = st.read(n);
    let s = 0;
    for (const v of t.data) s += v;
    out.set(n, { sum: s, data: t.data, shape: t.shape });
  }
  st.close();
  return out;
}

test('fim writes upstream\'s files with upstream\'s meanings; --compare writes bars and the Fisher-vs-Fisher tables', async () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  writeTinyCheckpoint(a, { architecture: 'gpt2', seed: 1, nLayer: 2, dModel: 16, nHead: 2 });
  writeTinyCheckpoint(b, { architecture: 'gpt2', seed: 2, nLayer: 2, dModel: 16, nHead: 2 });
  const N = 5;
  // no --data: the built-in calibration sentences; --upstream defaults, overridden by explicit flags
  await quiet(['fim', '--model', a, '--upstream', '--num-samples', '4', '--max-length', '12', '--granularity', String(N), '--save-fisher', '--device', 'cpu', '--out', join(root, 'fa')]);
  await quiet(['fim', '--model', b, '--num-samples', '4', '--max-length', '12', '--normalise', 'sum', '--out', join(root, 'fb')]);
  assert.equal(process.exitCode ?? 0, 0);
  const fa = join(root, 'fa');
  const sums = tensorSums(join(fa, 'fisher_diagonal.safetensors'));
  const total = [...sums.values()].reduce((s, t) => s + t.sum, 0);

  const layers = JSON.parse(readFileSync(join(fa, 'layer_importance.json'), 'utf8')) as Record<string, number>;
  assert.deepEqual(Object.keys(layers).sort(), ['embeddings', 'final_norm', 'layer_0', 'layer_1', 'lm_head'].filter((g) => g !== 'lm_head' || sums.has('lm_head.weight')).sort());
  const fr = Object.values(layers);
  assert.ok(Math.abs(fr.reduce((s, x) => s + x, 0) - 1) < 1e-9, 'fractions sum to 1');
  assert.ok(fr.every((x, i) => i === 0 || fr[i - 1] >= x), 'sorted descending');
  let layer0 = 0;
  for (const [n, t] of sums) if (n.startsWith('h.0.')) layer0 += t.sum;
  assert.ok(Math.abs(layers.layer_0 - layer0 / total) < 1e-6);

  const comps = JSON.parse(readFileSync(join(fa, 'component_importance.json'), 'utf8')) as Record<string, { fisher_sum: number; percentage: number }>;
  const pct = Object.values(comps).map((c) => c.percentage);
  assert.ok(Math.abs(pct.reduce((s, x) => s + x, 0) - 100) < 1e-6);
  assert.ok(pct.every((x, i) => i === 0 || pct[i - 1] >= x));
  assert.ok(Math.abs(Object.values(comps).reduce((s, c) => s + c.fisher_sum, 0) - total) <= 1e-5 * total);
  assert.ok('attn_q' in comps && 'attn_v' in comps && !('attn_qkv' in comps), 'c_attn split into q/k/v');

  const summary = JSON.parse(readFileSync(join(fa, 'summary.json'), 'utf8'));
  const direct = [...sums].map(([name, t]) => ({ name, s: t.sum })).sort((x, y) => y.s - x.s).slice(0, 10);
  assert.deepEqual(summary.top_10_parameters.map((t: { name: string }) => t.name), direct.map((t) => t.name));
  summary.top_10_parameters.forEach((t: { fisher_sum: number }, i: number) => assert.ok(Math.abs(t.fisher_sum - direct[i].s) <= 1e-5 * direct[i].s));
  assert.equal(summary.top_components[0].component, Object.keys(comps)[0]);
  assert.equal(summary.normalise, 'mean');
  assert.match(summary.formula, /mean per-token cross-entropy/);
  assert.equal(summary.samples, 4);
  assert.equal(summary.data, 'builtin calibration sentences (src/data/calibration.ts)');
  assert.equal(summary.batchSize, 2, '--upstream batch size');
  assert.equal(summary.maxLength, 12, 'explicit flag beats --upstream');
  assert.ok(CALIBRATION_TEXTS.length >= 20);

  const gran = JSON.parse(readFileSync(join(fa, 'granular_importance.json'), 'utf8'));
  assert.equal(gran.granularity, N);
  const fc = gran.components['h.1.mlp.c_fc.weight'];
  assert.equal(fc.chunks.length, N);
  const t = sums.get('h.1.mlp.c_fc.weight')!;
  assert.ok(Math.abs(fc.chunks.reduce((s: number, x: number) => s + x, 0) - fc.fisher_sum) <= 1e-9 * fc.fisher_sum + 1e-12);
  // chunk 0 = the first ⌈n/N⌉ flattened entries (n divisible by N here? use the floor rule directly)
  const n = t.data.length;
  let first = 0;
  for (let i = 0; i < n; i++) if (Math.floor((i * N) / n) === 0) first += t.data[i];
  assert.ok(Math.abs(fc.chunks[0] - first) <= 1e-6 * first);
  const q = gran.components['h.0.attn.c_attn.weight:attn_q'];
  assert.equal(q.chunks.length, N);
  assert.ok(Math.abs(q.chunks.reduce((s: number, x: number) => s + x, 0) - q.fisher_sum) <= 1e-9 * q.fisher_sum);
  const qTotal = Object.entries(gran.components as Record<string, { fisher_sum: number }>).filter(([k]) => k.endsWith(':attn_q')).reduce((s, [, v]) => s + v.fisher_sum, 0);
  assert.ok(Math.abs(qTotal - comps.attn_q.fisher_sum) <= 1e-9 * qTotal, 'q parts of every c_attn add up to the q component');

  const fbSummary = JSON.parse(readFileSync(join(root, 'fb', 'summary.json'), 'utf8'));
  assert.equal(fbSummary.normalise, 'sum');
  assert.equal(fbSummary.batchSize, 8, 'our default batch size');

  const cmp = join(root, 'cmp');
  await quiet(['fim', '--compare', fa, join(root, 'fb'), '--labels', 'A,B', '--out', cmp]);
  for (const f of ['fim_compare_layers.svg', 'fim_compare_layers.png', 'fisher_comparison.svg', 'fisher_comparison.png', 'layer_importance_comparison.csv']) assert.ok(existsSync(join(cmp, f)), f);
  const fcmp = JSON.parse(readFileSync(join(cmp, 'fisher_comparison.json'), 'utf8'));
  const sb = tensorSums(join(root, 'fb', 'fisher_diagonal.safetensors'));
  const w = fcmp.tensors.find((r: { name: string }) => r.name === 'h.0.mlp.c_proj.weight');
  const ea = sums.get('h.0.mlp.c_proj.weight')!.sum;
  const eb = sb.get('h.0.mlp.c_proj.weight')!.sum;
  assert.ok(Math.abs(w.ratio - eb / ea) <= 1e-6 * (eb / ea));
  assert.ok(Math.abs(w.difference - (eb - ea)) <= 1e-6 * Math.abs(eb - ea) + 1e-12);
  const l1 = fcmp.layers.find((r: { name: string }) => r.name === 'layer_1');
  let la = 0;
  let lb = 0;
  for (const [nm, x] of sums) if (nm.startsWith('h.1.')) { la += x.sum; lb += sb.get(nm)!.sum; }
  assert.ok(Math.abs(l1.ratio - lb / la) <= 1e-6 * (lb / la));
  assert.equal(fcmp.layers[0].name, 'embeddings');
  const csv = readFileSync(join(cmp, 'layer_importance_comparison.csv'), 'utf8').trim().split('\n');
  assert.equal(csv[0], 'layer,A,B');
});

test('fim refuses an unsupported device with one clear line', async () => {
  const err = console.error;
  let msg = '';
  console.error = (m: string) => { msg += m; };
  const code = process.exitCode;
  try {
    await main(['fim', '--model', join(root, 'a'), '--device', 'cuda']);
  } finally {
    console.error = err;
  }
  assert.match(msg, /--device cuda is not supported.*supported: cpu/);
  assert.equal(process.exitCode, 2);
  process.exitCode = code;
});
