import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AtlasError } from '../src/errors.ts';
import { type Checkpoint, expectedTensorShapes, openCheckpoint, validateCheckpoint } from '../src/model/checkpoint.ts';
import { roundThrough } from '../src/model/float16.ts';
import { SafetensorsFile, writeSafetensors } from '../src/model/safetensors.ts';
import { TorchBinFile, writeTorchBin } from '../src/model/torch-bin.ts';
import { numel } from '../src/model/tensor.ts';
import { normalQuantile, tinyTensorValues, writeTinyCheckpoint } from '../src/model/tiny-checkpoint.ts';
import { TINY_VOCAB_SIZE } from '../src/model/tiny-tokenizer.ts';

const root = mkdtempSync(join(tmpdir(), 'atlas-ckpt-'));
test.after(() => rmSync(root, { recursive: true, force: true }));
let counter = 0;
const fresh = (): string => join(root, `m${counter++}`);

function assertAtlasError(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AtlasError, `expected AtlasError, got ${String(e)}`);
    for (const p of parts) assert.ok(e.message.includes(p), `message "${e.message}" lacks "${p}"`);
    return true;
  });
}

function allTensors(c: Checkpoint): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of expectedTensorShapes(c.config)) out.set(name, c.tensor(name, shape).data);
  return out;
}

for (const architecture of ['gpt2', 'llama'] as const) {
  test(`${architecture}: every format, dtype and prefix variant loads the same canonical tensors`, () => {
    const base = writeTinyCheckpoint(fresh(), { architecture, seed: 3 });
    const ref = openCheckpoint(base.dir);
    assert.equal(ref.format, 'safetensors');
    validateCheckpoint(ref);
    const want = allTensors(ref);
    ref.close();
    // The reference values are the generator's, independent of any reader.
    for (const [name, shape] of expectedTensorShapes(base.config)) {
      const canonical = name === 'lm_head.weight' && base.config.tieWordEmbeddings ? (architecture === 'gpt2' ? 'wte.weight' : 'embed_tokens.weight') : name;
      assert.deepEqual(want.get(name), tinyTensorValues(canonical, shape, 3, 0.02), name);
    }
    const variants = [
      { format: 'safetensors-sharded', expectFormat: 'safetensors-sharded' },
      { format: 'torch-bin', expectFormat: 'torch-bin' },
      { format: 'safetensors', prefix: false, expectFormat: 'safetensors' },
      { format: 'torch-bin', prefix: false, expectFormat: 'torch-bin' },
      { format: 'safetensors', dtype: 'F16', expectFormat: 'safetensors' },
      { format: 'safetensors', dtype: 'BF16', expectFormat: 'safetensors' },
      { format: 'torch-bin', dtype: 'BF16', expectFormat: 'torch-bin' },
      { format: 'safetensors-sharded', dtype: 'F16', expectFormat: 'safetensors-sharded' },
    ] as const;
    for (const v of variants) {
      const dtype = 'dtype' in v ? v.dtype : 'F32';
      const { dir } = writeTinyCheckpoint(fresh(), { architecture, seed: 3, format: v.format, dtype, prefix: 'prefix' in v ? v.prefix : true });
      const c = openCheckpoint(dir);
      assert.equal(c.format, v.expectFormat);
      validateCheckpoint(c);
      const got = allTensors(c);
      for (const [name, data] of want) assert.deepEqual(got.get(name), roundThrough(Float32Array.from(data), dtype), `${JSON.stringify(v)} ${name}`);
      // Tied safetensors store no lm_head; a torch state dict does (sharing the embedding's storage).
      const storesLmHead = !c.config.tieWordEmbeddings || v.format === 'torch-bin';
      const expectedNames = [...expectedTensorShapes(c.config).keys()].filter((n) => storesLmHead || n !== 'lm_head.weight');
      assert.deepEqual(new Set(c.names()), new Set(expectedNames));
      c.close();
    }
  });
}

test('stored names: prefixes as save_pretrained writes them, buffers skipped, tied lm_head shares the embedding', () => {
  const g = writeTinyCheckpoint(fresh(), { architecture: 'gpt2', format: 'torch-bin' });
  const tf = TorchBinFile.open(join(g.dir, 'pytorch_model.bin'));
  assert.ok(tf.names().includes('transformer.h.0.attn.c_attn.weight'));
  assert.ok(tf.names().includes('transformer.h.1.attn.masked_bias'));
  assert.equal(tf.ref('lm_head.weight').storage, tf.ref('transformer.wte.weight').storage);
  tf.close();
  const c = openCheckpoint(g.dir);
  assert.ok(!c.names().some((n) => n.includes('masked_bias')), 'buffers are not parameters');
  assert.ok(!c.has('h.0.attn.masked_bias'));
  assert.deepEqual(c.shape('h.0.attn.c_attn.weight'), [32, 96]);
  c.close();

  const l = writeTinyCheckpoint(fresh(), { architecture: 'llama', tied: true, qkvBias: true });
  const sf = SafetensorsFile.open(join(l.dir, 'model.safetensors'));
  assert.ok(sf.names().includes('model.layers.0.self_attn.q_proj.bias'));
  assert.ok(!sf.names().includes('lm_head.weight'), 'tied safetensors omit lm_head');
  sf.close();
  const lc = openCheckpoint(l.dir);
  assert.ok(lc.has('lm_head.weight'));
  assert.ok(!lc.names().includes('lm_head.weight'));
  assert.deepEqual(lc.tensor('lm_head.weight'), lc.tensor('embed_tokens.weight'));
  assert.equal(lc.config.nKvHead, 2);
  assert.deepEqual(lc.shape('layers.0.self_attn.k_proj.weight'), [16, 32]);
  lc.close();

  // Untied llama: lm_head is its own tensor.
  const u = writeTinyCheckpoint(fresh(), { architecture: 'llama' });
  const uc = openCheckpoint(u.dir);
  assert.ok(uc.names().includes('lm_head.weight'));
  assert.notDeepEqual(uc.tensor('lm_head.weight').data, uc.tensor('embed_tokens.weight').data);
  uc.close();
});

test('expectedTensorShapes lists every parameter with HF shapes (parameter count matches the closed form)', () => {
  const { config: g } = writeTinyCheckpoint(fresh(), { architecture: 'gpt2', nLayer: 3, dModel: 16, nHead: 2, maxPositions: 20 });
  const d = 16, V = TINY_VOCAB_SIZE, L = 3, P = 20;
  const gCount = [...expectedTensorShapes(g).values()].reduce((s, sh) => s + numel(sh), 0);
  // GPT-2: wte + wpe + L·(12d² + 13d) + 2d, plus the (tied) lm_head listed separately.
  assert.equal(gCount, V * d + P * d + L * (12 * d * d + 13 * d) + 2 * d + V * d);
  assert.deepEqual(expectedTensorShapes(g).get('h.2.mlp.c_fc.weight'), [16, 64]);

  const { config: l } = writeTinyCheckpoint(fresh(), { architecture: 'llama', nLayer: 2, dModel: 24, nHead: 6, nKvHead: 2, dFF: 40, qkvBias: true });
  const shapes = expectedTensorShapes(l);
  assert.deepEqual(shapes.get('layers.1.self_attn.q_proj.weight'), [24, 24]);
  assert.deepEqual(shapes.get('layers.1.self_attn.v_proj.weight'), [8, 24]);
  assert.deepEqual(shapes.get('layers.1.self_attn.k_proj.bias'), [8]);
  assert.deepEqual(shapes.get('layers.1.self_attn.o_proj.weight'), [24, 24]);
  assert.deepEqual(shapes.get('layers.0.mlp.down_proj.weight'), [24, 40]);
  const perLayer = 2 * 24 + 24 * 24 + 2 * 8 * 24 + (24 + 8 + 8) + 24 * 24 + 24 + 3 * 24 * 40; // norms, q, k/v, qkv bias, o, o bias, mlp
  const lCount = [...shapes.values()].reduce((s, sh) => s + numel(sh), 0);
  assert.equal(lCount, 2 * V * 24 + 2 * perLayer + 24);
});

test('generated weights: normal entries with the requested std, norm weights in [0.9, 1.1], config as HF writes it', () => {
  const v = tinyTensorValues('h.0.mlp.c_fc.weight', [200_000], 5, 0.02);
  let m = 0, s = 0, within = 0;
  for (const x of v) { m += x; s += x * x; if (Math.abs(x) < 0.02) within++; }
  m /= v.length;
  const sd = Math.sqrt(s / v.length - m * m);
  assert.ok(Math.abs(m) < 3 * 0.02 / Math.sqrt(v.length) * 1.5, `mean ${m}`);
  assert.ok(Math.abs(sd - 0.02) < 0.0002, `std ${sd}`);
  assert.ok(Math.abs(within / v.length - 0.6827) < 0.005, `P(|x|<σ) = ${within / v.length}`);
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959963984540054) < 1e-8);
  const norm = tinyTensorValues('layers.3.input_layernorm.weight', [1000], 5, 0.02);
  assert.ok(norm.every((x) => x >= 0.9 && x <= 1.1) && new Set(norm).size > 900);
  assert.deepEqual(tinyTensorValues('x', [10], 5, 0.02), tinyTensorValues('x', [10], 5, 0.02));
  assert.notDeepEqual(tinyTensorValues('x', [10], 5, 0.02), tinyTensorValues('x', [10], 6, 0.02));

  const { dir } = writeTinyCheckpoint(fresh(), { architecture: 'llama' });
  const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(raw.model_type, 'llama');
  assert.equal(raw.num_key_value_heads, 2);
  assert.equal(raw.eos_token_id, TINY_VOCAB_SIZE - 1);
  assert.ok(existsSync(join(dir, 'tokenizer.json')));
});

test('missing / mismatched inputs give AtlasErrors naming the folder or file', () => {
  const empty = fresh();
  assertAtlasError(() => openCheckpoint(empty), empty, 'not found');

  const noConfig = writeTinyCheckpoint(fresh(), { architecture: 'gpt2' }).dir;
  unlinkSync(join(noConfig, 'config.json'));
  assertAtlasError(() => openCheckpoint(noConfig), 'config.json', 'not found');

  const noWeights = writeTinyCheckpoint(fresh(), { architecture: 'gpt2' }).dir;
  unlinkSync(join(noWeights, 'model.safetensors'));
  assertAtlasError(() => openCheckpoint(noWeights), noWeights, 'model.safetensors', 'pytorch_model.bin');

  const sharded = writeTinyCheckpoint(fresh(), { architecture: 'llama', format: 'safetensors-sharded' }).dir;
  unlinkSync(join(sharded, 'model-00002-of-00002.safetensors'));
  assertAtlasError(() => openCheckpoint(sharded), 'model.safetensors.index.json', 'model-00002-of-00002.safetensors');

  // Index naming a tensor its shard does not hold.
  const lying = writeTinyCheckpoint(fresh(), { architecture: 'llama', format: 'safetensors-sharded' }).dir;
  const indexPath = join(lying, 'model.safetensors.index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8'));
  index.weight_map['model.norm.weight'] = 'model-00001-of-00002.safetensors';
  writeFileSync(indexPath, JSON.stringify(index));
  const lc = openCheckpoint(lying);
  assertAtlasError(() => lc.tensor('norm.weight'), 'model-00001-of-00002.safetensors', 'model.norm.weight');
  lc.close();

  // config.json disagreeing with the weights: shape error names file, tensor and both shapes.
  const wrong = writeTinyCheckpoint(fresh(), { architecture: 'gpt2', dModel: 32 }).dir;
  const cfgPath = join(wrong, 'config.json');
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), n_embd: 64 }));
  const wc = openCheckpoint(wrong);
  assertAtlasError(() => validateCheckpoint(wc), 'model.safetensors', 'wte.weight', `[${TINY_VOCAB_SIZE}, 32]`, `[${TINY_VOCAB_SIZE}, 64]`);
  assertAtlasError(() => wc.tensor('h.0.ln_1.weight', [64]), 'model.safetensors', 'h.0.ln_1.weight', '[32]', '[64]');
  assertAtlasError(() => wc.tensor('h.0.attn.c_atn.weight'), 'model.safetensors', "'h.0.attn.c_atn.weight' not found", 'h.0.attn.c_attn.weight');
  wc.close();

  // Missing tensor in a checkpoint that should have it.
  const partial = fresh();
  const full = writeTinyCheckpoint(partial, { architecture: 'gpt2', nLayer: 1 });
  const sf = SafetensorsFile.open(join(partial, 'model.safetensors'));
  const kept = sf.names().filter((n) => n !== 'transformer.ln_f.bias').map((n) => [n, sf.read(n)] as [string, ReturnType<typeof sf.read>]);
  sf.close();
  writeSafetensors(join(partial, 'model.safetensors'), kept);
  const pc = openCheckpoint(full.dir);
  assertAtlasError(() => validateCheckpoint(pc), 'model.safetensors', 'ln_f.bias', 'ln_f.weight');
  pc.close();

  // Corrupt weights surface with the weights file's name.
  const corrupt = writeTinyCheckpoint(fresh(), { architecture: 'gpt2' }).dir;
  writeFileSync(join(corrupt, 'model.safetensors'), Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 123]));
  assertAtlasError(() => openCheckpoint(corrupt), 'model.safetensors', 'larger than the file');

  const corruptBin = writeTinyCheckpoint(fresh(), { architecture: 'gpt2', format: 'torch-bin' }).dir;
  writeFileSync(join(corruptBin, 'pytorch_model.bin'), Buffer.from('garbage'));
  assertAtlasError(() => openCheckpoint(corruptBin), 'pytorch_model.bin');
});

test('priority: model.safetensors wins over pytorch_model.bin in the same folder', () => {
  const dir = fresh();
  writeTinyCheckpoint(dir, { architecture: 'gpt2', format: 'torch-bin', seed: 1 });
  writeTinyCheckpoint(dir, { architecture: 'gpt2', format: 'safetensors', seed: 2 });
  const c = openCheckpoint(dir);
  assert.equal(c.format, 'safetensors');
  assert.deepEqual(c.tensor('wpe.weight').data, tinyTensorValues('wpe.weight', [128, 32], 2, 0.02));
  c.close();
});

test('sharded pytorch_model.bin (pytorch_model.bin.index.json) loads like the single file', () => {
  const single = writeTinyCheckpoint(fresh(), { architecture: 'llama', format: 'torch-bin', seed: 9 });
  const sc = openCheckpoint(single.dir);
  const want = allTensors(sc);
  sc.close();
  const src = TorchBinFile.open(join(single.dir, 'pytorch_model.bin'));
  const names = src.names();
  const halves = [names.slice(0, 7), names.slice(7)];
  const weightMap: Record<string, string> = {};
  halves.forEach((group, i) => {
    const file = `pytorch_model-0000${i + 1}-of-00002.bin`;
    writeTorchBin(join(single.dir, file), group.map((n) => [n, src.read(n)] as [string, { shape: number[]; data: Float32Array }]));
    for (const n of group) weightMap[n] = file;
  });
  src.close();
  unlinkSync(join(single.dir, 'pytorch_model.bin'));
  writeFileSync(join(single.dir, 'pytorch_model.bin.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
  const c = openCheckpoint(single.dir);
  assert.equal(c.format, 'torch-bin-sharded');
  validateCheckpoint(c);
  assert.deepEqual(allTensors(c), want);
  c.close();
});
