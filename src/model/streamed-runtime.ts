/**
 * Layer-streamed execution: the model is applied segment by segment (a few blocks at a time) to a whole
 * chunk of batches, so only one segment's weights are ever converted and owned by onnxruntime at once.
 *
 * For each segment: build its graph from the same builder as the whole model (graph.ts, GraphOptions.segment),
 * which reads and converts exactly that segment's canonical tensors; run every batch of the chunk through it,
 * feeding each batch's residual stream from the previous segment; keep the requested hook outputs; release
 * the session (and with it the weights); next segment. Weight loading is paid once per chunk, so callers
 * give chunks of many tokens (STREAM_CHUNK_TOKENS). Values equal whole-model execution: the ops are the same,
 * only the residual stream crosses a session boundary as float32.
 */
import * as ort from 'onnxruntime-node';
import { availableParallelism } from 'node:os';
import { AtlasError } from '../errors.ts';
import { LOGITS, RESID_IN, buildForwardGraph, checkHooks, hookShape, lastNeededBlock } from './graph.ts';
import { sessionCacheOf, type SessionCacheRef } from './session-cache.ts';
import { type ForwardInput, type ForwardOptions, type ForwardOutput, type LoadTimings, ONE_COPY_BYTES, type RuntimeOptions, type WeightSource, canonicalWeightsOf, deviceSession, firstBatchLine, forwardFeeds, hiddenStateHooks, timedWeights } from './runtime.ts';
import { type Device, checkDevice } from './device.ts';
import { type HookPoint, hookName } from './spec.ts';
import { blockWeightBytes } from './memory.ts';
import type { CanonicalWeights } from './weights.ts';
import type { F32Tensor } from './tensor.ts';
import type { ModelConfig } from './config.ts';

/** Tokens per chunk that amortise loading the weights once per chunk (issue 18: ≥ 16k). */
export const STREAM_CHUNK_TOKENS = 16384;

export interface StreamedRuntimeOptions extends RuntimeOptions {
  /** float32 weight bytes one segment may hold (default: one block per segment). */
  segmentBytes?: number;
  /** Tokens per chunk callers should give forwardChunk (default STREAM_CHUNK_TOKENS). */
  chunkTokens?: number;
}

/** Receives each hook output of each input as soon as its segment has run (forwardChunk then keeps nothing). */
export type ChunkConsumer = (input: number, key: string, tensor: F32Tensor) => void;

export interface Segment {
  first: number;
  last: number;
}

/** Consecutive blocks grouped so that each group's float32 weights stay within `segmentBytes` (≥ 1 block each). */
export function planSegments(spec: ModelConfig['spec'], segmentBytes = 0): Segment[] {
  const out: Segment[] = [];
  let cur: Segment | undefined;
  let bytes = 0;
  for (let l = 0; l < spec.nLayer; l++) {
    const b = blockWeightBytes(spec, l);
    if (cur && bytes + b <= segmentBytes) {
      cur.last = l;
      bytes += b;
    } else {
      cur = { first: l, last: l };
      out.push(cur);
      bytes = b;
    }
  }
  return out;
}

/** float32 bytes of a segment's blocks (the embeddings and head counted in the first and last segment). */
function planSegmentBytes(spec: ModelConfig['spec'], seg: Segment): number {
  let n = 0;
  for (let l = seg.first; l <= seg.last; l++) n += blockWeightBytes(spec, l);
  if (seg.first === 0 || seg.last === spec.nLayer - 1) n += blockWeightBytes(spec, -1);
  return n;
}

export class StreamedRuntime {
  readonly weights: CanonicalWeights;
  readonly segments: Segment[];
  private released = false;
  /** Set after each chunk: seconds from the chunk's start to its first segment's session being ready. */
  lastFirstSessionSeconds = 0;
  readonly timings: LoadTimings = { readConvertSeconds: 0, sessionSeconds: 0 };
  readonly chunkTokens: number;
  private sessionFile: boolean | undefined;
  private cache: SessionCacheRef | undefined;

  private constructor(readonly src: WeightSource, readonly threads: number, private readonly fusedAttention: boolean, segmentBytes: number, readonly device: Device, private readonly verbose: boolean, chunkTokens: number) {
    this.weights = canonicalWeightsOf(src);
    this.segments = planSegments(src.config.spec, segmentBytes);
    this.chunkTokens = chunkTokens;
  }

  static async create(src: WeightSource, opts: StreamedRuntimeOptions = {}): Promise<StreamedRuntime> {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) throw new AtlasError(`threads must be a positive integer, got ${threads}`, { field: 'threads' });
    const rt = new StreamedRuntime(src, threads, opts.fusedAttention ?? true, opts.segmentBytes ?? 0, checkDevice(opts.device ?? 'cpu'), opts.verbose ?? false, opts.chunkTokens ?? STREAM_CHUNK_TOKENS);
    rt.sessionFile = opts.sessionFile;
    rt.cache = sessionCacheOf(opts);
    return rt;
  }

  /** Marks runtimes that want whole chunks (extraction batches per chunk). */
  readonly streamed = true;

  get config(): ModelConfig {
    return this.src.config;
  }

  get spec() {
    return this.src.config.spec;
  }

  /**
   * Runs every input of the chunk through the model, segment by segment, and returns per input the requested
   * hooks (keys `hookName(h)`) and logits (key 'logits'), as TransformerRuntime.forwardHooks does.
   */
  async forwardChunk(inputs: ForwardInput[], hooks: HookPoint[], logits: 'none' | 'all' | 'last' = 'none', consume?: ChunkConsumer): Promise<Map<string, F32Tensor>[]> {
    if (this.released) throw new Error('StreamedRuntime.forwardChunk called after release()');
    const spec = this.spec;
    checkHooks(spec, hooks);
    if (logits !== 'none' && !spec.unembed) {
      throw new AtlasError(`logits are not available for a ${spec.modelType} model loaded without an LM head (an encoder)`, { field: 'logits' });
    }
    const unique = [...new Map(hooks.map((h) => [hookName(h), h])).values()];
    const feeds = inputs.map((x) => forwardFeeds(this.config, x));
    const results = inputs.map(() => new Map<string, F32Tensor>());
    const lastBlock = Math.max(0, lastNeededBlock(spec, { hooks: unique, logits }));
    const resid: (ort.Tensor | undefined)[] = inputs.map(() => undefined);
    const started = performance.now();
    for (const seg of this.segments) {
      if (seg.first > lastBlock) break;
      const inSeg = unique.filter((h) => (h.kind === 'final' ? seg.last === spec.nLayer - 1 : h.layer >= seg.first && h.layer <= seg.last));
      const t0 = performance.now();
      const before = this.timings.readConvertSeconds;
      const lazy = this.sessionFile ?? (this.cache !== undefined || planSegmentBytes(spec, seg) >= ONE_COPY_BYTES);
      const built = buildForwardGraph(spec, timedWeights(this.weights, this.timings, lazy), { hooks: inSeg, logits: seg.last === spec.nLayer - 1 ? logits : 'none' }, { fusedAttention: this.fusedAttention, segment: { ...seg, through: lastBlock } });
      this.timings.sessionSeconds += (performance.now() - t0) / 1000 - (this.timings.readConvertSeconds - before);
      const graph = { logits: built.logits, residOut: built.residOut };
      const session = await deviceSession(built.graph, this.threads, this.device, this.timings, lazy, true, this.cache);
      if (seg.first === 0) this.lastFirstSessionSeconds = (performance.now() - started) / 1000;
      try {
        for (let i = 0; i < inputs.length; i++) {
          const { batch: B, seqLen: T } = inputs[i]!;
          const feed: Record<string, ort.Tensor> = { ...feeds[i]! };
          if (seg.first > 0) feed[RESID_IN] = resid[i]!;
          else this.timings.firstBatchStartAt ??= performance.now() / 1000;
          const out = await session.run(feed);
          const put = (key: string, t: F32Tensor) => (consume ? consume(i, key, t) : results[i]!.set(key, t));
          for (const h of inSeg) put(hookName(h), { shape: hookShape(spec, h, B, T), data: out[hookName(h)]!.data as Float32Array });
          if (graph.logits) put(LOGITS, { shape: logits === 'all' ? [B, T, spec.vocabSize] : [B, spec.vocabSize], data: out[graph.logits]!.data as Float32Array });
          resid[i] = graph.residOut ? out[graph.residOut] : undefined;
          if (this.timings.firstBatchAt === undefined && seg.first === 0) {
            this.timings.firstBatchAt = performance.now() / 1000;
            if (this.verbose) console.error(`${firstBatchLine(this.timings)} (first segment of a layer-streamed chunk)`);
          }
        }
      } finally {
        await session.release();
      }
      if (this.verbose) console.error(`verbose: blocks ${seg.first}-${seg.last} of ${spec.nLayer} applied to ${inputs.length} batches (${((performance.now() - started) / 1000).toFixed(1)} s into the chunk)`);
    }
    return results;
  }

  async forwardHooks(input: ForwardInput, hooks: HookPoint[], logits: 'none' | 'all' | 'last' = 'none'): Promise<Map<string, F32Tensor>> {
    return (await this.forwardChunk([input], hooks, logits))[0]!;
  }

  /** HF hidden states (and MLP activations, logits) of every input of a chunk, as TransformerRuntime.forward. */
  async forwardChunkStates(inputs: ForwardInput[], opts: ForwardOptions = {}): Promise<ForwardOutput[]> {
    const hidden = hiddenStateHooks(this.spec);
    const mlp: HookPoint[] = opts.mlp ? Array.from({ length: this.spec.nLayer }, (_, l) => ({ kind: 'mlp_post' as const, layer: l })) : [];
    const outs = await this.forwardChunk(inputs, [...hidden, ...mlp], opts.logits ?? 'none');
    return outs.map((out) => {
      const r: ForwardOutput = { hiddenStates: hidden.map((h) => out.get(hookName(h))!) };
      if (opts.mlp) r.mlp = mlp.map((h) => out.get(hookName(h))!);
      const lg = out.get(LOGITS);
      if (lg) r.logits = lg;
      return r;
    });
  }

  async forward(input: ForwardInput, opts: ForwardOptions = {}): Promise<ForwardOutput> {
    return (await this.forwardChunkStates([input], opts))[0]!;
  }

  /** Nothing is held between chunks; marks the runtime unusable. */
  async release(): Promise<void> {
    this.released = true;
  }
}
