/**
 * Tiny random Hugging Face checkpoints of every family, as `save_pretrained` writes them: config.json with the
 * family's real keys, and the real stored tensor names (prefix and all; tied heads left out as HF leaves them
 * out). Deterministic from a seed (own PRNG), values rounded to float32, so that writing them as F32 is exact.
 *
 * Shapes are derived from the config AFTER `opts.config` overrides, so a test can change e.g. rotary_pct,
 * use_parallel_residual, softcapping or the head counts and still get a consistent checkpoint.
 *
 * Nothing here is imported from src/ (the safetensors writer is written out below on purpose).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { HfTensor, HfTensors } from './common.ts';

export const HF_FAMILIES = [
  'gpt2', 'llama', 'mistral', 'qwen2', 'bert', 'distilbert', 'roberta',
  'gpt_neox', 'gpt_neo', 'gptj', 'opt', 'gemma', 'gemma2', 'phi3',
] as const;
export type HfFamily = (typeof HF_FAMILIES)[number];

export interface TinyOpts {
  /** PRNG seed (default 1). */
  seed?: number;
  /** Keys merged over the family's tiny config.json (shapes follow them). */
  config?: Record<string, unknown>;
  /**
   * Save as the base model (`GPTNeoXModel.save_pretrained`, `BertModel`, …): no `gpt_neox.` / `model.` /
   * `transformer.` / `bert.` prefix and no head tensors (BERT / RoBERTa get their pooler instead).
   */
  baseModel?: boolean;
  /** Also store the non-persistent buffers old checkpoints carry (causal-mask `attn.bias`, `masked_bias`, rotary `inv_freq`). */
  buffers?: boolean;
}

export interface HfCheckpoint {
  family: HfFamily;
  config: Record<string, unknown>;
  tensors: HfTensors;
}

/** mulberry32: a tiny deterministic PRNG, uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const V = 96;
const D = 32;

/** The tiny config.json of each family: every key its config class writes, with small sizes. */
function baseConfig(family: HfFamily): Record<string, unknown> {
  const common = { torch_dtype: 'float32', transformers_version: '4.57.6' };
  switch (family) {
    case 'gpt2':
      return {
        architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', activation_function: 'gelu_new', attn_pdrop: 0.1,
        bos_token_id: V - 1, eos_token_id: V - 1, embd_pdrop: 0.1, initializer_range: 0.02, layer_norm_epsilon: 1e-5,
        n_ctx: 16, n_embd: D, n_head: 4, n_inner: null, n_layer: 2, n_positions: 16, reorder_and_upcast_attn: false,
        resid_pdrop: 0.1, scale_attn_by_inverse_layer_idx: false, scale_attn_weights: true, summary_activation: null,
        summary_first_dropout: 0.1, summary_proj_to_labels: true, summary_type: 'cls_index', summary_use_proj: true,
        use_cache: true, vocab_size: V, ...common,
      };
    case 'llama':
      return {
        architectures: ['LlamaForCausalLM'], model_type: 'llama', attention_bias: false, attention_dropout: 0,
        bos_token_id: 1, eos_token_id: 2, head_dim: 8, hidden_act: 'silu', hidden_size: D, initializer_range: 0.02,
        intermediate_size: 48, max_position_embeddings: 64, mlp_bias: false, num_attention_heads: 4, num_hidden_layers: 2,
        num_key_value_heads: 2, pretraining_tp: 1, rms_norm_eps: 1e-5, rope_scaling: null, rope_theta: 10000,
        tie_word_embeddings: false, use_cache: true, vocab_size: V, ...common,
      };
    case 'mistral':
      return {
        architectures: ['MistralForCausalLM'], model_type: 'mistral', attention_dropout: 0, bos_token_id: 1, eos_token_id: 2,
        head_dim: 8, hidden_act: 'silu', hidden_size: D, initializer_range: 0.02, intermediate_size: 48,
        max_position_embeddings: 64, num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 2,
        rms_norm_eps: 1e-5, rope_theta: 10000, sliding_window: 3, tie_word_embeddings: false, use_cache: true,
        vocab_size: V, ...common,
      };
    case 'qwen2':
      return {
        architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', attention_dropout: 0, bos_token_id: V - 2, eos_token_id: V - 2,
        hidden_act: 'silu', hidden_size: D, initializer_range: 0.02, intermediate_size: 48, layer_types: ['full_attention', 'full_attention'],
        max_position_embeddings: 64, max_window_layers: 2, num_attention_heads: 4, num_hidden_layers: 2,
        num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 1000000, sliding_window: null,
        tie_word_embeddings: true, use_cache: true, use_sliding_window: false, vocab_size: V, ...common,
      };
    case 'bert':
      return {
        architectures: ['BertForMaskedLM'], model_type: 'bert', attention_probs_dropout_prob: 0.1, classifier_dropout: null,
        hidden_act: 'gelu', hidden_dropout_prob: 0.1, hidden_size: D, initializer_range: 0.02, intermediate_size: 64,
        layer_norm_eps: 1e-12, max_position_embeddings: 32, num_attention_heads: 4, num_hidden_layers: 2, pad_token_id: 0,
        position_embedding_type: 'absolute', type_vocab_size: 2, use_cache: true, vocab_size: V, ...common,
      };
    case 'distilbert':
      return {
        architectures: ['DistilBertForMaskedLM'], model_type: 'distilbert', activation: 'gelu', attention_dropout: 0.1,
        dim: D, dropout: 0.1, hidden_dim: 64, initializer_range: 0.02, max_position_embeddings: 32, n_heads: 4, n_layers: 2,
        pad_token_id: 0, qa_dropout: 0.1, seq_classif_dropout: 0.2, sinusoidal_pos_embds: false, tie_weights_: true,
        vocab_size: V, ...common,
      };
    case 'roberta':
      return {
        architectures: ['RobertaForMaskedLM'], model_type: 'roberta', attention_probs_dropout_prob: 0.1, bos_token_id: 0,
        classifier_dropout: null, eos_token_id: 2, hidden_act: 'gelu', hidden_dropout_prob: 0.1, hidden_size: D,
        initializer_range: 0.02, intermediate_size: 64, layer_norm_eps: 1e-5, max_position_embeddings: 34,
        num_attention_heads: 4, num_hidden_layers: 2, pad_token_id: 1, position_embedding_type: 'absolute',
        type_vocab_size: 1, use_cache: true, vocab_size: V, ...common,
      };
    case 'gpt_neox':
      return {
        architectures: ['GPTNeoXForCausalLM'], model_type: 'gpt_neox', attention_bias: true, attention_dropout: 0,
        bos_token_id: 0, classifier_dropout: 0.1, eos_token_id: 0, hidden_act: 'gelu', hidden_dropout: 0, hidden_size: D,
        initializer_range: 0.02, intermediate_size: 64, layer_norm_eps: 1e-5, max_position_embeddings: 64,
        num_attention_heads: 4, num_hidden_layers: 2, partial_rotary_factor: 0.5, rope_scaling: null, rope_theta: 10000,
        rotary_emb_base: 10000, rotary_pct: 0.5, tie_word_embeddings: false, use_cache: true, use_parallel_residual: true,
        vocab_size: V, ...common,
      };
    case 'gpt_neo':
      return {
        architectures: ['GPTNeoForCausalLM'], model_type: 'gpt_neo', activation_function: 'gelu_new',
        attention_dropout: 0, attention_layers: ['global', 'local'], attention_types: [[['global', 'local'], 1]],
        bos_token_id: V - 1, classifier_dropout: 0.1, embed_dropout: 0, eos_token_id: V - 1, hidden_size: D,
        initializer_range: 0.02, intermediate_size: null, layer_norm_epsilon: 1e-5, max_position_embeddings: 16,
        num_heads: 4, num_layers: 2, resid_dropout: 0, use_cache: true, vocab_size: V, window_size: 3, ...common,
      };
    case 'gptj':
      return {
        architectures: ['GPTJForCausalLM'], model_type: 'gptj', activation_function: 'gelu_new', attn_pdrop: 0,
        bos_token_id: V - 1, embd_pdrop: 0, eos_token_id: V - 1, initializer_range: 0.02, layer_norm_epsilon: 1e-5,
        n_embd: D, n_head: 4, n_inner: null, n_layer: 2, n_positions: 16, resid_pdrop: 0, rotary_dim: 4,
        tie_word_embeddings: false, use_cache: true, vocab_size: V, ...common,
      };
    case 'opt':
      return {
        architectures: ['OPTForCausalLM'], model_type: 'opt', _remove_final_layer_norm: false, activation_dropout: 0,
        activation_function: 'relu', attention_dropout: 0, bos_token_id: 2, do_layer_norm_before: true, dropout: 0.1,
        enable_bias: true, eos_token_id: 2, ffn_dim: 64, hidden_size: D, init_std: 0.02, layer_norm_elementwise_affine: true,
        layerdrop: 0, max_position_embeddings: 16, num_attention_heads: 4, num_hidden_layers: 2, pad_token_id: 1,
        prefix: '</s>', use_cache: true, vocab_size: V, word_embed_proj_dim: D, ...common,
      };
    case 'gemma':
      return {
        architectures: ['GemmaForCausalLM'], model_type: 'gemma', attention_bias: false, attention_dropout: 0,
        bos_token_id: 2, eos_token_id: 1, head_dim: 12, hidden_act: 'gelu_pytorch_tanh', hidden_activation: 'gelu_pytorch_tanh',
        hidden_size: D, initializer_range: 0.02, intermediate_size: 48, max_position_embeddings: 64, num_attention_heads: 4,
        num_hidden_layers: 2, num_key_value_heads: 1, pad_token_id: 0, rms_norm_eps: 1e-6, rope_scaling: null,
        rope_theta: 10000, use_cache: true, vocab_size: V, ...common,
      };
    case 'gemma2':
      return {
        architectures: ['Gemma2ForCausalLM'], model_type: 'gemma2', attention_bias: false, attention_dropout: 0,
        attn_logit_softcapping: 3.0, bos_token_id: 2, cache_implementation: 'hybrid', eos_token_id: 1,
        final_logit_softcapping: 4.0, head_dim: 12, hidden_act: 'gelu_pytorch_tanh', hidden_activation: 'gelu_pytorch_tanh',
        hidden_size: D, initializer_range: 0.02, intermediate_size: 48, layer_types: ['sliding_attention', 'full_attention', 'sliding_attention'],
        max_position_embeddings: 64, num_attention_heads: 4, num_hidden_layers: 3, num_key_value_heads: 2,
        pad_token_id: 0, query_pre_attn_scalar: 8, rms_norm_eps: 1e-6, rope_scaling: null, rope_theta: 10000,
        sliding_window: 3, use_cache: true, vocab_size: V, ...common,
      };
    case 'phi3':
      return {
        architectures: ['Phi3ForCausalLM'], model_type: 'phi3', attention_bias: false, attention_dropout: 0, bos_token_id: 1,
        embd_pdrop: 0, eos_token_id: V - 2, hidden_act: 'silu', hidden_size: D, initializer_range: 0.02, intermediate_size: 48,
        max_position_embeddings: 64, num_attention_heads: 4, num_hidden_layers: 2, num_key_value_heads: 2,
        original_max_position_embeddings: 64, pad_token_id: V - 2, partial_rotary_factor: 1.0, resid_pdrop: 0,
        rms_norm_eps: 1e-5, rope_scaling: null, rope_theta: 10000, sliding_window: null, tie_word_embeddings: false,
        use_cache: true, vocab_size: V, ...common,
      };
  }
}

type Kind = 'w' | 'emb' | 'pos' | 'norm' | 'gnorm' | 'bias' | 'buffer';
type Entry = [name: string, shape: number[], kind: Kind];

const num = (c: Record<string, unknown>, k: string, dflt?: number): number => {
  const v = c[k];
  if (typeof v === 'number') return v;
  if (dflt !== undefined) return dflt;
  throw new Error(`tinyHfCheckpoint: config has no number '${k}'`);
};

/** Every stored tensor of a family's checkpoint, from its config. */
function entries(family: HfFamily, c: Record<string, unknown>, o: TinyOpts): Entry[] {
  const e: Entry[] = [];
  const base = !!o.baseModel, buf = !!o.buffers;
  const lin = (name: string, out: number, inp: number, bias: boolean): void => {
    e.push([`${name}.weight`, [out, inp], 'w']);
    if (bias) e.push([`${name}.bias`, [out], 'bias']);
  };
  const ln = (name: string, d: number, bias = true): void => {
    e.push([`${name}.weight`, [d], 'norm']);
    if (bias) e.push([`${name}.bias`, [d], 'bias']);
  };
  const Vc = num(c, 'vocab_size');
  switch (family) {
    case 'gpt2': {
      const p = base ? '' : 'transformer.';
      const d = num(c, 'n_embd'), f = num(c, 'n_inner', 4 * d), P = num(c, 'n_positions');
      e.push([`${p}wte.weight`, [Vc, d], 'emb'], [`${p}wpe.weight`, [P, d], 'pos']);
      for (let l = 0; l < num(c, 'n_layer'); l++) {
        const q = `${p}h.${l}`;
        ln(`${q}.ln_1`, d);
        if (buf) e.push([`${q}.attn.bias`, [1, 1, P, P], 'buffer'], [`${q}.attn.masked_bias`, [], 'buffer']);
        // Conv1D stores [in, out]
        e.push([`${q}.attn.c_attn.weight`, [d, 3 * d], 'w'], [`${q}.attn.c_attn.bias`, [3 * d], 'bias']);
        e.push([`${q}.attn.c_proj.weight`, [d, d], 'w'], [`${q}.attn.c_proj.bias`, [d], 'bias']);
        ln(`${q}.ln_2`, d);
        e.push([`${q}.mlp.c_fc.weight`, [d, f], 'w'], [`${q}.mlp.c_fc.bias`, [f], 'bias']);
        e.push([`${q}.mlp.c_proj.weight`, [f, d], 'w'], [`${q}.mlp.c_proj.bias`, [d], 'bias']);
      }
      ln(`${p}ln_f`, d);
      if (!base && c.tie_word_embeddings === false) lin('lm_head', Vc, d, false);
      return e;
    }
    case 'llama': case 'mistral': case 'qwen2': case 'gemma': case 'gemma2': case 'phi3': {
      const p = base ? '' : 'model.';
      const d = num(c, 'hidden_size'), H = num(c, 'num_attention_heads'), KV = num(c, 'num_key_value_heads', H);
      const hd = num(c, 'head_dim', d / H), f = num(c, 'intermediate_size');
      const gemma = family === 'gemma' || family === 'gemma2';
      const qkvBias = family === 'qwen2' || c.attention_bias === true;
      const oBias = family !== 'qwen2' && c.attention_bias === true;
      const mlpBias = c.mlp_bias === true;
      const norm = (name: string): void => void e.push([`${name}.weight`, [d], gemma ? 'gnorm' : 'norm']);
      e.push([`${p}embed_tokens.weight`, [Vc, d], 'emb']);
      for (let l = 0; l < num(c, 'num_hidden_layers'); l++) {
        const q = `${p}layers.${l}`;
        norm(`${q}.input_layernorm`);
        if (family === 'phi3') {
          lin(`${q}.self_attn.qkv_proj`, (H + 2 * KV) * hd, d, false);
        } else {
          lin(`${q}.self_attn.q_proj`, H * hd, d, qkvBias);
          lin(`${q}.self_attn.k_proj`, KV * hd, d, qkvBias);
          lin(`${q}.self_attn.v_proj`, KV * hd, d, qkvBias);
        }
        lin(`${q}.self_attn.o_proj`, d, H * hd, oBias);
        if (buf) e.push([`${q}.self_attn.rotary_emb.inv_freq`, [hd / 2], 'buffer']);
        norm(`${q}.post_attention_layernorm`);
        if (family === 'gemma2') norm(`${q}.pre_feedforward_layernorm`);
        if (family === 'phi3') {
          lin(`${q}.mlp.gate_up_proj`, 2 * f, d, false);
        } else {
          lin(`${q}.mlp.gate_proj`, f, d, mlpBias);
          lin(`${q}.mlp.up_proj`, f, d, mlpBias);
        }
        lin(`${q}.mlp.down_proj`, d, f, mlpBias);
        if (family === 'gemma2') norm(`${q}.post_feedforward_layernorm`);
      }
      norm(`${p}norm`);
      const tied = c.tie_word_embeddings ?? (gemma ? true : false);
      if (!base && tied === false) lin('lm_head', Vc, d, false);
      return e;
    }
    case 'bert': case 'roberta': {
      const p = base ? '' : `${family}.`;
      const d = num(c, 'hidden_size'), f = num(c, 'intermediate_size'), P = num(c, 'max_position_embeddings');
      e.push([`${p}embeddings.word_embeddings.weight`, [Vc, d], 'emb'], [`${p}embeddings.position_embeddings.weight`, [P, d], 'pos']);
      e.push([`${p}embeddings.token_type_embeddings.weight`, [num(c, 'type_vocab_size'), d], 'pos']);
      ln(`${p}embeddings.LayerNorm`, d);
      if (buf) e.push([`${p}embeddings.position_ids`, [1, P], 'buffer']);
      for (let l = 0; l < num(c, 'num_hidden_layers'); l++) {
        const q = `${p}encoder.layer.${l}`;
        for (const m of ['query', 'key', 'value']) lin(`${q}.attention.self.${m}`, d, d, true);
        lin(`${q}.attention.output.dense`, d, d, true);
        ln(`${q}.attention.output.LayerNorm`, d);
        lin(`${q}.intermediate.dense`, f, d, true);
        lin(`${q}.output.dense`, d, f, true);
        ln(`${q}.output.LayerNorm`, d);
      }
      if (base) {
        lin('pooler.dense', d, d, true);
      } else if (family === 'bert') {
        lin('cls.predictions.transform.dense', d, d, true);
        ln('cls.predictions.transform.LayerNorm', d);
        e.push(['cls.predictions.bias', [Vc], 'bias']);
      } else {
        lin('lm_head.dense', d, d, true);
        ln('lm_head.layer_norm', d);
        e.push(['lm_head.bias', [Vc], 'bias']);
      }
      return e;
    }
    case 'distilbert': {
      const p = base ? '' : 'distilbert.';
      const d = num(c, 'dim'), f = num(c, 'hidden_dim');
      e.push([`${p}embeddings.word_embeddings.weight`, [Vc, d], 'emb'], [`${p}embeddings.position_embeddings.weight`, [num(c, 'max_position_embeddings'), d], 'pos']);
      ln(`${p}embeddings.LayerNorm`, d);
      for (let l = 0; l < num(c, 'n_layers'); l++) {
        const q = `${p}transformer.layer.${l}`;
        for (const m of ['q_lin', 'k_lin', 'v_lin', 'out_lin']) lin(`${q}.attention.${m}`, d, d, true);
        ln(`${q}.sa_layer_norm`, d);
        lin(`${q}.ffn.lin1`, f, d, true);
        lin(`${q}.ffn.lin2`, d, f, true);
        ln(`${q}.output_layer_norm`, d);
      }
      if (!base) {
        lin('vocab_transform', d, d, true);
        ln('vocab_layer_norm', d);
        e.push(['vocab_projector.bias', [Vc], 'bias']);
      }
      return e;
    }
    case 'gpt_neox': {
      const p = base ? '' : 'gpt_neox.';
      const d = num(c, 'hidden_size'), f = num(c, 'intermediate_size'), bias = c.attention_bias !== false;
      const H = num(c, 'num_attention_heads'), P = num(c, 'max_position_embeddings');
      e.push([`${p}embed_in.weight`, [Vc, d], 'emb']);
      for (let l = 0; l < num(c, 'num_hidden_layers'); l++) {
        const q = `${p}layers.${l}`;
        ln(`${q}.input_layernorm`, d);
        ln(`${q}.post_attention_layernorm`, d);
        if (buf) {
          const rot = Math.floor((d / H) * num(c, 'rotary_pct', 0.25));
          e.push([`${q}.attention.bias`, [1, 1, P, P], 'buffer'], [`${q}.attention.masked_bias`, [], 'buffer']);
          e.push([`${q}.attention.rotary_emb.inv_freq`, [rot / 2], 'buffer']);
        }
        lin(`${q}.attention.query_key_value`, 3 * d, d, bias);
        lin(`${q}.attention.dense`, d, d, bias);
        lin(`${q}.mlp.dense_h_to_4h`, f, d, true);
        lin(`${q}.mlp.dense_4h_to_h`, d, f, true);
      }
      ln(`${p}final_layer_norm`, d);
      if (!base && c.tie_word_embeddings !== true) lin('embed_out', Vc, d, false);
      return e;
    }
    case 'gpt_neo': {
      const p = base ? '' : 'transformer.';
      const d = num(c, 'hidden_size'), f = num(c, 'intermediate_size', 4 * d), P = num(c, 'max_position_embeddings');
      e.push([`${p}wte.weight`, [Vc, d], 'emb'], [`${p}wpe.weight`, [P, d], 'pos']);
      for (let l = 0; l < num(c, 'num_layers'); l++) {
        const q = `${p}h.${l}`;
        ln(`${q}.ln_1`, d);
        if (buf) e.push([`${q}.attn.attention.bias`, [1, 1, P, P], 'buffer'], [`${q}.attn.attention.masked_bias`, [], 'buffer']);
        lin(`${q}.attn.attention.k_proj`, d, d, false);
        lin(`${q}.attn.attention.v_proj`, d, d, false);
        lin(`${q}.attn.attention.q_proj`, d, d, false);
        lin(`${q}.attn.attention.out_proj`, d, d, true);
        ln(`${q}.ln_2`, d);
        lin(`${q}.mlp.c_fc`, f, d, true);
        lin(`${q}.mlp.c_proj`, d, f, true);
      }
      ln(`${p}ln_f`, d);
      if (!base && c.tie_word_embeddings === false) lin('lm_head', Vc, d, false);
      return e;
    }
    case 'gptj': {
      const p = base ? '' : 'transformer.';
      const d = num(c, 'n_embd'), f = num(c, 'n_inner', 4 * d), P = num(c, 'n_positions');
      e.push([`${p}wte.weight`, [Vc, d], 'emb']);
      for (let l = 0; l < num(c, 'n_layer'); l++) {
        const q = `${p}h.${l}`;
        ln(`${q}.ln_1`, d);
        if (buf) e.push([`${q}.attn.bias`, [1, 1, P, P], 'buffer'], [`${q}.attn.masked_bias`, [], 'buffer']);
        for (const m of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) lin(`${q}.attn.${m}`, d, d, false);
        lin(`${q}.mlp.fc_in`, f, d, true);
        lin(`${q}.mlp.fc_out`, d, f, true);
      }
      ln(`${p}ln_f`, d);
      if (!base) lin('lm_head', Vc, d, true);
      return e;
    }
    case 'opt': {
      const p = base ? 'decoder.' : 'model.decoder.';
      const d = num(c, 'hidden_size'), f = num(c, 'ffn_dim'), bias = c.enable_bias !== false;
      if (num(c, 'word_embed_proj_dim', d) !== d) throw new Error('tinyHfCheckpoint opt: word_embed_proj_dim ≠ hidden_size (project_in/out) is not generated');
      e.push([`${p}embed_tokens.weight`, [Vc, d], 'emb'], [`${p}embed_positions.weight`, [num(c, 'max_position_embeddings') + 2, d], 'pos']);
      if (c.do_layer_norm_before !== false && c._remove_final_layer_norm !== true) ln(`${p}final_layer_norm`, d);
      for (let l = 0; l < num(c, 'num_hidden_layers'); l++) {
        const q = `${p}layers.${l}`;
        for (const m of ['k_proj', 'v_proj', 'q_proj', 'out_proj']) lin(`${q}.self_attn.${m}`, d, d, bias);
        ln(`${q}.self_attn_layer_norm`, d);
        lin(`${q}.fc1`, f, d, bias);
        lin(`${q}.fc2`, d, f, bias);
        ln(`${q}.final_layer_norm`, d);
      }
      if (!base && c.tie_word_embeddings === false) lin('lm_head', Vc, d, false);
      return e;
    }
  }
}

/** A tiny checkpoint of `family` (see TinyOpts). */
export function tinyHfCheckpoint(family: HfFamily, opts: TinyOpts = {}): HfCheckpoint {
  const config: Record<string, unknown> = { ...baseConfig(family), ...(opts.config ?? {}) };
  if (opts.baseModel) config.architectures = [String((config.architectures as string[])[0]).replace(/For(CausalLM|MaskedLM)$|LMHeadModel$/, 'Model')];
  const rnd = prng(opts.seed ?? 1);
  const u = (): number => rnd() * 2 - 1;
  const tensors: HfTensors = new Map();
  for (const [name, shape, kind] of entries(family, config, opts)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    // GPT-2's Conv1D stores [in, out]; every other matrix is nn.Linear [out, in].
    const fanIn = kind !== 'w' ? 1 : family === 'gpt2' && !name.startsWith('lm_head') ? shape[0]! : shape[1]!;
    for (let i = 0; i < n; i++) {
      let v: number;
      switch (kind) {
        case 'w': v = (1.3 * Math.sqrt(3) * u()) / Math.sqrt(fanIn); break;
        case 'emb': v = u(); break;
        case 'pos': v = 0.5 * u(); break;
        case 'norm': v = 1 + 0.3 * u(); break;
        case 'gnorm': v = 0.3 * u(); break;
        case 'bias': v = 0.2 * u(); break;
        case 'buffer': v = name.endsWith('masked_bias') ? -1e4 : 1; break;
      }
      data[i] = Math.fround(v);
    }
    if (kind === 'buffer' && name.endsWith('inv_freq')) for (let i = 0; i < n; i++) data[i] = Math.fround(1 / Math.pow(10000, (2 * i) / (2 * n)));
    if (kind === 'buffer' && shape.length === 4) for (let i = 0; i < n; i++) data[i] = (i % shape[3]!) <= Math.floor(i / shape[3]!) % shape[2]! ? 1 : 0;
    tensors.set(name, { shape, data });
  }
  return { family, config, tensors };
}

// ---------------------------------------------------------------------------------------------------------
// Writing: config.json + model.safetensors

export type StoreDtype = 'F32' | 'F16' | 'BF16' | 'F64';

/** IEEE half from a double, round to nearest even (handles subnormals; no NaN/Inf in our data). */
export function toF16(x: number): number {
  const f = new Float32Array([x]);
  const b = new Uint32Array(f.buffer)[0]!;
  const sign = (b >>> 16) & 0x8000;
  const e = (b >>> 23) & 0xff;
  const m = b & 0x7fffff;
  if (e === 0xff) return sign | 0x7c00 | (m ? 0x200 : 0);
  const ee = e - 127 + 15;
  if (ee >= 0x1f) return sign | 0x7c00;
  if (ee <= 0) {
    if (ee < -10) return sign;
    const mm = m | 0x800000;
    const shift = 14 - ee;
    let h = mm >>> shift;
    const rem = mm & ((1 << shift) - 1), halfway = 1 << (shift - 1);
    if (rem > halfway || (rem === halfway && (h & 1))) h++;
    return sign | h;
  }
  let h = (ee << 10) | (m >>> 13);
  const rem = m & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && (h & 1))) h++;
  return sign | h;
}

function fromF16(h: number): number {
  const s = h & 0x8000 ? -1 : 1, e = (h >>> 10) & 0x1f, m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 0x1f) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

export function toBF16(x: number): number {
  const b = new Uint32Array(new Float32Array([x]).buffer)[0]!;
  const lsb = (b >>> 16) & 1;
  return ((b + 0x7fff + lsb) >>> 16) & 0xffff;
}

function fromBF16(h: number): number {
  return new Float32Array(new Uint32Array([h << 16]).buffer)[0]!;
}

/** The values as they are after a round trip through `dtype` (what the runtime will read). */
export function roundTo(x: Float64Array, dtype: StoreDtype): Float64Array {
  switch (dtype) {
    case 'F64': return Float64Array.from(x);
    case 'F32': return Float64Array.from(x, Math.fround);
    case 'F16': return Float64Array.from(x, (v) => fromF16(toF16(v)));
    case 'BF16': return Float64Array.from(x, (v) => fromBF16(toBF16(v)));
  }
}

/** The checkpoint with every tensor rounded through `dtype` (run the reference on this after writing F16 / BF16). */
export function roundCheckpoint(ckpt: HfCheckpoint, dtype: StoreDtype): HfCheckpoint {
  const tensors: HfTensors = new Map();
  for (const [n, t] of ckpt.tensors) tensors.set(n, { shape: t.shape, data: roundTo(t.data, dtype) });
  return { ...ckpt, tensors };
}

/** safetensors bytes: u64 LE header length, JSON header (offsets relative to the data), raw LE data. */
export function safetensorsBytes(tensors: Map<string, HfTensor>, dtype: StoreDtype): Buffer {
  const width = { F64: 8, F32: 4, F16: 2, BF16: 2 }[dtype];
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype, shape: t.shape, data_offsets: [off, off + t.data.length * width] };
    off += t.data.length * width;
  }
  let json = JSON.stringify(header);
  while ((8 + Buffer.byteLength(json)) % 8 !== 0) json += ' ';
  const hbytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + hbytes.length + off);
  out.writeBigUInt64LE(BigInt(hbytes.length), 0);
  hbytes.copy(out, 8);
  let p = 8 + hbytes.length;
  for (const t of tensors.values()) {
    for (const v of t.data) {
      if (dtype === 'F64') out.writeDoubleLE(v, p);
      else if (dtype === 'F32') out.writeFloatLE(v, p);
      else out.writeUInt16LE(dtype === 'F16' ? toF16(v) : toBF16(v), p);
      p += width;
    }
  }
  return out;
}

/**
 * Writes `dir`/config.json and `dir`/model.safetensors (torch_dtype set to match). Returns the checkpoint as
 * stored, i.e. rounded through `dtype`: feed THAT to hfReferenceForward.
 */
export function writeHfCheckpoint(dir: string, ckpt: HfCheckpoint, dtype: StoreDtype = 'F32'): HfCheckpoint {
  mkdirSync(dir, { recursive: true });
  const torchDtype = { F64: 'float64', F32: 'float32', F16: 'float16', BF16: 'bfloat16' }[dtype];
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...ckpt.config, torch_dtype: torchDtype }, null, 2) + '\n');
  writeFileSync(join(dir, 'model.safetensors'), safetensorsBytes(ckpt.tensors, dtype));
  return roundCheckpoint(ckpt, dtype);
}

/** Reads a safetensors file (F64 / F32 / F16 / BF16) into float64 tensors; written here so tests need nothing from src/. */
export function readSafetensors(path: string): HfTensors {
  const buf = readFileSync(path);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: StoreDtype; shape: number[]; data_offsets: [number, number] }>;
  const tensors: HfTensors = new Map();
  for (const [name, e] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const width = { F64: 8, F32: 4, F16: 2, BF16: 2 }[e.dtype];
    if (!width) throw new Error(`readSafetensors ${path}: '${name}' has dtype ${e.dtype}`);
    const start = 8 + n + e.data_offsets[0];
    const count = (e.data_offsets[1] - e.data_offsets[0]) / width;
    const data = new Float64Array(count);
    for (let i = 0; i < count; i++) {
      const p = start + i * width;
      data[i] = e.dtype === 'F64' ? buf.readDoubleLE(p) : e.dtype === 'F32' ? buf.readFloatLE(p)
        : e.dtype === 'F16' ? fromF16(buf.readUInt16LE(p)) : fromBF16(buf.readUInt16LE(p));
    }
    tensors.set(name, { shape: e.shape, data });
  }
  return tensors;
}

/** config.json + model.safetensors of a checkpoint folder. */
export function readHfCheckpoint(dir: string, family: HfFamily): HfCheckpoint {
  return {
    family,
    config: JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, unknown>,
    tensors: readSafetensors(join(dir, 'model.safetensors')),
  };
}
