/**
 * llama2.c checkpoints (karpathy/llama2.c): a `.bin` holding a small header and the float32 (or Q8_0) tensors
 * of a Llama model in a fixed order. Three layouts, as written by llama2.c's export.py:
 *  - version 0 (legacy_export, what run.c reads): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *    vocab_size — negative when the classifier is not shared with the embedding — seq_len), then
 *    token_embedding, rms_att, wq, wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real and freq_cis_imag
 *    (seq_len * head_size / 2 each, skipped: recomputed from rope_theta), wcls when untied;
 *  - version 1 (version1_export): a 256-byte header (uint32 magic "ak42" = 0x616b3432, int32 version, the 7
 *    int32, uint8 shared_classifier), then rms_att, rms_ffn, rms_final, token_embedding, wq, wk, wv, wo, w1, w2,
 *    w3, wcls when untied, all float32;
 *  - version 2 (version2_export, runq.c): the same header plus int32 group_size at byte 37; the norms in
 *    float32, then token_embedding, wq, wk, wv, wo, w1, w2, w3 (and wcls) each as int8 values followed by one
 *    float32 scale per group (Q8_0), dequantized here to float32.
 *
 * The weights are served under Hugging Face LlamaForCausalLM's stored names, with a LlamaConfig-shaped config,
 * so the Llama runtime reads them as it reads any HF checkpoint. llama2.c rotates interleaved pairs (2i, 2i+1)
 * of each head; HF rotates the halves (i, i + head_dim/2). HF's convert_llama_weights permutes q/k rows from
 * the first to the second layout (llama2.c's export.py `permute_reverse` undoes it); `permuteRotaryRows` applies
 * that permutation to wq/wk here. Tensors are read one at a time, by offset.
 */
import { closeSync, existsSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AtlasError } from '../errors.ts';
import type { F32Tensor } from './tensor.ts';

export const LLAMA2C_MAGIC = 0x616b3432; // "ak42" read as a little-endian uint32
const HEADER_BYTES = 256;

export interface Llama2cHeader {
  version: 0 | 1 | 2;
  dim: number;
  hiddenDim: number;
  nLayers: number;
  nHeads: number;
  nKvHeads: number;
  vocabSize: number;
  seqLen: number;
  sharedClassifier: boolean;
  /** Q8_0 group size (version 2 only). */
  groupSize?: number;
  /** Byte offset of the first tensor. */
  dataOffset: number;
}

export interface Llama2cWeights {
  file: string;
  header: Llama2cHeader;
  /** A Hugging Face LlamaConfig object describing the checkpoint (what config.json would hold). */
  config: Record<string, unknown>;
  names(): string[];
  has(name: string): boolean;
  shape(name: string): number[];
  read(name: string): F32Tensor;
  close(): void;
}

interface Stored {
  shape: number[];
  offset: number;
  /** f32: float32 values; q8: int8 values then float32 scales, one per group. */
  kind: 'f32' | 'q8';
  /** Rotary permutation (llama2.c interleaved → HF half-split) for wq / wk, by head count. */
  rotaryHeads?: number;
}

function readAt(fd: number, offset: number, length: number): Buffer {
  const buf = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, done, length - done, offset + done);
    if (n === 0) break;
    done += n;
  }
  return buf.subarray(0, done);
}

/** Parses the header at the start of a llama2.c checkpoint. */
export function parseLlama2cHeader(head: Buffer, file: string): Llama2cHeader {
  if (head.length < 28) throw new AtlasError(`is too short for a llama2.c header (${head.length} bytes, need at least 28)`, { file });
  const magic = head.readUInt32LE(0);
  let version: 0 | 1 | 2 = 0;
  let p = 0;
  if (magic === LLAMA2C_MAGIC) {
    if (head.length < HEADER_BYTES) throw new AtlasError(`is too short for a versioned llama2.c header (${head.length} bytes, need ${HEADER_BYTES})`, { file, field: 'header' });
    const v = head.readInt32LE(4);
    if (v !== 1 && v !== 2) {
      throw new AtlasError(`has llama2.c version ${v}; supported: 0 (legacy), 1 (float32), 2 (int8 Q8_0)`, { file, field: 'version', hint: 're-export with llama2.c export.py --version 0, 1 or 2' });
    }
    version = v;
    p = 8;
  }
  const ints = Array.from({ length: 7 }, (_, i) => head.readInt32LE(p + 4 * i));
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabRaw, seqLen] = ints as [number, number, number, number, number, number, number];
  const names = ['dim', 'hidden_dim', 'n_layers', 'n_heads', 'n_kv_heads', 'vocab_size', 'seq_len'];
  const hint = version === 0 && magic !== LLAMA2C_MAGIC && (head.subarray(0, 2).toString('latin1') === 'PK' || head[0] === 0x80)
    ? 'this looks like a PyTorch file, not a llama2.c export'
    : 'is this a llama2.c checkpoint (export.py / model.bin)?';
  ints.forEach((v, i) => {
    const value = i === 5 ? Math.abs(v) : v;
    if (!(value > 0 && value < 1 << 24)) {
      throw new AtlasError(`header value ${v} is not a plausible size${version === 0 && magic >>> 16 === 0x616b ? ' (a versioned header with a bad magic?)' : ''}`, { file, field: names[i], hint });
    }
  });
  if (dim % nHeads !== 0) throw new AtlasError(`dim ${dim} is not divisible by n_heads ${nHeads}`, { file, field: 'n_heads', hint });
  if (nHeads % nKvHeads !== 0) throw new AtlasError(`n_heads ${nHeads} is not a multiple of n_kv_heads ${nKvHeads}`, { file, field: 'n_kv_heads', hint });
  if ((dim / nHeads) % 2 !== 0) throw new AtlasError(`head size ${dim / nHeads} is odd; rotary embeddings need pairs`, { file, field: 'n_heads', hint });
  const header: Llama2cHeader = {
    version, dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocabRaw), seqLen,
    sharedClassifier: version === 0 ? vocabRaw > 0 : head[36] !== 0,
    dataOffset: version === 0 ? 28 : HEADER_BYTES,
  };
  if (version === 2) {
    const g = head.readInt32LE(37);
    if (!(g > 0) || dim % g !== 0) throw new AtlasError(`group_size ${g} must be a positive divisor of dim ${dim}`, { file, field: 'group_size' });
    header.groupSize = g;
  }
  return header;
}

/** The HF LlamaConfig a llama2.c model corresponds to (run.c: RMSNorm eps 1e-5, rotary base 10000, BOS 1, EOS 2). */
export function llama2cConfig(h: Llama2cHeader): Record<string, unknown> {
  return {
    model_type: 'llama',
    architectures: ['LlamaForCausalLM'],
    hidden_size: h.dim,
    intermediate_size: h.hiddenDim,
    num_hidden_layers: h.nLayers,
    num_attention_heads: h.nHeads,
    num_key_value_heads: h.nKvHeads,
    vocab_size: h.vocabSize,
    max_position_embeddings: h.seqLen,
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    hidden_act: 'silu',
    tie_word_embeddings: h.sharedClassifier,
    bos_token_id: 1,
    eos_token_id: 2,
  };
}

/** The tensors of each layout, in file order, as [HF stored name, shape, rotary heads]. */
function layout(h: Llama2cHeader): { name: string; shape: number[]; rotaryHeads?: number; q8?: boolean; skip?: number }[] {
  const { dim: d, hiddenDim: f, nLayers: L, nHeads: H, nKvHeads: KV, vocabSize: V, seqLen } = h;
  const hd = d / H;
  const perLayer = (name: string, shape: number[], rotaryHeads?: number): { name: string; shape: number[]; rotaryHeads?: number }[] =>
    Array.from({ length: L }, (_, l) => ({ name: `model.layers.${l}.${name}`, shape, rotaryHeads }));
  const emb = { name: 'model.embed_tokens.weight', shape: [V, d] };
  const attNorm = perLayer('input_layernorm.weight', [d]);
  const ffnNorm = perLayer('post_attention_layernorm.weight', [d]);
  const finalNorm = { name: 'model.norm.weight', shape: [d] };
  const matrices = [
    ...perLayer('self_attn.q_proj.weight', [H * hd, d], H),
    ...perLayer('self_attn.k_proj.weight', [KV * hd, d], KV),
    ...perLayer('self_attn.v_proj.weight', [KV * hd, d]),
    ...perLayer('self_attn.o_proj.weight', [d, H * hd]),
  ];
  // llama2.c: w1 = gate (silu branch), w2 = down, w3 = up; HF names them gate_proj, down_proj, up_proj.
  const mlp = [...perLayer('mlp.gate_proj.weight', [f, d]), ...perLayer('mlp.down_proj.weight', [d, f]), ...perLayer('mlp.up_proj.weight', [f, d])];
  const cls = h.sharedClassifier ? [] : [{ name: 'lm_head.weight', shape: [V, d] }];
  if (h.version === 0) {
    return [emb, ...attNorm, ...matrices, ...ffnNorm, ...mlp, finalNorm, { name: '', shape: [], skip: seqLen * hd }, ...cls];
  }
  if (h.version === 1) return [...attNorm, ...ffnNorm, finalNorm, emb, ...matrices, ...mlp, ...cls];
  return [...attNorm, ...ffnNorm, finalNorm, ...[emb, ...matrices, ...mlp, ...cls].map((t) => ({ ...t, q8: true }))];
}

function numel(shape: number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Rows of a [nHeads * headDim, in] projection from llama2.c's interleaved rotary layout to HF's half-split one:
 * HF row (h, half, j) = llama2.c row (h, 2j + half) (the inverse of export.py's permute_reverse).
 */
export function permuteRotaryRows(w: Float32Array, nHeads: number, headDim: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = headDim / 2;
  for (let h = 0; h < nHeads; h++) {
    for (let part = 0; part < 2; part++) {
      for (let j = 0; j < half; j++) {
        const dst = (h * headDim + part * half + j) * cols;
        const src = (h * headDim + 2 * j + part) * cols;
        out.set(w.subarray(src, src + cols), dst);
      }
    }
  }
  return out;
}

/** Opens a llama2.c checkpoint; the file size must equal what the header implies. */
export function openLlama2cWeights(file: string): Llama2cWeights {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    throw new AtlasError(`cannot open llama2.c checkpoint: ${(e as Error).message}`, { file, cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    const header = parseLlama2cHeader(readAt(fd, 0, HEADER_BYTES), file);
    const g = header.groupSize ?? 0;
    const stored = new Map<string, Stored>();
    let offset = header.dataOffset;
    for (const t of layout(header)) {
      if (t.skip !== undefined) {
        offset += 4 * t.skip;
        continue;
      }
      const n = numel(t.shape);
      if (t.q8 && n % g !== 0) throw new AtlasError(`tensor '${t.name}' has ${n} values, not a multiple of group_size ${g}`, { file, field: 'group_size' });
      stored.set(t.name, { shape: t.shape, offset, kind: t.q8 ? 'q8' : 'f32', rotaryHeads: t.rotaryHeads });
      offset += t.q8 ? n + 4 * (n / g) : 4 * n;
    }
    if (size !== offset) {
      const what = size < offset ? 'truncated' : 'longer than its header implies';
      throw new AtlasError(
        `is ${what}: the header (version ${header.version}, dim ${header.dim}, hidden_dim ${header.hiddenDim}, n_layers ${header.nLayers}, n_heads ${header.nHeads}, n_kv_heads ${header.nKvHeads}, vocab_size ${header.vocabSize}${header.sharedClassifier ? '' : ' untied'}, seq_len ${header.seqLen}) implies ${offset} bytes, the file has ${size}`,
        { file, field: 'file size', hint: size < offset ? 'the download or export was cut off; fetch the file again' : 'the header does not match the tensors' },
      );
    }
    const config = llama2cConfig(header);
    const hd = header.dim / header.nHeads;
    const entry = (name: string): Stored => {
      const s = stored.get(name);
      if (!s) throw new AtlasError(`tensor '${name}' is not in this llama2.c checkpoint`, { file, field: name });
      return s;
    };
    let closed = false;
    return {
      file,
      header,
      config,
      names: () => [...stored.keys()],
      has: (name) => stored.has(name),
      shape: (name) => [...entry(name).shape],
      read(name) {
        if (closed) throw new Error(`llama2.c checkpoint ${file} read after close()`);
        const s = entry(name);
        const n = numel(s.shape);
        let data: Float32Array;
        if (s.kind === 'f32') {
          const raw = readAt(fd, s.offset, 4 * n);
          data = new Float32Array(n);
          for (let i = 0; i < n; i++) data[i] = raw.readFloatLE(4 * i);
        } else {
          const raw = readAt(fd, s.offset, n + 4 * (n / g));
          data = new Float32Array(n);
          for (let i = 0; i < n; i++) data[i] = raw.readInt8(i) * raw.readFloatLE(n + 4 * Math.floor(i / g));
        }
        if (s.rotaryHeads !== undefined) data = permuteRotaryRows(data, s.rotaryHeads, hd, header.dim);
        return { shape: [...s.shape], data };
      },
      close() {
        if (!closed) closeSync(fd);
        closed = true;
      },
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** Tokenizer files llama2.c ships beside a model (tokenizer.bin, tok512.bin); never a checkpoint. */
export const LLAMA2C_TOKENIZER_FILE = /^(tokenizer|tok\d*)\.bin$/;
/** .bin files in a folder that belong to other formats (transformers' torch checkpoints, trainer state). */
const OTHER_BIN = /^(pytorch_model.*|training_args|optimizer|scheduler|rng_state.*)\.bin$/;

/**
 * The llama2.c checkpoint a --model argument names, or null when it names something else: a file is taken as
 * a llama2.c checkpoint (its header is checked when opened); a folder is one when it has no config.json and
 * exactly one .bin that is not a tokenizer (several → AtlasError asking for the file).
 */
export function llama2cCheckpointPath(path: string): string | null {
  if (!existsSync(path)) return null;
  if (!statSync(path).isDirectory()) return path;
  if (existsSync(join(path, 'config.json'))) return null;
  const bins = readdirSync(path).filter((n) => n.endsWith('.bin') && !LLAMA2C_TOKENIZER_FILE.test(n) && !OTHER_BIN.test(n)).sort();
  if (bins.length > 1) {
    throw new AtlasError(`holds several llama2.c checkpoints (${bins.join(', ')})`, { file: path, hint: 'pass the .bin file itself as --model' });
  }
  return bins.length === 1 ? join(path, bins[0]!) : null;
}
