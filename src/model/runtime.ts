/**
 * TransformerRuntime: forward passes of a checkpoint on CPU through onnxruntime.
 *
 * One ONNX graph (graph.ts, built from the model's spec) is assembled per requested output set and its
 * session is cached, so outputs nobody asked for are never computed. See graph.ts for the padding semantics
 * (position ids from the attention mask; padded positions hold meaningless values).
 */
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import { AtlasError } from '../errors.ts';
import { createSession } from './onnx-builder.ts';
import type { ModelConfig } from './config.ts';
import { expectedTensorShapes } from './checkpoint.ts';
import { moduleOfFamily } from './architectures/index.ts';
import { ATTENTION_MASK, INPUT_IDS, LOGITS, buildForwardGraph, checkHooks, hookShape, type CanonicalTensorSource, type ForwardGraph } from './graph.ts';
import { accessSync, constants, mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import v8 from 'node:v8';
import vm from 'node:vm';
import { float32WeightBytes } from './memory.ts';
import { cachedSessionModel, sessionCacheOf, type SessionCacheRef } from './session-cache.ts';
import { type HookPoint, hfHiddenStateHook, hookName } from './spec.ts';
import { CanonicalWeights, type StoredTensorReader } from './weights.ts';
import type { F32Tensor } from './tensor.ts';
import { type Device, checkDevice, deviceError, executionProviders } from './device.ts';

/**
 * Where the runtime gets weights from. A Checkpoint (checkpoint.ts) brings its resolved canonical `weights`;
 * other sources (in-memory test weights) serve stored tensors by name and are resolved through the family's
 * module here (`names()` lists them; without it the legacy names of expectedTensorShapes are assumed).
 */
export interface WeightSource {
  config: ModelConfig;
  tensor(name: string, expectedShape?: number[]): F32Tensor;
  names?(): string[];
  weights?: CanonicalWeights;
}

/** The canonical weights of a source. */
export function canonicalWeightsOf(src: WeightSource): CanonicalWeights {
  if (src.weights) return src.weights;
  const spec = src.config.spec;
  const names = src.names ? src.names() : [...expectedTensorShapes(src.config).keys()];
  const set = new Set(names);
  const reader: StoredTensorReader = {
    names: () => names,
    has: (n) => set.has(n),
    shape: (n) => src.tensor(n).shape,
    read: (n) => src.tensor(n),
  };
  return CanonicalWeights.resolve(moduleOfFamily(spec.family), spec, reader, 'weight source');
}

export interface RuntimeOptions {
  /** onnxruntime intra-op threads (default: all cores, `os.availableParallelism()`). */
  threads?: number;
  /** Use onnxruntime's fused com.microsoft Attention kernel where the spec allows (default true; false = plain ONNX ops). */
  fusedAttention?: boolean;
  /** Execution provider (device.ts): 'cpu' (default), 'cuda' or 'webgpu'. */
  device?: Device;
  /**
   * Let onnxruntime pre-pack MatMul weights (default true: faster matmuls, but a packed second copy of each
   * weight exists while the session is built). false: the only whole copy is onnxruntime's (peak ≈ 1.25 × the
   * float32 weights; loadModel chooses it when the prepacked model would not fit maxMemory).
   */
  prepack?: boolean;
  /** Build sessions through a file, weights read tensor by tensor (default: when the weights are ≥ ONE_COPY_BYTES as float32). */
  sessionFile?: boolean;
  /** Print load timings (weights read and converted, session built, time to the first forward batch) on stderr. */
  verbose?: boolean;
  /**
   * Keep the big-model path's session files (graph + float32 weights) in this folder and load them again on
   * later runs (session-cache.ts); needs `modelKey`. Default: none (temporary files, removed once loaded).
   */
  sessionCache?: string;
  /** The model's fingerprint for the session cache (loadModel passes LoadedModel.key). */
  modelKey?: string;
}

/** Where a runtime's start-up time went (seconds), for --verbose and the big-models bench. */
export interface LoadTimings {
  /** Reading the stored tensors and converting them to canonical float32 (all sessions built so far). */
  readConvertSeconds: number;
  /** Building onnxruntime sessions (graph assembly and onnxruntime's own load and optimisation), minus the above. */
  sessionSeconds: number;
  /** performance.now() / 1000 (seconds since the process started) when the first forward batch started running. */
  firstBatchStartAt?: number;
  /** performance.now() / 1000 (seconds since the process started) when the first forward batch finished. */
  firstBatchAt?: number;
  /** Sessions loaded from the session cache (their weights were not read). */
  sessionCacheHits?: number;
}

/** Times every `get` of a weight source into `timings.readConvertSeconds`; `lazy`: read at serialisation (graph.ts). */
export function timedWeights(w: CanonicalWeights, timings: LoadTimings, lazy = false): CanonicalTensorSource {
  let sinceGc = 0;
  return {
    lazy,
    shape: (name) => w.shape(name),
    get(name, scratch) {
      const t0 = performance.now();
      try {
        const t = w.get(name, scratch);
        // Lazy tensors are dropped once written; collect them every 128 MB so that dead copies do not pile up
        // (a view of the serialiser's scratch buffer is no fresh copy).
        const fresh = !scratch?.owns(t.data);
        if (lazy && fresh && (sinceGc += t.data.byteLength) >= GC_EVERY_BYTES) { sinceGc = 0; collectGarbage(); }
        return t;
      } finally {
        timings.readConvertSeconds += (performance.now() - t0) / 1000;
      }
    },
  };
}

/**
 * Builds a session for a graph on a device, timing it (graph assembly is timed by the caller's weights wrapper).
 * Lazy weights go to a model file tensor by tensor (read, converted, written, dropped) and onnxruntime loads
 * that file: the only whole copy of the weights is onnxruntime's. Without `cache` the file is a temporary one,
 * removed once the session exists; with it, the file is the session cache's entry (session-cache.ts), read
 * again by later runs.
 */
export async function deviceSession(graph: ForwardGraph['graph'], threads: number, device: Device, timings: LoadTimings, lazy = false, prepack = true, cache?: SessionCacheRef): Promise<ort.InferenceSession> {
  const t0 = performance.now();
  const before = timings.readConvertSeconds;
  const cached = lazy && cache ? cachedSessionModel(graph, cache) : undefined;
  if (cached?.hit) timings.sessionCacheHits = (timings.sessionCacheHits ?? 0) + 1;
  const dir = lazy && !cached ? mkdtempSync(join(sessionFileRoot(graph.initializerBytes), `${SESSION_DIR_PREFIX}${process.pid}-`)) : undefined;
  const weights = cached ? { weights: { saved: cached.path } } : dir ? { weights: { dir } } : {};
  try {
    return await createSession(graph, { threads, executionProviders: executionProviders(device), ...weights, ...(prepack ? {} : { extra: { session: { disable_prepacking: '1' } } }) });
  } catch (e) {
    throw deviceError(device, e);
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (lazy) collectGarbage(); // the last lazy tensors and the graph's protobuf
    timings.sessionSeconds += (performance.now() - t0) / 1000 - (timings.readConvertSeconds - before);
  }
}

/** Session folders are named `<prefix><pid>-<random>`: the pid says whether their owner still runs. */
const SESSION_DIR_PREFIX = 'latent-atlas-session-';

/**
 * Removes session folders under `root` whose process is gone. The finally below removes a session's folder on
 * every error, but a process killed while building a session (SIGKILL, the OOM killer, a cancelled job) leaves
 * its folder behind, and under /dev/shm that is gigabytes of memory held until reboot. Returns what it removed.
 */
export function removeStaleSessionFiles(root: string): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = name.startsWith(SESSION_DIR_PREFIX) ? /^(\d+)-/.exec(name.slice(SESSION_DIR_PREFIX.length)) : null;
    if (!m || processAlive(Number(m[1]))) continue;
    try {
      rmSync(join(root, name), { recursive: true, force: true });
      removed.push(name);
    } catch {
      // another user's folder, or already gone
    }
  }
  return removed;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

/** Memory-backed file system of Linux. */
const SHM = '/dev/shm';

/**
 * Where session files go: /dev/shm when it has room, so writing the float32 weights is a memory copy instead
 * of disk writes (the 1B model's 4.6 GB took 18 s to disk). onnxruntime maps the file, so without pre-packing
 * its pages are the session's only copy of the weights; the file is unlinked once the session exists and the
 * pages are freed with the session. Elsewhere, the OS temp folder.
 */
function sessionFileRoot(bytes: number): string {
  try {
    removeStaleSessionFiles(SHM);
    const s = statfsSync(SHM);
    accessSync(SHM, constants.W_OK);
    if (s.bavail * s.bsize > 1.1 * bytes + 2 ** 28) return SHM;
  } catch {
    // no /dev/shm here
  }
  return tmpdir();
}

const GC_EVERY_BYTES = 128 * 2 ** 20;
let gcFn: (() => void) | undefined;
/** A full garbage collection (V8's gc, exposed at run time): frees the ArrayBuffers of dropped weight tensors now. */
export function collectGarbage(): void {
  if (!gcFn) {
    v8.setFlagsFromString('--expose-gc');
    gcFn = vm.runInNewContext('gc') as () => void;
  }
  gcFn();
}

/** float32 weight bytes from which sessions are built through a file, one tensor at a time (one copy of the weights). */
export const ONE_COPY_BYTES = 64 * 2 ** 20;

/** The --verbose line printed once the first forward batch is done. */
export function firstBatchLine(timings: LoadTimings): string {
  const at = timings.firstBatchAt ?? performance.now() / 1000;
  const start = timings.firstBatchStartAt;
  const head = `verbose: first forward batch ${start === undefined ? '' : `started ${start.toFixed(2)} s and `}done ${at.toFixed(2)} s after start; reading+converting weights took ${timings.readConvertSeconds.toFixed(2)} s, building onnxruntime sessions ${timings.sessionSeconds.toFixed(2)} s`;
  // from the session cache nothing is read: a ratio to the (zero) reading time says nothing
  if (timings.sessionCacheHits) return `${head}; ${timings.sessionCacheHits} session(s) loaded from the session cache, their weights not read`;
  const ratio = (t: number): string => (t / Math.max(timings.readConvertSeconds, 1e-9)).toFixed(2);
  return `${head} (ratio first batch / weights ${start === undefined ? '' : `${ratio(start)} at its start, `}${ratio(at)} when done)`;
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
  /** What forwardHooks needs of the graph (not the graph itself: it references our float32 copy of the weights). */
  logits?: string;
}

export class TransformerRuntime {
  private readonly sessions = new Map<string, Promise<CachedSession>>();
  private released = false;
  readonly weights: CanonicalWeights;
  readonly timings: LoadTimings = { readConvertSeconds: 0, sessionSeconds: 0 };
  /** Whole-model execution (StreamedRuntime says true). */
  readonly streamed = false;

  private constructor(
    readonly src: WeightSource,
    readonly threads: number,
    private readonly fusedAttention: boolean,
    readonly device: Device,
    private readonly verbose: boolean,
    private readonly prepack: boolean,
    private readonly sessionFile: boolean | undefined,
    private readonly cache: SessionCacheRef | undefined,
  ) {
    this.weights = canonicalWeightsOf(src);
  }

  /** Creates the runtime and builds the hidden-states-only session (the common case) eagerly. */
  static async create(src: WeightSource, opts: RuntimeOptions = {}): Promise<TransformerRuntime> {
    const threads = opts.threads ?? availableParallelism();
    if (!Number.isInteger(threads) || threads < 1) {
      throw new AtlasError(`threads must be a positive integer, got ${threads}`, { field: 'threads' });
    }
    const rt = new TransformerRuntime(src, threads, opts.fusedAttention ?? true, checkDevice(opts.device ?? 'cpu'), opts.verbose ?? false, opts.prepack ?? true, opts.sessionFile, sessionCacheOf(opts));
    await rt.session(rt.hiddenHooks(), 'none');
    return rt;
  }

  get config(): ModelConfig {
    return this.src.config;
  }

  get spec() {
    return this.src.config.spec;
  }

  /** The hooks equal to HF's hidden_states[0..L]. */
  private hiddenHooks(): HookPoint[] {
    return Array.from({ length: this.spec.nLayer + 1 }, (_, i) => hfHiddenStateHook(this.spec, i));
  }

  private session(hooks: HookPoint[], logits: 'none' | 'all' | 'last'): Promise<CachedSession> {
    const key = `${[...new Set(hooks.map(hookName))].sort().join(',')}|${logits}`;
    let s = this.sessions.get(key);
    if (!s) {
      s = (async () => {
        const t0 = performance.now();
        const before = this.timings.readConvertSeconds;
        const lazy = this.sessionFile ?? (this.cache !== undefined || float32WeightBytes(this.spec) >= ONE_COPY_BYTES);
        let graph: ForwardGraph | undefined = buildForwardGraph(this.spec, timedWeights(this.weights, this.timings, lazy), { hooks, logits }, { fusedAttention: this.fusedAttention });
        this.timings.sessionSeconds += (performance.now() - t0) / 1000 - (this.timings.readConvertSeconds - before);
        const logitsName = graph.logits;
        const builder = graph.graph;
        graph = undefined;
        const session = await deviceSession(builder, this.threads, this.device, this.timings, lazy, this.prepack, this.cache);
        return { session, logits: logitsName };
      })();
      this.sessions.set(key, s);
      s.catch(() => this.sessions.delete(key));
    }
    return s;
  }

  /**
   * Runs the model and returns the requested hook points (spec.ts; keys `hookName(h)`) and, unless
   * `logits` is 'none', the logits under the key 'logits' ([B, T, V] or each text's last real token's [B, V]).
   */
  async forwardHooks(input: ForwardInput, hooks: HookPoint[], logits: 'none' | 'all' | 'last' = 'none'): Promise<Map<string, F32Tensor>> {
    if (this.released) throw new Error('TransformerRuntime.forward called after release()');
    checkHooks(this.spec, hooks);
    const { batch: B, seqLen: T } = input;
    const feeds = this.feeds(input);
    const unique = [...new Map(hooks.map((h) => [hookName(h), h])).values()];
    const { session, logits: logitsName } = await this.session(unique, logits);
    this.timings.firstBatchStartAt ??= performance.now() / 1000;
    const out = await session.run(feeds);
    const result = new Map<string, F32Tensor>();
    for (const h of unique) result.set(hookName(h), { shape: hookShape(this.spec, h, B, T), data: out[hookName(h)]!.data as Float32Array });
    if (logitsName) {
      result.set(LOGITS, { shape: logits === 'all' ? [B, T, this.spec.vocabSize] : [B, this.spec.vocabSize], data: out[logitsName]!.data as Float32Array });
    }
    if (this.timings.firstBatchAt === undefined) {
      this.timings.firstBatchAt = performance.now() / 1000;
      if (this.verbose) console.error(firstBatchLine(this.timings));
    }
    return result;
  }

  async forward(input: ForwardInput, opts: ForwardOptions = {}): Promise<ForwardOutput> {
    const hidden = this.hiddenHooks();
    const mlp: HookPoint[] = opts.mlp ? Array.from({ length: this.spec.nLayer }, (_, l) => ({ kind: 'mlp_post' as const, layer: l })) : [];
    const out = await this.forwardHooks(input, [...hidden, ...mlp], opts.logits ?? 'none');
    const result: ForwardOutput = { hiddenStates: hidden.map((h) => out.get(hookName(h))!) };
    if (opts.mlp) result.mlp = mlp.map((h) => out.get(hookName(h))!);
    const logits = out.get(LOGITS);
    if (logits) result.logits = logits;
    return result;
  }

  /** Validates the input and converts it to onnxruntime tensors. */
  private feeds(input: ForwardInput): Record<string, ort.Tensor> {
    return forwardFeeds(this.src.config, input);
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

/** The hooks equal to HF's hidden_states[0..L] (what `forward` returns). */
export function hiddenStateHooks(spec: ModelConfig['spec']): HookPoint[] {
  return Array.from({ length: spec.nLayer + 1 }, (_, i) => hfHiddenStateHook(spec, i));
}

/** Validates a forward input against a config and converts it to onnxruntime tensors (ids, mask). */
export function forwardFeeds(cfg: ModelConfig, input: ForwardInput): Record<string, ort.Tensor> {
  {
    const { ids, attentionMask, batch: B, seqLen: T } = input;
    const learned = cfg.spec.embed.learnedPositions;
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
      if (learned && real + learned.offset > learned.rows) {
        throw new AtlasError(`text ${b} has ${real} tokens but the model has only ${learned.rows - learned.offset} learned positions`, {
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
}
