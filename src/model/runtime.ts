/**
 * TransformerRuntime: all-layer forward passes of a checkpoint on CPU through onnxruntime.
 *
 * One ONNX graph is assembled per requested output set (hidden states only / + MLP activations / + logits) and
 * its session is cached, so outputs nobody asked for are never computed. See graph-common.ts for the padding
 * semantics (position ids from the attention mask; padded positions hold meaningless values).
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { AtlasError } from '../errors.ts';
import { createSession } from './onnx-builder.ts';
import { ATTENTION_MASK, INPUT_IDS, type ForwardGraph, type OutputSelection, type WeightSource } from './graph-common.ts';
import { buildGpt2Graph } from './graph-gpt2.ts';
import { buildLlamaGraph } from './graph-llama.ts';
import { buildBertGraph } from './graph-bert.ts';
import type { F32Tensor } from './tensor.ts';

export type { WeightSource, OutputSelection } from './graph-common.ts';

export interface RuntimeOptions {
  /** onnxruntime intra-op threads (default: all cores, `os.availableParallelism()`). */
  threads?: number;
  /** GPT-2 and BERT: use onnxruntime's fused com.microsoft Attention kernel (default true; false = plain ONNX ops). */
  fusedAttention?: boolean;
}

export interface ForwardInput {
  /** Token ids, row-major [batch, seqLen]; ids at padded positions are ignored (any valid id). */
  ids: Int32Array;
  /** 1 for real tokens, 0 for padding, [batch, seqLen]; left, right or mixed padding. */
  attentionMask: Uint8Array;
  batch: number;
  seqLen: number;
}

export interface ForwardOptions {
  /** Also return the post-nonlinearity MLP activations of every block (default false). */
  mlp?: boolean;
  /** 'all': logits [B, T, V]; 'last': logits of each text's last non-pad token [B, V]; default 'none'. */
  logits?: 'none' | 'all' | 'last';
}

export interface ForwardOutput {
  /** nLayer + 1 tensors [B, T, d], as HF's output_hidden_states (the last one after the final norm; BERT has none). */
  hiddenStates: F32Tensor[];
  /** nLayer tensors [B, T, dFF] when requested. */
  mlp?: F32Tensor[];
  logits?: F32Tensor;
}

interface CachedSession {
  session: ort.InferenceSession;
  graph: ForwardGraph;
}

export class TransformerRuntime {
  private readonly sessions = new Map<string, Promise<CachedSession>>();
  private released = false;

  private constructor(
    readonly src: WeightSource,
    readonly threads: number,
    private readonly fusedAttention: boolean,
  ) {}

  /** Creates the runtime and builds the hidden-states-only session (the common case) eagerly. */
  static async create(src: WeightSource, opts: RuntimeOptions = {}): Promise<TransformerRuntime> {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new AtlasError(`threads must be a positive integer, got ${threads}`, { field: 'threads' });
    }
    const rt = new TransformerRuntime(src, threads, opts.fusedAttention ?? true);
    await rt.session({ mlp: false, logits: 'none' });
    return rt;
  }

  get config() {
    return this.src.config;
  }

  private session(sel: OutputSelection): Promise<CachedSession> {
    const key = `${sel.mlp}|${sel.logits}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => {
        const arch = this.src.config.architecture;
        const graph =
          arch === 'gpt2' ? buildGpt2Graph(this.src, sel, { fusedAttention: this.fusedAttention })
          : arch === 'bert' ? buildBertGraph(this.src, sel, { fusedAttention: this.fusedAttention })
          : buildLlamaGraph(this.src, sel);
        const session = await createSession(graph.graph, { threads: this.threads });
        return { session, graph };
      })();
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  async forward(input: ForwardInput, opts: ForwardOptions = {}): Promise<ForwardOutput> {
    if (this.released) throw new Error('TransformerRuntime.forward called after release()');
    const { batch: B, seqLen: T } = input;
    const feeds = this.feeds(input);
    const sel: OutputSelection = { mlp: opts.mlp ?? false, logits: opts.logits ?? 'none' };
    const { session, graph } = await this.session(sel);
    const out = await session.run(feeds);
    const take = (name: string, shape: number[]): F32Tensor => {
      const t = out[name]!;
      return { shape, data: t.data as Float32Array };
    };
    const cfg = this.src.config;
    const result: ForwardOutput = { hiddenStates: graph.hidden.map((n) => take(n, [B, T, cfg.dModel])) };
    if (sel.mlp) result.mlp = graph.mlp.map((n) => take(n, [B, T, cfg.dFF]));
    if (graph.logits) result.logits = take(graph.logits, sel.logits === 'all' ? [B, T, cfg.vocabSize] : [B, cfg.vocabSize]);
    return result;
  }

  /** Validates the input and converts it to onnxruntime tensors. */
  private feeds(input: ForwardInput): Record<string, ort.Tensor> {
    const { ids, attentionMask, batch: B, seqLen: T } = input;
    const cfg = this.src.config;
    if (!Number.isInteger(B) || B < 1 || !Number.isInteger(T) || T < 1) {
      throw new AtlasError(`batch and seqLen must be positive integers, got ${B} x ${T}`, { field: 'batch/seqLen' });
    }
    if (ids.length !== B * T) throw new AtlasError(`has ${ids.length} entries, expected batch*seqLen = ${B * T}`, { field: 'ids' });
    if (attentionMask.length !== B * T) {
      throw new AtlasError(`has ${attentionMask.length} entries, expected batch*seqLen = ${B * T}`, { field: 'attentionMask' });
    }
    const ids64 = new BigInt64Array(B * T);
    const mask64 = new BigInt64Array(B * T);
    for (let b = 0; b < B; b++) {
      let real = 0;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        const m = attentionMask[i]!;
        if (m > 1) throw new AtlasError(`must hold 0 or 1, found ${m} at text ${b}, position ${t}`, { field: 'attentionMask' });
        const id = ids[i]!;
        if (m === 1 && (id < 0 || id >= cfg.vocabSize)) {
          throw new AtlasError(`token id ${id} at text ${b}, position ${t} is outside the vocabulary [0, ${cfg.vocabSize})`, {
            field: 'ids',
            hint: 'was the text tokenized with this model\'s tokenizer?',
          });
        }
        ids64[i] = m === 1 ? BigInt(id) : 0n; // padded ids are never read; 0 keeps the Gather in range
        mask64[i] = BigInt(m);
        real += m;
      }
      if (real === 0) throw new AtlasError(`text ${b} has no real token (attention mask all 0)`, { field: 'attentionMask' });
      if (cfg.architecture !== 'llama' && real > cfg.maxPositions) { // learned position tables (gpt2, bert)
        throw new AtlasError(`text ${b} has ${real} tokens but the model has only ${cfg.maxPositions} learned positions`, {
          field: 'seqLen',
          hint: 'truncate the texts (n_positions in config.json)',
        });
      }
    }
    return {
      [INPUT_IDS]: new ort.Tensor('int64', ids64, [B, T]),
      [ATTENTION_MASK]: new ort.Tensor('int64', mask64, [B, T]),
    };
  }

  /** Frees every onnxruntime session (their copies of the weights). */
  async release(): Promise<void> {
    this.released = true;
    const all = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of all) {
      try {
        await (await s).session.release();
      } catch {
        // a session that failed to build has nothing to release
      }
    }
  }
}
