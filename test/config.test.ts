import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig, loadConfig, SUPPORTED_MODEL_TYPES } from '../src/model/config.ts';
import { AtlasError } from '../src/errors.ts';

const gpt2 = { model_type: 'gpt2', n_embd: 768, n_head: 12, n_layer: 12, vocab_size: 50257, n_positions: 1024 };

test('gpt2 config: Hugging Face defaults are filled in', () => {
  const c = parseConfig(gpt2);
  assert.equal(c.dFF, 3072);
  assert.equal(c.headDim, 64);
  assert.equal(c.normEps, 1e-5);
  assert.equal(c.activation, 'gelu_new');
  assert.equal(c.tieWordEmbeddings, true);
  assert.equal(c.nKvHead, 12);
});

test('llama family: grouped-query heads, head_dim, Qwen2 q/k/v biases', () => {
  const c = parseConfig({ model_type: 'qwen2', hidden_size: 896, num_attention_heads: 14, num_key_value_heads: 2, num_hidden_layers: 24, intermediate_size: 4864, vocab_size: 151936, tie_word_embeddings: true });
  assert.equal(c.architecture, 'llama');
  assert.equal(c.headDim, 64);
  assert.equal(c.nKvHead, 2);
  assert.equal(c.qkvBias, true);
  assert.equal(c.attnOutBias, false);
  assert.equal(c.ropeTheta, 10000);
  const l = parseConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 128, vocab_size: 100 });
  assert.equal(l.qkvBias, false);
  assert.equal(l.tieWordEmbeddings, false);
  assert.equal(l.nKvHead, 4);
});

test('an unsupported architecture names the file and lists the supported ones', () => {
  assert.throws(() => parseConfig({ model_type: 't5' }, 'm/config.json'), (e: unknown) => {
    assert.ok(e instanceof AtlasError);
    assert.match(e.message, /m\/config\.json: field 'model_type': unsupported architecture 't5'/);
    for (const t of Object.keys(SUPPORTED_MODEL_TYPES)) assert.ok(e.message.includes(t), `lists ${t}`);
    return true;
  });
});

test('inconsistent or missing fields are named', () => {
  assert.throws(() => parseConfig({ ...gpt2, n_head: 7 }), /n_embd \(768\) is not divisible by n_head \(7\)/);
  assert.throws(() => parseConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 6, num_key_value_heads: 4, num_hidden_layers: 2, intermediate_size: 128, vocab_size: 100 }), /not a multiple of num_key_value_heads/);
  assert.throws(() => parseConfig({ model_type: 'gpt2', n_embd: 64, n_head: 4 }), /field 'n_layer': missing required field/);
  assert.throws(() => parseConfig({ ...gpt2, n_layer: '12' }), /field 'n_layer': expected a number/);
  assert.throws(() => parseConfig({ ...gpt2, activation_function: 'swish2' }), /unsupported activation 'swish2'/);
  assert.throws(() => parseConfig({ model_type: 'llama', hidden_size: 64, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 128, vocab_size: 100, rope_scaling: { rope_type: 'yarn', factor: 4 } }), /rope_scaling/);
});

test('loadConfig: missing file and invalid JSON are clear errors', () => {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-config-'));
  assert.throws(() => loadConfig(dir), /config\.json: not found \(a model folder needs/);
  writeFileSync(join(dir, 'config.json'), '{ "model_type": ');
  assert.throws(() => loadConfig(dir), /config\.json: is not valid JSON/);
});
