import { readdirSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';
import { AtlasError } from '../errors.ts';
import type { LoadedModel } from '../model/load.ts';
import { padRows, type AtlasTokenizer, type TruncationSide } from '../model/tokenizer.ts';
import { hiddenStateHooks } from '../model/runtime.ts';
import type { F32Tensor } from '../model/tensor.ts';
import { cachedTokens, modelPosition, storeTokens, textTokens, tokenCacheDir, type TokenOptions, type TokenizedTexts } from './token-cache.ts';
import { finalizeLens, hasLensPart, lensBatch, lensComplete, lensHook, planLens, releaseLensHead, writeLensPart, type LensPlan } from './lens.ts';
import { aggregate, type Aggregation } from './aggregate.ts';
import { lockCacheEntry } from './cache-lock.ts';
import { activationCacheDir, openActivationCache, type ActivationCache, type ActivationCacheOptions, type CacheDType, type CacheMeta, type CachedLayer } from './activation-cache.ts';
import type { Dataset } from './dataset.ts';
import { progress } from '../util/progress.ts';
import { readNpy } from './npy.ts';
import { resolveMaxLength, truncationWarning } from './max-length.ts';
import { ensureWritableDir, fsError } from './fs-errors.ts';
import { type HookPoint, type ModelSpec, hfHiddenStateHook, hookName } from '../model/spec.ts';
import type { ForwardInput, TransformerRuntime } from '../model/runtime.ts';
import type { StreamedRuntime } from '../model/streamed-runtime.ts';
import { EXTRACT_OPTIONS, TOKEN_HOOK_KINDS, type TokenHookKind } from './defaults.ts';
import { LENS_FILES } from './lens-files.ts';

/**
 * Which activations to read: 'hidden' = HF hidden_states (layers 0..nLayer), 'mlp' = the MLP neurons of each
 * block (= 'mlp_post'), or any per-token hook point of spec.ts (docs/hook-points.md): block hooks have layers
 * 0..nLayer-1, 'final' (the final-norm output) one layer 0.
 */
export type ActivationSource = 'hidden' | 'mlp' | TokenHookKind;

/** Hook points with one vector per token (attention patterns are per token pair and cannot be aggregated here). */
export { TOKEN_HOOK_KINDS, type TokenHookKind };

/** Checks an --source value. */
export function parseActivationSource(source: string): ActivationSource {
  if (source === 'hidden' || source === 'mlp' || (TOKEN_HOOK_KINDS as readonly string[]).includes(source)) return source as ActivationSource;
  throw new AtlasError(`--source must be hidden, mlp or a hook point (${TOKEN_HOOK_KINDS.join(', ')}), got '${source}'`, { field: 'source', hint: 'see docs/hook-points.md' });
}

/** Number of layers a source has for this model. */
export function sourceLayerCount(source: ActivationSource, spec: ModelSpec): number {
  return source === 'hidden' ? spec.nLayer + 1 : source === 'final' ? 1 : spec.nLayer;
}

/** The hook point read for layer `l` of a (non-'hidden') source. */
function sourceHook(source: Exclude<ActivationSource, 'hidden'>, l: number): HookPoint {
  if (source === 'final') return { kind: 'final' };
  return { kind: source === 'mlp' ? 'mlp_post' : source, layer: l };
}

export interface ExtractOptions {
  /** Layer indices: hidden states 0..nLayer (0 = embeddings), MLP 0..nLayer-1, or a spec ('all', '0,4,8', '2-6', '-1'). Default: all. */
  layers?: number[] | 'all' | string;
  /** Default 'hidden'. */
  source?: ActivationSource;
  /** Default 'final' (last non-pad token). */
  aggregate?: Aggregation;
  /** L2-normalise each aggregated vector. Default false. */
  l2Normalize?: boolean;
  /** Texts per forward pass. Default 8. */
  batchSize?: number;
  /** Truncate texts to this many tokens (special tokens included). Default: the model's max positions. */
  maxLength?: number;
  /** Put the tokenizer's BOS before every text (a no-op when the tokenizer adds one). Default false. */
  prependBos?: boolean;
  /** Which end maxLength cuts ('left' keeps the last tokens). Default: the tokenizer's truncation_side, else 'right'. */
  truncate?: TruncationSide;
  /** Logit lens at the aggregation's token, stored beside the activations (src/data/lens-files.ts). Default false. */
  lens?: boolean;
  /** Top tokens kept per layer by the lens. Default 10. */
  lensK?: number;
  /** Stored dtype. Default float32. */
  dtype?: CacheDType;
  /** Cache root. Default $LATENT_ATLAS_CACHE or ~/.cache/latent-atlas/activations. */
  cacheRoot?: string;
  /** Recompute even if cached. Default false. */
  force?: boolean;
  /** Progress bar on stderr. Default true (quiet when not a TTY or LATENT_ATLAS_QUIET=1). */
  progress?: boolean;
  /** Stops after the batch in flight (finished batches stay cached; the next run resumes). */
  signal?: AbortSignal;
  /** How long to wait for another process computing the same cache entry. Default 30 minutes. */
  lockTimeoutMs?: number;
  /** Where warnings go (truncated texts, a damaged cache entry, a wait for a lock). Default: one `warning:` line on stderr each. */
  onWarning?: (message: string) => void;
}

export interface Extraction {
  dir: string;
  meta: CacheMeta;
  layers: number[];
  /** Whether the result came from the cache without running the model. */
  cached: boolean;
  /** Warnings given during this extraction (also passed to onWarning). */
  warnings: string[];
  readLayer(layer: number): CachedLayer;
}

export function defaultCacheRoot(): string {
  return process.env.LATENT_ATLAS_CACHE || join(homedir(), '.cache', 'latent-atlas', 'activations');
}

/** Parses a layer spec: `all`, `3`, `0,4,8`, `2-6`, `-1` (last), mixed (`0,3-5,-1`). */
export function parseLayers(spec: string, count: number): number[] {
  if (spec.trim() === 'all') return Array.from({ length: count }, (_, i) => i);
  const out = new Set<number>();
  for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
    const range = /^(\d+)-(\d+)$/.exec(part);
    const norm = (n: number) => {
      const l = n < 0 ? count + n : n;
      // reported as the user wrote it: '-9' on a 5-layer model, not the wrapped index
      if (l < 0 || l >= count) throw new AtlasError(`layer ${part} does not exist: the model has layers 0..${count - 1} (negative counts from the end: -1..-${count})`, { field: 'layers' });
      return l;
    };
    if (range) {
      const a = Number(range[1]);
      const b = Number(range[2]);
      if (a > b) throw new AtlasError(`layer range '${part}' is reversed`, { field: 'layers' });
      for (let i = a; i <= b; i++) out.add(i);
    } else if (/^-?\d+$/.test(part)) out.add(norm(Number(part)));
    else throw new AtlasError(`cannot parse layer '${part}'`, { field: 'layers', hint: "use 'all', a list like 0,4,8, ranges like 2-6, or -1 for the last" });
  }
  for (const l of out) {
    if (l < 0 || l >= count) throw new AtlasError(`layer ${l} does not exist: the model has layers 0..${count - 1}`, { field: 'layers' });
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * Token position (in the unpadded token sequence `ids`) of the token that contains character `charStart` of
 * `text`. Byte-level BPE decodes a prefix of ids to exactly a prefix of the text, so the answer is the first
 * prefix whose decoding is longer than `charStart` (binary search; monotone). Leading special tokens (BOS) are
 * skipped: they decode to their own marker, not to text.
 */
export function tokenAtChar(tokenizer: AtlasTokenizer, ids: number[], charStart: number): number {
  const lead = tokenizer.addBos && ids[0] === tokenizer.bosTokenId ? 1 : 0;
  let lo = lead;
  let hi = ids.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (tokenizer.decode(ids.slice(lead, mid + 1)).length > charStart) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The weight files of a checkpoint folder, for error messages (the folder itself when none is recognised). */
function weightFiles(dir: string): string {
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => /\.(safetensors|bin|pt|pth)$/.test(n)).sort();
  } catch { /* a folder we cannot list: name the folder */ }
  return names.length ? names.map((n) => join(dir, n)).join(', ') : dir;
}

/** Where a value was read, as a user reads it: hidden state 0 is the embeddings' output. */
function hookLabel(source: ActivationSource, layer: number): string {
  if (source === 'mlp') return `the MLP activations of block ${layer}`;
  if (source !== 'hidden') return hookName(sourceHook(source, layer));
  return layer === 0 ? 'the embeddings (hidden state 0)' : `the output of block ${layer - 1} (hidden state ${layer})`;
}

/**
 * Fails on the first non-finite value among the real (unpadded) token states of a forward pass, naming the
 * earliest layer where it appears: a NaN/Inf weight makes every later layer NaN, and caching those layers as if
 * they were activations would be a silent wrong result. Checked for every batch (one pass over the outputs).
 */
function checkFinite(tensors: { data: Float32Array; shape: number[] }[], mask: ArrayLike<number>, source: ActivationSource, modelDir: string, texts: string[]): void {
  for (let l = 0; l < tensors.length; l++) {
    if (!tensors[l]) continue; // hook sources hold only the requested layers
    const { data, shape } = tensors[l]!;
    const [batch, seqLen, d] = shape;
    for (let b = 0; b < batch; b++) {
      for (let t = 0; t < seqLen; t++) {
        if (!mask[b * seqLen + t]) continue;
        const off = (b * seqLen + t) * d;
        // fast path: v * 0 is 0 for every finite v and NaN for NaN/±Inf, so one branch per token, not per value
        let probe = 0;
        for (let j = 0; j < d; j++) probe += data[off + j]! * 0;
        if (probe === 0) continue;
        for (let j = 0; j < d; j++) {
          const v = data[off + j];
          if (v - v !== 0) {
            throw new AtlasError(
              `the model produced ${Number.isNaN(v) ? 'NaN' : 'Inf'} in ${hookLabel(source, l)} (layer ${l}, ${source}) for the text ${JSON.stringify(texts[b].slice(0, 40))}; no activations of it were cached`,
              { file: weightFiles(modelDir), hint: `a weight feeding ${l === 0 ? 'the embeddings' : `block ${source === 'hidden' ? l - 1 : l}`} is probably NaN/Inf or overflows: check the checkpoint (latent-atlas info), or load it in float32` },
            );
          }
        }
      }
    }
  }
}

/**
 * Matched token position of each text: the token holding the first non-space character of its match, in the
 * model's token sequence (after a prepended BOS and left truncation).
 */
function matchPositions(dataset: Dataset, tokenizer: AtlasTokenizer, tokens: TokenizedTexts): number[] {
  if (!dataset.matches) {
    throw new AtlasError(`dataset ${dataset.name} has no regex matches`, { field: 'aggregate', hint: "aggregation 'match' needs a dataset made by the corpus filter or one with match columns" });
  }
  return dataset.texts.map((text, i) => {
    const m = dataset.matches![i];
    let start = m.start;
    while (start < m.end && /\s/.test(text[start])) start++;
    const p = tokenAtChar(tokenizer, tokenizer.encode(text), start);
    const at = modelPosition(tokens, i, p);
    if (at < tokens.lead[i]! + tokens.added[i]!) {
      throw new AtlasError(`the match of text ${i} is at token ${p}, cut away by --truncate left`, { field: 'truncate', hint: 'raise --max-length or truncate right' });
    }
    return at;
  });
}

/**
 * Everything that decides an extraction's numbers and its cache entry, computed once from the model, the dataset
 * and the options: the layer list, the batch plan (texts sorted by length, cut into batches of batchSize) and the
 * cache key. The single-process extraction and the sharded one (src/scale/) both run from it, so a sharded run
 * computes exactly the same batches and its merged files equal a single-process run's byte for byte.
 */
export interface ExtractionPlan {
  /** Warnings given while planning (truncated texts), then during the extraction. */
  warnings: string[];
  source: ActivationSource;
  aggregate: Aggregation;
  l2Normalize: boolean;
  layers: number[];
  maxLength: number;
  /** Texts per batch, in batch order; batch numbers are indices into this list. */
  batches: number[][];
  /** Tokens per text after truncation, by text index. */
  lengths: number[];
  /** Matched token position per text (aggregation 'match'). */
  positions?: number[];
  /** Every text's token ids as the model reads them (from the token cache when present). */
  tokens: TokenizedTexts;
  /** The token cache folder (undefined when it could not be placed). */
  tokensDir?: string;
  /** Whether the tokens came from the token cache. */
  tokensCached: boolean;
  /** What decided the tokens (the token cache's key besides model and dataset). */
  tokenOptions: TokenOptions;
  /** The logit lens to compute (extract --lens). */
  lens?: LensPlan;
  /** The activation cache key (without root and force). */
  cache: Omit<ActivationCacheOptions, 'root' | 'force'>;
  /** What finalize stores beside the arrays (labels, texts, model config…). */
  extraMeta: Record<string, unknown>;
}

export function planExtraction(model: LoadedModel, dataset: Dataset, opts: ExtractOptions = {}): ExtractionPlan {
  const config = model.checkpoint.config;
  const source = opts.source ?? EXTRACT_OPTIONS.source.default;
  parseActivationSource(source);
  const count = sourceLayerCount(source, config.spec);
  const spec = opts.layers ?? EXTRACT_OPTIONS.layers.default;
  const layers = typeof spec === 'string' ? parseLayers(spec, count) : spec;
  for (const l of layers) if (!Number.isInteger(l) || l < 0 || l >= count) throw new AtlasError(`layer ${l} does not exist: ${source} layers are 0..${count - 1}`, { field: 'layers' });
  const how = opts.aggregate ?? EXTRACT_OPTIONS.aggregate.default;
  const batchSize = opts.batchSize ?? EXTRACT_OPTIONS.batchSize.default;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new AtlasError(`batch size must be a positive integer, got ${batchSize}`, { field: 'batch-size' });
  const maxLength = resolveMaxLength(opts.maxLength, config.maxPositions);
  const warnings: string[] = [];
  const warn = (w: string) => { warnings.push(w); (opts.onWarning ?? ((m: string) => console.error(`warning: ${m}`)))(w); };
  if (dataset.texts.length === 0) throw new AtlasError(`dataset ${dataset.name} has no texts`, { file: dataset.source });
  const tokenizer = model.tokenizer;
  dataset.texts.forEach((t, i) => {
    if (t.trim().length === 0) throw new AtlasError(`text ${i} is empty`, { file: dataset.source, hint: 'remove empty rows' });
  });

  // Tokenized once (or read from the token cache); lengths decide the batch plan.
  const prependBos = opts.prependBos ?? EXTRACT_OPTIONS.prependBos.default;
  const truncation = opts.truncate ?? EXTRACT_OPTIONS.truncate.default ?? tokenizer.truncationSide;
  if (truncation !== 'left' && truncation !== 'right') throw new AtlasError(`--truncate must be left or right, got '${String(truncation)}'`, { field: 'truncate' });
  const tokenOptions = { maxLength, prependBos, truncation };
  let tokensDir: string | undefined;
  try {
    tokensDir = tokenCacheDir(opts.cacheRoot ?? defaultCacheRoot(), model.key, dataset.hash, tokenizer, tokenOptions);
  } catch { /* no cache folder: tokenize without caching */ }
  const { tokens, cached: tokensCached } = cachedTokens(tokenizer, dataset.texts, tokenOptions, tokensDir);
  const lengths = dataset.texts.map((_, i) => tokens.offsets[i + 1]! - tokens.offsets[i]!);
  const truncated = truncationWarning(tokens.fullLengths.map((n, i) => n + tokens.added[i]!), maxLength);
  if (truncated) warn(truncated);
  const positions = how === 'match' ? matchPositions(dataset, tokenizer, tokens) : undefined;
  if (positions) {
    positions.forEach((p, i) => {
      if (p >= lengths[i]) throw new AtlasError(`the match of text ${i} is at token ${p}, past the maximum length ${maxLength}`, { field: 'max-length', hint: 'raise --max-length' });
    });
  }
  const lensK = opts.lensK ?? EXTRACT_OPTIONS.lensK.default;
  const lens = (opts.lens ?? EXTRACT_OPTIONS.lens.default) ? planLens(config.spec, source, how, layers, lensK) : undefined;
  // Options that change the numbers; the new ones only when not at their old behaviour, so existing entries keep their keys.
  const keyed: Record<string, unknown> = { source, aggregate: how, l2Normalize: opts.l2Normalize ?? false, maxLength };
  if (prependBos) keyed.prependBos = true;
  if (truncation === 'left') keyed.truncate = 'left';
  if (lens) keyed.lens = { k: lens.k, version: 1 };
  const order = dataset.texts.map((_, i) => i).sort((a, b) => lengths[a] - lengths[b] || a - b);
  const batches: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) batches.push(order.slice(i, i + batchSize));
  const cache = {
    modelKey: model.key,
    datasetHash: dataset.hash,
    options: keyed,
    layers,
    numTexts: dataset.texts.length,
    dtype: opts.dtype,
    plan: { batchSize, order: 'length' },
  };
  // The entry names its token cache relative to itself (a moved cache root keeps the link).
  const tokensLink = tokensDir ? relative(activationCacheDir({ ...cache, root: opts.cacheRoot ?? defaultCacheRoot() }), tokensDir) : undefined;
  return {
    source, aggregate: how, l2Normalize: opts.l2Normalize ?? false, layers, maxLength, batches, lengths, positions, warnings,
    tokens, tokensDir, tokensCached, tokenOptions, lens,
    cache,
    extraMeta: {
      model: model.id,
      modelDir: model.dir,
      modelConfig: config.raw,
      dataset: { name: dataset.name, source: dataset.source, hash: dataset.hash },
      labels: dataset.labels,
      classNames: dataset.classNames,
      texts: dataset.texts,
      totalTokens: lengths.reduce((a, b) => a + b, 0),
      prependBos,
      truncate: truncation,
      ...(tokensLink ? { tokensDir: tokensLink } : {}),
    },
  };
}

/** A batch of a plan, tokenized and ready for the runtime. */
interface PreparedBatch {
  bi: number;
  ids: number[];
  enc: ReturnType<AtlasTokenizer['encodeBatch']>;
  input: ForwardInput;
}

function prepareBatch(model: LoadedModel, _dataset: Dataset, plan: ExtractionPlan, bi: number): PreparedBatch {
  const ids = plan.batches[bi]!;
  // The plan's tokens (already cut to maxLength, BOS in front when asked), padded into one batch.
  const enc = padRows(ids.map((i) => textTokens(plan.tokens, i)), model.tokenizer.padTokenId, model.tokenizer.paddingSide);
  return { bi, ids, enc, input: { ids: enc.ids, attentionMask: enc.attentionMask, batch: ids.length, seqLen: enc.seqLen } };
}

/** The hook read for each planned layer (HF hidden state l for 'hidden'). */
function planHooks(plan: ExtractionPlan, spec: ModelSpec): HookPoint[] {
  return plan.layers.map((l) => (plan.source === 'hidden' ? hfHiddenStateHook(spec, l) : sourceHook(plan.source as Exclude<ActivationSource, 'hidden'>, l)));
}

/** One layer's rows of a batch: the finite check, then the aggregation (rows of texts/tokens for 'all' and 'match'). */
function aggregateLayer(model: LoadedModel, dataset: Dataset, plan: ExtractionPlan, b: PreparedBatch, layer: number, t: { shape: number[]; data: Float32Array }, checked = false): { data: Float32Array; rowText?: number[]; rowToken?: number[] } {
  const { enc, ids } = b;
  const tokenizer = model.tokenizer;
  if (!checked) {
    const one: { shape: number[]; data: Float32Array }[] = [];
    one[layer] = t;
    checkFinite(one, enc.attentionMask, plan.source, model.dir, ids.map((i) => dataset.texts[i]!));
  }
  // Matched positions are in unpadded token coordinates; shift them by each row's left padding.
  const matchAt = plan.positions
    ? ids.map((i, k) => plan.positions![i]! + (tokenizer.paddingSide === 'left' ? enc.seqLen - enc.lengths[k]! : 0))
    : undefined;
  const agg = aggregate({ states: t.data, batch: ids.length, seqLen: enc.seqLen, d: t.shape[2]!, attentionMask: enc.attentionMask, matchPositions: matchAt }, plan.aggregate, { l2Normalize: plan.l2Normalize });
  if (plan.aggregate !== 'all' && plan.aggregate !== 'match') return { data: agg.data };
  return {
    data: agg.data,
    rowText: Array.from(agg.textIndex, (k) => ids[k]!),
    // Positions are stored in unpadded coordinates, so they index the text's own token list.
    rowToken: Array.from(agg.position, (p, r) => p - (tokenizer.paddingSide === 'left' ? enc.seqLen - enc.lengths[agg.textIndex[r]!]! : 0)),
  };
}

/** Stores a batch's aggregated layers (in plan.layers order) in the cache, atomically. */
function writePreparedBatch(plan: ExtractionPlan, b: PreparedBatch, layers: { data: Float32Array; rowText?: number[]; rowToken?: number[] }[], cache: ActivationCache): void {
  const rows = layers[layers.length - 1]!;
  try {
    cache.writeBatch(b.bi, layers.map((x) => x.data), { textIds: b.ids, tokenCounts: b.ids.map((i) => plan.lengths[i]!), rowText: plan.aggregate === 'all' ? rows.rowText : undefined, rowToken: rows.rowToken });
  } catch (e) {
    throw fsError(e, { what: `writing batch ${b.bi + 1} of ${plan.batches.length} of the activation cache`, hint: cacheResumeHint(cache.finishedBatches().size, plan.batches.length, cache.dir) });
  }
}

/** Runs the forward pass of batch `bi` of a plan and stores its aggregated rows in the cache (atomically). */
export async function computeBatch(model: LoadedModel, dataset: Dataset, plan: ExtractionPlan, bi: number, cache: ActivationCache): Promise<void> {
  if (model.runtime.streamed) {
    await computeChunk(model, dataset, plan, [bi], cache);
    return;
  }
  const { source } = plan;
  const runtime = model.runtime as TransformerRuntime;
  const spec = model.checkpoint.spec;
  const b = prepareBatch(model, dataset, plan, bi);
  let tensors: { shape: number[]; data: Float32Array }[];
  let lensStates: Map<string, F32Tensor> | undefined;
  if (source === 'hidden' && plan.lens) {
    // Hidden states plus the last block's output before the final norm (the lens of layer L).
    const hidden = hiddenStateHooks(spec);
    lensStates = await runtime.forwardHooks(b.input, [...hidden, lensHook(spec, spec.nLayer)]);
    tensors = hidden.map((h) => lensStates!.get(hookName(h))!);
  } else if (source === 'hidden') {
    tensors = (await runtime.forward(b.input)).hiddenStates;
  } else {
    // Only the requested layers' hooks are computed (the graph stops after the last one).
    const out = await model.runtime.forwardHooks(b.input, plan.layers.map((l) => sourceHook(source, l)));
    tensors = [];
    for (const l of plan.layers) tensors[l] = out.get(hookName(sourceHook(source, l)))!;
  }
  // Every layer is checked before any is aggregated: the earliest non-finite layer is the one reported.
  checkFinite(tensors, b.enc.attentionMask, source, model.dir, b.ids.map((i) => dataset.texts[i]!));
  const rows = plan.layers.map((l) => aggregateLayer(model, dataset, plan, b, l, tensors[l]!, true));
  if (plan.lens && lensStates) await writeBatchLens(model, plan, b, lensStates, cache);
  writePreparedBatch(plan, b, rows, cache);
}

/**
 * Layer-streamed extraction of several batches at once (a chunk): each segment of blocks is loaded once and
 * applied to every batch of the chunk; each hook output is aggregated as soon as it arrives (the full
 * [B, T, d] states are never kept for the chunk), and the batches are written to the cache one by one at the
 * end, so an interrupted run loses at most the chunk in flight.
 */
async function computeChunk(model: LoadedModel, dataset: Dataset, plan: ExtractionPlan, bis: number[], cache: ActivationCache): Promise<void> {
  const rt = model.runtime as StreamedRuntime;
  const batches = bis.map((bi) => prepareBatch(model, dataset, plan, bi));
  const hooks = planHooks(plan, model.checkpoint.spec);
  const slot = new Map(hooks.map((h, k) => [hookName(h), k]));
  const rows = batches.map(() => new Array<{ data: Float32Array; rowText?: number[]; rowToken?: number[] }>(hooks.length));
  await rt.forwardChunk(batches.map((b) => b.input), hooks, 'none', (i, key, t) => {
    const k = slot.get(key);
    if (k !== undefined) rows[i]![k] = aggregateLayer(model, dataset, plan, batches[i]!, plan.layers[k]!, t);
  });
  batches.forEach((b, i) => writePreparedBatch(plan, b, rows[i]!, cache));
}

/** The logit lens of one batch, written before the batch itself: a finished batch always has its lens. */
async function writeBatchLens(model: LoadedModel, plan: ExtractionPlan, b: PreparedBatch, lensStates: Map<string, F32Tensor>, cache: ActivationCache): Promise<void> {
  const lens = plan.lens!;
  const { enc, ids, bi } = b;
  const tokenizer = model.tokenizer;
  const T = enc.seqLen;
  const rowAt = ids.map((i, k) => {
    const start = tokenizer.paddingSide === 'left' ? T - enc.lengths[k]! : 0;
    const t = lens.position === 'match' ? start + plan.positions![i]! : lens.position === 'first' ? start : start + enc.lengths[k]! - 1;
    return k * T + t;
  });
  const part = await lensBatch(model, lens, lensStates, rowAt, ids);
  try {
    writeLensPart(cache.dir, bi, part);
  } catch (e) {
    throw fsError(e, { what: `writing the logit lens of batch ${bi + 1} of ${plan.batches.length}`, hint: cacheResumeHint(cache.finishedBatches().size, plan.batches.length, cache.dir) });
  }
}

/** Consecutive unfinished batches grouped into chunks of at least `tokens` padded tokens (the last may be smaller). */
export function streamChunks(plan: ExtractionPlan, done: Set<number>, tokens: number): number[][] {
  const out: number[][] = [];
  let cur: number[] = [];
  let n = 0;
  for (let bi = 0; bi < plan.batches.length; bi++) {
    if (done.has(bi)) continue;
    const ids = plan.batches[bi]!;
    cur.push(bi);
    n += ids.length * Math.max(...ids.map((i) => plan.lengths[i]!));
    if (n >= tokens) { out.push(cur); cur = []; n = 0; }
  }
  if (cur.length) out.push(cur);
  return out;
}

/**
 * Runs the model over a dataset and stores the aggregated activations of the chosen layers in the cache
 * (one .npy per layer + meta.json). Texts are batched in order of length (less padding); each finished batch
 * is written atomically, so an interrupted run resumes where it stopped and the final files equal a clean
 * run's byte for byte. A cached complete result is returned without running the model.
 */
export async function extractActivations(model: LoadedModel, dataset: Dataset, opts: ExtractOptions = {}): Promise<Extraction> {
  const plan = planExtraction(model, dataset, opts);
  const { layers, batches, lengths, warnings } = plan;
  if (plan.lens && model.runtime.streamed) {
    throw new AtlasError('the logit lens needs the whole model in memory; this model runs layer-streamed under the memory budget', { field: 'lens', hint: 'drop --lens, or raise --max-memory if the machine has room for the float32 weights' });
  }
  const warn = (w: string) => { warnings.push(w); (opts.onWarning ?? ((m: string) => console.error(`warning: ${m}`)))(w); };
  const cacheRoot = opts.cacheRoot ?? defaultCacheRoot();
  ensureWritableDir(cacheRoot, 'cache'); // before any forward pass
  if (!plan.tokensCached) storeTokens(plan.tokensDir, plan.tokens, model.tokenizer, plan.tokenOptions);
  const cacheOptions = { ...plan.cache, root: cacheRoot, force: opts.force };
  // One process per entry: a second one waits (saying for whom) instead of deleting the first one's parts.
  const release = await lockCacheEntry(activationCacheDir(cacheOptions), { onMessage: warn, timeoutMs: opts.lockTimeoutMs });
  try {
    let cache = openActivationCache(cacheOptions);
    if (cache.discarded) warn(`the cached entry ${cache.dir} was damaged (${cache.discarded}): recomputing it`);
    const result = (cached: boolean): Extraction => ({
      dir: cache.dir, meta: cache.meta()!, layers, cached, warnings, readLayer: (l) => cache.readLayer(l),
    });
    if (cache.isComplete() && (!plan.lens || lensComplete(cache.dir, plan.lens, dataset.texts.length))) return result(true);
    if (cache.isComplete()) {
      warn(`the cached entry ${cache.dir} has no complete logit lens: recomputing it`);
      cache.clear();
      cache = openActivationCache(cacheOptions);
    }

    const done = cache.finishedBatches();
    if (plan.lens) for (const bi of [...done]) if (!hasLensPart(cache.dir, bi)) done.delete(bi);
    const bar = progress({ total: dataset.texts.length, label: `extract ${plan.source} ${plan.aggregate}`, unit: 'texts', enabled: opts.progress ?? true });
    const started = performance.now();
    let tokensDone = 0;
    if (model.runtime.streamed) {
      for (const bi of done) bar.skip(batches[bi]!.length);
      for (const chunk of streamChunks(plan, done, (model.runtime as StreamedRuntime).chunkTokens)) {
        if (opts.signal?.aborted) { bar.done(); throw new AtlasError('extraction interrupted; finished batches are cached and the next run resumes from them'); }
        try {
          await computeChunk(model, dataset, plan, chunk, cache);
        } catch (e) {
          bar.done();
          throw e;
        }
        const texts = chunk.reduce((a, bi) => a + batches[bi]!.length, 0);
        tokensDone += chunk.reduce((a, bi) => a + batches[bi]!.reduce((x, i) => x + lengths[i]!, 0), 0);
        bar.tick(texts, { 'tok/s': Math.round(tokensDone / Math.max((performance.now() - started) / 1000, 1e-9)) });
      }
    }
    for (let bi = 0; bi < batches.length && !model.runtime.streamed; bi++) {
      const ids = batches[bi]!;
      if (done.has(bi)) { bar.skip(ids.length); continue; }
      if (opts.signal?.aborted) { bar.done(); throw new AtlasError('extraction interrupted; finished batches are cached and the next run resumes from them'); }
      try {
        await computeBatch(model, dataset, plan, bi, cache);
      } catch (e) {
        bar.done();
        throw e;
      }
      tokensDone += ids.reduce((a, i) => a + lengths[i]!, 0);
      const secs = (performance.now() - started) / 1000;
      bar.tick(ids.length, { 'tok/s': Math.round(tokensDone / Math.max(secs, 1e-9)) });
    }
    bar.done();
    try {
      const extra = { ...plan.extraMeta };
      if (plan.lens) {
        finalizeLens(cache.dir, plan.lens, dataset.texts.length, batches.length, model.tokenizer);
        extra.lensFile = LENS_FILES.meta;
      }
      cache.finalize(extra);
    } catch (e) {
      throw fsError(e, { what: 'writing the final layer files of the activation cache', hint: cacheResumeHint(batches.length, batches.length, cache.dir) });
    }
    return result(false);
  } finally {
    release();
    if (plan.lens) await releaseLensHead(model);
  }
}

/** Per-row label index (or -1), class names and hover text of an extraction (one row per text, or per token for 'all'). */
export function extractionRows(e: Extraction): { labels: Int32Array; classNames: string[]; texts: string[] } {
  const meta = e.meta;
  const texts = (meta.texts as string[] | undefined) ?? [];
  const labels = (meta.labels as number[] | null | undefined) ?? null;
  const classNames = (meta.classNames as string[] | undefined) ?? [];
  let rowText: ArrayLike<number> = Int32Array.from({ length: meta.rows }, (_, i) => i);
  if (meta.rowTextFile) rowText = readNpyInt32(join(e.dir, meta.rowTextFile));
  return {
    labels: Int32Array.from({ length: meta.rows }, (_, r) => (labels ? labels[rowText[r]] : -1)),
    classNames,
    texts: Array.from({ length: meta.rows }, (_, r) => texts[rowText[r]] ?? ''),
  };
}

function readNpyInt32(path: string): Int32Array {
  const a = readNpy(path);
  return a.data instanceof Int32Array ? a.data : Int32Array.from(a.data as ArrayLike<number>);
}
function cacheResumeHint(finished: number, total: number, dir: string): string {
  let bytes = 0;
  try {
    for (const f of readdirSync(join(dir, 'parts'))) bytes += statSync(join(dir, 'parts', f)).size;
  } catch { /* no parts folder: nothing written yet */ }
  return `${finished} of ${total} batches (${(bytes / 2 ** 20).toFixed(2)} MB) are safely cached in ${dir}; partial files were removed. Free space (or use --cache elsewhere) and rerun: it resumes from the cached batches`;
}
