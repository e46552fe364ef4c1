import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { writeTinyCheckpoint, writeTinyFamilyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { SafetensorsFile } from '../src/model/safetensors.ts';
import { analyzeSimilarity, type SimilarityResult } from '../src/params/similarity.ts';
import { SimilarityPool } from '../src/params/similarity-pool.ts';
import { AtlasError } from '../src/errors.ts';
import { runCli, isCleanInputError } from './cli-inprocess.ts';

const root = mkdtempSync(join(tmpdir(), 'params-sim-comp-'));
test.after(() => rmSync(root, { recursive: true, force: true }));

const gpt = (name: string, seed: number): string => {
  const dir = join(root, name);
  writeTinyCheckpoint(dir, { architecture: 'gpt2', seed, nLayer: 2, dModel: 16, nHead: 2, std: 0.5 });
  return dir;
};
const g1 = gpt('g1', 1);
const g2 = gpt('g2', 2);

/** Column cosines of stored matrices, float64, over rows [r0, r1) and columns [c0, c1) (written apart from the analyzer). */
function cosines(a: Float32Array, b: Float32Array, cols: number, r0: number, r1: number, c0: number, c1: number): number[] {
  const out: number[] = [];
  for (let c = c0; c < c1; c++) {
    let d = 0, na = 0, nb = 0;
    for (let r = r0; r < r1; r++) {
      const x = a[r * cols + c], y = b[r * cols + c];
      d += x * y; na += x * x; nb += y * y;
    }
    out.push(d / Math.sqrt(na * nb));
  }
  return out;
}
const mean = (v: number[]): number => v.reduce((s, x) => s + x, 0) / v.length;

function stored(dir: string): SafetensorsFile {
  return SafetensorsFile.open(join(dir, 'model.safetensors'));
}

test('--components on GPT-2: q is the first third of c_attn\'s columns, up is c_fc; biases and norms are left out', async () => {
  const res = await analyzeSimilarity([g1, g2], { components: ['q', 'up'] });
  assert.deepEqual(res.components, ['q', 'up']);
  assert.deepEqual(res.tensors.map((t) => `${t.name}:${t.component}`).sort(),
    ['h.0.attn.c_attn.weight:attn_q', 'h.0.mlp.c_fc.weight:mlp_up', 'h.1.attn.c_attn.weight:attn_q', 'h.1.mlp.c_fc.weight:mlp_up']);
  const fa = stored(g1), fb = stored(g2);
  for (const t of res.tensors) {
    const a = fa.read(`transformer.${t.name}`), b = fb.read(`transformer.${t.name}`);
    const [rows, cols] = a.shape;
    // Conv1D [in, out]: q's output units are the first d columns of [d, 3d]
    const ref = t.component === 'attn_q' ? cosines(a.data, b.data, cols, 0, rows, 0, cols / 3) : cosines(a.data, b.data, cols, 0, rows, 0, cols);
    const st = t.pairs['g1|g2'];
    assert.equal(st.columns, ref.length, t.name);
    assert.ok(Math.abs(st.mean - mean(ref)) < 1e-9, `${t.name}: ${st.mean} vs ${mean(ref)}`);
    assert.ok(Math.abs(st.min - Math.min(...ref)) < 1e-9 && Math.abs(st.max - Math.max(...ref)) < 1e-9, t.name);
    assert.deepEqual(t.canonical, [t.component === 'attn_q' ? `blocks.${t.layer}.attn.W_Q` : `blocks.${t.layer}.mlp.W_in`]);
  }
  fa.close(); fb.close();
  // the unfiltered run has the same q records (and reads more)
  const all = await analyzeSimilarity([g1, g2]);
  const q0 = all.tensors.find((t) => t.name === 'h.0.attn.c_attn.weight' && t.component === 'attn_q')!;
  assert.deepEqual(q0.pairs, res.tensors.find((t) => t.name === 'h.0.attn.c_attn.weight')!.pairs);
  assert.ok(res.bytesRead < all.bytesRead);
});

test('row-packed weights (Phi-3 qkv_proj, gate_up_proj) are split by rows; each part equals a float64 computation on its rows', async () => {
  const p1 = writeTinyFamilyCheckpoint(join(root, 'p1'), { modelType: 'phi3', seed: 1, std: 0.5 }).dir;
  const p2 = writeTinyFamilyCheckpoint(join(root, 'p2'), { modelType: 'phi3', seed: 2, std: 0.5 }).dir;
  // worker threads alone (the main thread only waits) on small chunks: the row split goes through their code path
  await SimilarityPool.get(2).ready();
  SimilarityPool.mainClaims = false;
  const res = await analyzeSimilarity([p1, p2], { components: ['q', 'k', 'v', 'gate', 'up'], blockBytes: 256, threads: 3, minParallelBytes: 1 }).finally(() => { SimilarityPool.mainClaims = true; });
  const cfg = JSON.parse(readFileSync(join(p1, 'config.json'), 'utf8')) as { hidden_size: number; num_attention_heads: number; num_key_value_heads: number; intermediate_size: number };
  const hd = cfg.hidden_size / cfg.num_attention_heads;
  const q = cfg.num_attention_heads * hd, kv = cfg.num_key_value_heads * hd, f = cfg.intermediate_size;
  const rowsOf: Record<string, [number, number]> = { attn_q: [0, q], attn_k: [q, q + kv], attn_v: [q + kv, q + 2 * kv], mlp_gate: [0, f], mlp_up: [f, 2 * f] };
  assert.equal(res.tensors.length, 2 * 5);
  const fa = stored(p1), fb = stored(p2);
  for (const t of res.tensors) {
    const a = fa.read(t.name), b = fb.read(t.name); // Phi-3 keeps its stored names
    const [r0, r1] = rowsOf[t.component];
    const ref = cosines(a.data, b.data, a.shape[1], r0, r1, 0, a.shape[1]);
    const st = t.pairs['p1|p2'];
    assert.ok(Math.abs(st.mean - mean(ref)) < 1e-9 && Math.abs(st.min - Math.min(...ref)) < 1e-9, `${t.name} ${t.component}: ${st.mean} vs ${mean(ref)}`);
  }
  fa.close(); fb.close();
  // without a filter the fused tensors are split as well, so per-layer aggregates exist per component
  const all = await analyzeSimilarity([p1, p2]);
  for (const c of ['attn_q', 'attn_k', 'attn_v', 'mlp_gate', 'mlp_up', 'mlp_down', 'attn_o']) assert.ok(all.aggregates.some((a) => a.group === '0' && a.component === c), c);
});

test('--components errors name the valid components: an unknown name, and gate on GPT-2', async () => {
  await assert.rejects(() => analyzeSimilarity([g1, g2], { components: ['q', 'query'] }), (e: unknown) => e instanceof AtlasError && /unknown component 'query'; valid: q, k, v, o, gate, up, down/.test(e.message));
  await assert.rejects(() => analyzeSimilarity([g1, g2], { components: ['gate'] }), (e: unknown) => e instanceof AtlasError && /gpt2 models have no 'gate'.*valid for this model: q, k, v, o, up, down/.test(e.message));
  const r = await runCli(['similarity', g1, g2, '--components', 'gate', '--out', join(root, 'bad')]);
  assert.ok(isCleanInputError(r), r.stderr);
  assert.match(r.stderr, /--components.*valid for this model: q, k, v, o, up, down/);
  const c = await runCli(['similarity', g1, g2, '--color-range', '1,0.8', '--out', join(root, 'bad')]);
  assert.ok(isCleanInputError(c), c.stderr);
  assert.match(c.stderr, /--color-range must be two numbers LO,HI with LO < HI/);
});

// ---------- hub ids: a local hub on 127.0.0.1 serving the two tiny checkpoints ----------

function serve(repos: Record<string, string>): Promise<{ server: Server; base: string }> {
  const server = createServer((req, res) => {
    const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURIComponent(req.url!.split('?')[0]!));
    const dir = m ? repos[m[1]!] : undefined;
    const commit = m ? createHash('sha1').update(m[1]!).digest('hex') : '';
    if (!m || !dir) { res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end(); return; }
    const file = join(dir, m[3]!);
    if (!existsSync(file)) { res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': commit }).end(); return; }
    const body = readFileSync(file);
    const etag = createHash('sha1').update(`blob ${body.length}\0`).update(body).digest('hex');
    res.writeHead(200, { 'content-length': body.length, etag: `"${etag}"`, 'x-repo-commit': commit }).end(body);
  });
  return new Promise((ok) => server.listen(0, '127.0.0.1', () => ok({ server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

test('similarity and task-vector take hub ids through the shared model resolution (labels are the ids)', async () => {
  const hub = await serve({ 'org/base': g1, 'org/tuned': g2 });
  const env = { HF_ENDPOINT: process.env.HF_ENDPOINT, HF_HUB_CACHE: process.env.HF_HUB_CACHE, HF_HUB_OFFLINE: process.env.HF_HUB_OFFLINE };
  process.env.HF_ENDPOINT = hub.base;
  process.env.HF_HUB_CACHE = join(root, 'hub-cache');
  delete process.env.HF_HUB_OFFLINE;
  try {
    const out = join(root, 'sim-hub');
    const r = await runCli(['similarity', 'org/base', 'org/tuned', '--components', 'q,k,v,o,up,down', '--color-range', '0.8,1', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const res = JSON.parse(readFileSync(join(out, 'similarity.json'), 'utf8')) as SimilarityResult;
    assert.deepEqual(res.pairs, ['org/base|org/tuned']);
    assert.deepEqual(res.components, ['q', 'k', 'v', 'o', 'up', 'down']);
    assert.ok(res.models.every((m) => m.dir.startsWith(join(root, 'hub-cache'))));
    // the same numbers as the local folders
    const local = await analyzeSimilarity([g1, g2], { components: ['q', 'k', 'v', 'o', 'up', 'down'] });
    assert.deepEqual(res.tensors.map((t) => Object.values(t.pairs)[0].mean), local.tensors.map((t) => Object.values(t.pairs)[0].mean));
    for (const f of ['similarity_heatmap.svg', 'similarity_heatmap.png', 'similarity_layers.svg', 'similarity_layers.png']) assert.ok(existsSync(join(out, f)), f);
    // the fixed range is the colour bar's
    assert.match(readFileSync(join(out, 'similarity_heatmap.svg'), 'utf8'), /fixed 0\.8–1/);
    const tv = await runCli(['task-vector', '--base', 'org/base', '--finetuned', 'org/tuned', '--out', join(root, 'tv-hub', 'tau.safetensors')]);
    assert.equal(tv.code, 0, tv.stderr);
    const rep = JSON.parse(readFileSync(join(root, 'tv-hub', 'task_vector.json'), 'utf8')) as { base: string; tensors: unknown[] };
    assert.ok(rep.base.startsWith(join(root, 'hub-cache')) && rep.tensors.length > 0);
    assert.ok(readdirSync(join(root, 'hub-cache')).some((d) => d === 'models--org--base'));
  } finally {
    for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k]; else process.env[k] = v;
    await new Promise((ok) => hub.server.close(ok));
  }
});
