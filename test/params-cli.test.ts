import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../src/cli/main.ts';
import { writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { SafetensorsFile } from '../src/model/safetensors.ts';
import { fisherReport } from '../src/params/fisher-report.ts';
import { TopK, quantiles } from '../src/params/stats.ts';

process.env.LATENT_ATLAS_QUIET = '1';
const root = mkdtempSync(join(tmpdir(), 'params-cli-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

test('fim, similarity and task-vector commands write their reports', async () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  writeTinyCheckpoint(a, { architecture: 'gpt2', seed: 1, nLayer: 2, dModel: 16, nHead: 2 });
  writeTinyCheckpoint(b, { architecture: 'gpt2', seed: 2, nLayer: 2, dModel: 16, nHead: 2 });
  const data = join(root, 'data.txt');
  writeFileSync(data, 'the quick brown fox\njumps over the lazy dog\n\nhello world\n');
  const log = console.log;
  console.log = () => {};
  try {
    await main(['fim', '--model', a, '--data', data, '--batch-size', '2', '--max-length', '16', '--out', join(root, 'fim')]);
    await main(['similarity', '--models', a, b, '--out', join(root, 'sim')]);
    await main(['task-vector', '--base', a, '--finetuned', b, '--out', join(root, 'tv', 'tau.safetensors'), '--fisher', join(root, 'fim', 'fisher_diagonal.safetensors')]);
  } finally {
    console.log = log;
  }
  assert.equal(process.exitCode ?? 0, 0);
  const summary = JSON.parse(readFileSync(join(root, 'fim', 'summary.json'), 'utf8'));
  assert.equal(summary.samples, 3);
  assert.equal(summary.topParameters.length, 10);
  const fisher = SafetensorsFile.open(join(root, 'fim', 'fisher_diagonal.safetensors'));
  let max = 0;
  let sum = 0;
  for (const n of fisher.names()) for (const v of fisher.read(n).data) { max = Math.max(max, v); sum += v; }
  fisher.close();
  assert.ok(Math.abs(summary.topParameters[0].value - max) <= 1e-6 * max);
  assert.ok(Math.abs(summary.total.sum - sum) <= 1e-4 * sum);
  const layers = JSON.parse(readFileSync(join(root, 'fim', 'fisher_layers.json'), 'utf8'));
  assert.deepEqual(layers.layers.map((l: { group: string }) => l.group), ['embed', '0', '1', 'head']);
  assert.ok(existsSync(join(root, 'sim', 'similarity.json')) && existsSync(join(root, 'sim', 'similarity_layers.csv')));
  assert.match(readFileSync(join(root, 'sim', 'similarity_tensors.csv'), 'utf8'), /^pair,tensor,layer,component/);
  const tv = JSON.parse(readFileSync(join(root, 'tv', 'task_vector.json'), 'utf8'));
  // independent N(0, σ²) matrices: ‖b − a‖/‖a‖ ≈ √2
  const fc = tv.tensors.find((t: { name: string }) => t.name === 'h.0.mlp.c_fc.weight');
  assert.ok(Math.abs(fc.relative - Math.SQRT2) < 0.1, `relative change ${fc.relative}`);
  assert.ok(tv.layers.every((l: { fisherSum?: number }) => l.fisherSum! > 0));
});

test('fisher report: c_attn splits into q/k/v, layer totals add up, top-k is sorted', () => {
  const d = 2;
  const fisher = new Map<string, Float32Array>([
    ['h.0.attn.c_attn.weight', Float32Array.from({ length: d * 3 * d }, (_, i) => i)],
    ['h.0.attn.c_attn.bias', Float32Array.from([1, 2, 3, 4, 5, 6])],
    ['wte.weight', Float32Array.from([100, 0.5])],
  ]);
  const shapes = new Map([['h.0.attn.c_attn.weight', [d, 3 * d]], ['h.0.attn.c_attn.bias', [3 * d]], ['wte.weight', [1, 2]]]);
  const r = fisherReport(fisher, shapes, 3);
  const l0 = r.layers.find((l) => l.group === '0')!;
  // weight [2, 6]: columns 0-1 q, 2-3 k, 4-5 v; rows 0..5 and 6..11
  assert.equal(l0.components.attn_q.sum, 0 + 1 + 6 + 7 + 1 + 2);
  assert.equal(l0.components.attn_v.sum, 4 + 5 + 10 + 11 + 5 + 6);
  assert.equal(l0.total.sum, 66 + 21);
  assert.equal(r.total.sum, 66 + 21 + 100.5);
  assert.deepEqual(r.top.map((t) => t.value), [100, 11, 10]);
  assert.deepEqual(r.top[1].index, [1, 5]);
  assert.equal(r.top[1].component, 'attn_v');
  assert.equal(r.layers.find((l) => l.group === 'embed')!.rank, 1);
  const k = new TopK<number>(2);
  for (const v of [3, 1, 4, 1, 5, 9, 2, 6]) k.push(v, v);
  assert.deepEqual(k.sorted().map((x) => x.v), [9, 6]);
  assert.deepEqual(quantiles([1, 2, 3, 4], [0, 0.5, 1]), [1, 2.5, 4]);
});
