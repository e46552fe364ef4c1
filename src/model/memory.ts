/**
 * Memory arithmetic for running big models: float32 weight bytes of a spec (whole model, per block), the
 * A memory-size (maxMemory) parser and default, and the decision between whole-model and layer-streamed execution.
 */
import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { AtlasError } from '../errors.ts';
import { type ModelSpec, canonicalWeightShapes } from './spec.ts';
import { numel } from './tensor.ts';

/**
 * Memory of whole-model execution with onnxruntime's pre-packed weights, per float32 weight byte: while the
 * session is built the session file (in /dev/shm, memory) and the packed copy exist together. The process's
 * own peak RSS is lower (a Llama-3.2-1B-shaped checkpoint: 1.0 ×, issue 18), but the file's pages are memory
 * too until the session exists. Used to decide when to stream and whether to pre-pack.
 */
export const WHOLE_MODEL_RSS_FACTOR = 2.25;
/**
 * Peak memory per float32 weight byte of whole-model execution without the pre-packed copy (RuntimeOptions.prepack
 * false): onnxruntime maps the session file, whose pages are the one copy. Measured 1.00 × (peak RSS after the
 * forwards, Llama-3.2-1B shape, batch 8 × 128, 2026-12-02); the rest is headroom for activations.
 */
export const ONE_COPY_RSS_FACTOR = 1.25;
/** Share of the free memory the default budget may use (the rest is headroom for the OS and activations). */
const DEFAULT_SHARE = 0.8;

const BLOCK_NAME = /^blocks\.(\d+)\./;

/** float32 bytes of the canonical tensors of block l (`blocks.l.*`), or of the non-block tensors when l = -1. */
export function blockWeightBytes(spec: ModelSpec, l: number): number {
  let n = 0;
  for (const [name, shape] of canonicalWeightShapes(spec)) {
    const m = BLOCK_NAME.exec(name);
    if ((m ? Number(m[1]) : -1) === l) n += numel(shape);
  }
  return 4 * n;
}

/** float32 bytes of every canonical tensor. */
export function float32WeightBytes(spec: ModelSpec): number {
  let n = 0;
  for (const shape of canonicalWeightShapes(spec).values()) n += numel(shape);
  return 4 * n;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 2 ** 10, kb: 2 ** 10, kib: 2 ** 10, m: 2 ** 20, mb: 2 ** 20, mib: 2 ** 20, g: 2 ** 30, gb: 2 ** 30, gib: 2 ** 30, t: 2 ** 40, tb: 2 ** 40, tib: 2 ** 40 };

/** "8G", "512MB", "1.5GiB", "123456" (bytes) → bytes (binary units). */
export function parseSize(text: string, field = 'maxMemory'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = m ? UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined || !(Number(m[1]) > 0)) {
    throw new AtlasError(`'${text}' is not a memory size`, { field, hint: 'write e.g. 8G, 512M or 1.5GiB (binary units)' });
  }
  return Math.floor(Number(m[1]) * unit);
}

/** A cgroup's memory limit minus what it uses now (v2 memory.max/current, v1 limit_in_bytes/usage_in_bytes); undefined when unlimited or unknown. */
export function cgroupAvailable(root = '/sys/fs/cgroup'): number | undefined {
  const num = (f: string): number | undefined => {
    try {
      const t = readFileSync(`${root}/${f}`, 'utf8').trim();
      const v = Number(t);
      return t !== 'max' && Number.isFinite(v) && v > 0 && v < 2 ** 60 ? v : undefined;
    } catch {
      return undefined;
    }
  };
  for (const [limit, usage] of [['memory.max', 'memory.current'], ['memory/memory.limit_in_bytes', 'memory/memory.usage_in_bytes']] as const) {
    const l = num(limit);
    if (l !== undefined) return Math.max(0, l - (num(usage) ?? 0));
  }
  return undefined;
}

/** Default budget: 80 % of what the machine has now: the free memory (os.freemem), under the cgroup limit where one is set. */
export function defaultMaxMemory(): number {
  const cg = cgroupAvailable();
  return Math.floor(DEFAULT_SHARE * Math.min(freemem(), totalmem(), cg ?? Infinity));
}

/** A maxMemory option (bytes, or a size such as '8G') as bytes; undefined = the machine's default. */
export function resolveMaxMemory(v: number | string | undefined): number {
  if (v === undefined) return defaultMaxMemory();
  if (typeof v === 'string') return parseSize(v);
  if (!(v > 0)) throw new AtlasError(`maxMemory must be a positive number of bytes, got ${v}`, { field: 'maxMemory', hint: 'write e.g. 8G' });
  return v;
}

/** How layer-streamed execution splits the budget: blocks per segment (by float32 bytes) and tokens per chunk. */
export interface StreamPlan {
  /** float32 weight bytes one segment may hold (at least one block is always taken). */
  segmentBytes: number;
  /** Tokens (batch × padded length) per chunk of texts run through each segment. */
  chunkTokens: number;
}

/**
 * Half the budget for one segment's weights (held twice while its session is built: our float32 copy and
 * onnxruntime's), half for the chunk's activations (the residual stream in and out, and the hook outputs in
 * flight: about 4 d-wide float32 vectors per token, more for wide MLP hooks). The chunk is STREAM_CHUNK_TOKENS
 * (≥ 16k tokens, so the weights are read once per 16k tokens) unless the budget cannot hold that.
 */
export function planStreaming(spec: ModelSpec, maxMemory: number, chunkTokens = 16384): StreamPlan {
  const width = Math.max(spec.dModel, ...spec.blocks.map((b) => b.mlp.dFF));
  const perToken = 4 * (3 * spec.dModel + width);
  const fit = Math.floor(maxMemory / 2 / perToken);
  return { segmentBytes: Math.floor(maxMemory / 2 / WHOLE_MODEL_RSS_FACTOR), chunkTokens: Math.max(1, Math.min(chunkTokens, fit)) };
}

/** True when whole-model execution (without the pre-packed copy, the leanest) is expected to exceed `maxMemory` bytes. */
export function needsStreaming(spec: ModelSpec, maxMemory: number): boolean {
  return ONE_COPY_RSS_FACTOR * float32WeightBytes(spec) > maxMemory;
}

/** True when whole-model execution with onnxruntime's pre-packed weights (faster, a second copy) fits `maxMemory`. */
export function prepackFits(spec: ModelSpec, maxMemory: number): boolean {
  return WHOLE_MODEL_RSS_FACTOR * float32WeightBytes(spec) <= maxMemory;
}

/** "1.23 GB" (binary units, for messages). */
export function formatBytes(n: number): string {
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return `${n.toFixed(i === 0 ? 0 : 2)} ${u[i]}`;
}

/**
 * AtlasError when a command that needs all parameters at once (parameter-space Fisher, similarity, task
 * vectors) would not fit: those cannot stream blocks.
 */
export function assertWholeModelFits(spec: ModelSpec, maxMemory: number, command: string, copies = 1): void {
  const need = WHOLE_MODEL_RSS_FACTOR * copies * float32WeightBytes(spec);
  if (need > maxMemory) {
    throw new AtlasError(`${command} holds all parameters of the ${spec.modelType} model at once (about ${formatBytes(need)}), more than the ${formatBytes(maxMemory)} this machine allows`, {
      field: 'maxMemory',
      hint: 'run it on a machine with more memory, or raise the maxMemory option if you know the memory is there; extraction streams block by block and works at any size',
    });
  }
}
