/**
 * Logit lens (`extract --lens`): each layer's residual at one token of each text, decoded through the model's
 * own head — the final norm and the unembedding of src/model/graph.ts (buildHeadGraph, the same code as the
 * forward graph's head, so nothing about the architecture is described twice). Per text and layer it keeps
 * the entropy of the softmax, the top-K tokens and their probabilities, and the rank of the model's own final
 * top-1 token. File names and layout: src/data/lens-files.ts.
 *
 * Layer ℓ (HF hidden_states numbering) decodes resid_pre of block ℓ for ℓ < L (ℓ = 0: the embeddings) and the
 * last block's output before the final norm for ℓ = L, where the lens is the model's own logits.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { AtlasError } from '../errors.ts';
import type { LoadedModel } from '../model/load.ts';
import { buildHeadGraph, HEAD_ROWS, LOGITS } from '../model/graph.ts';
import { createSession } from '../model/onnx-builder.ts';
import { type HookPoint, type ModelSpec, hookName } from '../model/spec.ts';
import type { F32Tensor } from '../model/tensor.ts';
import type { AtlasTokenizer } from '../model/tokenizer.ts';
import type { Aggregation } from './aggregate.ts';
import { writeJsonAtomic } from './atomic.ts';
import { LENS_FILES, type LensMeta } from './lens-files.ts';
import { readNpy, writeNpy } from './npy.ts';

export type LensPosition = 'final' | 'first' | 'match';

export interface LensPlan {
  k: number;
  /** Layers decoded (HF hidden_states numbering), as stored. */
  layers: number[];
  position: LensPosition;
}

/** Checks that the lens applies (causal LM with an unembedding, hidden states) and fixes its position. */
export function planLens(spec: ModelSpec, source: string, how: Aggregation, layers: number[], k: number): LensPlan {
  if (source !== 'hidden') throw new AtlasError(`--lens decodes hidden states: use --source hidden (the default), not '${source}'`, { field: 'lens' });
  if (!spec.unembed) throw new AtlasError(`--lens needs a language model with an unembedding: this ${spec.modelType} model was loaded without an LM head`, { field: 'lens', hint: 'use a causal LM checkpoint (GPT-2, Llama, …)' });
  if (spec.blocks.some((b) => !b.attn.causal)) throw new AtlasError(`--lens needs a causal language model: ${spec.modelType} attends in both directions`, { field: 'lens', hint: 'use a causal LM checkpoint (GPT-2, Llama, …)' });
  if (!Number.isInteger(k) || k < 1) throw new AtlasError(`--lens-k must be a positive integer, got ${k}`, { field: 'lens-k' });
  return { k: Math.min(k, spec.vocabSize), layers, position: how === 'first' ? 'first' : how === 'match' ? 'match' : 'final' };
}

/** The hook holding layer ℓ's residual before the final norm. */
export function lensHook(spec: ModelSpec, l: number): HookPoint {
  return l < spec.nLayer ? { kind: 'resid_pre', layer: l } : { kind: 'resid_post', layer: spec.nLayer - 1 };
}

/** The lens of one batch: per text (textIds order), row-major [text, layer] and [text, layer, k]. */
export interface LensBatch {
  textIds: number[];
  entropy: number[];
  rank: number[];
  topIds: number[];
  topProbs: number[];
}

/** Entropy (nats) of softmax(z) and its k most probable ids (probability desc, then id asc), in float64. */
export function softmaxStats(z: ArrayLike<number>, k: number): { entropy: number; topIds: number[]; topProbs: number[] } {
  const V = z.length;
  let m = -Infinity;
  for (let i = 0; i < V; i++) if (z[i]! > m) m = z[i]!;
  let s = 0;
  let sz = 0;
  for (let i = 0; i < V; i++) {
    const e = Math.exp(z[i]! - m);
    s += e;
    sz += e * (z[i]! - m);
  }
  const entropy = Math.log(s) - sz / s;
  // The k largest, kept sorted (k ≪ V).
  const ids: number[] = [];
  for (let i = 0; i < V; i++) {
    const v = z[i]!;
    if (ids.length === k && !(v > z[ids[k - 1]!]!)) continue;
    let p = ids.length < k ? ids.length : k - 1;
    if (ids.length < k) ids.push(i);
    while (p > 0 && z[ids[p - 1]!]! < v) { ids[p] = ids[p - 1]!; p--; }
    ids[p] = i;
  }
  return { entropy, topIds: ids, topProbs: ids.map((i) => Math.exp(z[i]! - m) / s) };
}

/** Rank (0 = top, ties broken by id as in the top-K list) of token t in z. */
export function tokenRank(z: ArrayLike<number>, t: number): number {
  const v = z[t]!;
  let r = 0;
  for (let i = 0; i < z.length; i++) if (z[i]! > v || (z[i] === v && i < t)) r++;
  return r;
}

const heads = new WeakMap<object, Promise<ort.InferenceSession>>();

function headSession(model: LoadedModel): Promise<ort.InferenceSession> {
  let s = heads.get(model.runtime);
  if (!s) {
    s = createSession(buildHeadGraph(model.runtime.spec, model.runtime.weights), { threads: model.runtime.threads });
    heads.set(model.runtime, s);
    s.catch(() => heads.delete(model.runtime));
  }
  return s;
}

/** Frees the head session of a model (created by the first lensBatch). */
export async function releaseLensHead(model: LoadedModel): Promise<void> {
  const s = heads.get(model.runtime);
  heads.delete(model.runtime);
  if (s) await (await s).release().catch(() => undefined);
}

/** Logits [n, V] of residual rows [n, d] through the model's head. */
export async function headLogits(model: LoadedModel, rows: Float32Array, n: number): Promise<Float32Array> {
  const session = await headSession(model);
  const d = model.runtime.spec.dModel;
  const out = await session.run({ [HEAD_ROWS]: new ort.Tensor('float32', rows, [n, d]) });
  return out[LOGITS]!.data as Float32Array;
}

/**
 * The lens of one batch. `states` holds lensHook(ℓ) for every layer ℓ of the plan and for L; `rowAt[b]` is the
 * flat index b·T + t of the decoded token of text b.
 */
export async function lensBatch(model: LoadedModel, lens: LensPlan, states: Map<string, F32Tensor>, rowAt: number[], textIds: number[]): Promise<LensBatch> {
  const spec = model.runtime.spec;
  const L = spec.nLayer;
  const d = spec.dModel;
  const V = spec.vocabSize;
  const decoded = lens.layers.includes(L) ? lens.layers : [...lens.layers, L];
  const B = rowAt.length;
  const n = decoded.length;
  const out: LensBatch = { textIds, entropy: [], rank: [], topIds: [], topProbs: [] };
  // Texts per head call: the logits block stays under 2^24 floats (64 MB; each text is n rows × V).
  const per = Math.max(1, Math.floor(2 ** 24 / (n * V)));
  for (let b0 = 0; b0 < B; b0 += per) {
    const nb = Math.min(per, B - b0);
    const rows = new Float32Array(nb * n * d);
    for (let b = 0; b < nb; b++) {
      decoded.forEach((l, j) => {
        const t = states.get(hookName(lensHook(spec, l)))!;
        const at = rowAt[b0 + b]!;
        rows.set(t.data.subarray(at * d, (at + 1) * d), (b * n + j) * d);
      });
    }
    const logits = await headLogits(model, rows, nb * n);
    for (let b = 0; b < nb; b++) {
      const row = (j: number) => logits.subarray((b * n + j) * V, (b * n + j + 1) * V);
      const finalTop = softmaxStats(row(decoded.indexOf(L)), 1).topIds[0]!; // the model's own prediction
      lens.layers.forEach((_, j) => {
        const z = row(j);
        const s = softmaxStats(z, lens.k);
        out.entropy.push(s.entropy);
        out.rank.push(tokenRank(z, finalTop));
        out.topIds.push(...s.topIds);
        out.topProbs.push(...s.topProbs);
      });
    }
  }
  return out;
}

/** Where a batch's lens waits until the entry is finalised (inside the cache entry's parts folder). */
export function lensPartPath(entryDir: string, batch: number): string {
  return join(entryDir, 'parts', `lens-${batch}.json`);
}

export function writeLensPart(entryDir: string, batch: number, part: LensBatch): void {
  writeJsonAtomic(lensPartPath(entryDir, batch), part);
}

export function hasLensPart(entryDir: string, batch: number): boolean {
  return existsSync(lensPartPath(entryDir, batch));
}

/**
 * Decoded text of every id (a tokenizer, or the id → text maps shards wrote with lensTokenTexts: a merge has no
 * tokenizer loaded). Ids at or past the vocabulary (padded unembeddings) read `<id>`.
 */
export function lensTokenTexts(ids: Iterable<number>, tokenizer: AtlasTokenizer): Record<string, string> {
  const tokens: Record<string, string> = {};
  for (const id of new Set(ids)) tokens[String(id)] = id < tokenizer.vocabSize ? tokenizer.tokenStrings([id])[0]! : `<${id}>`;
  return tokens;
}

/** Where a shard keeps the decoded text of the token ids in its lens parts (lensTokenTexts), for the merge. */
export function lensTokensPartPath(entryDir: string): string {
  return join(entryDir, 'parts', 'lens-tokens.json');
}

/** Every token id in the lens parts of batches [lo, hi) of an entry. */
export function lensPartIds(entryDir: string, lo: number, hi: number): Set<number> {
  const ids = new Set<number>();
  for (let bi = lo; bi < hi; bi++) for (const id of (JSON.parse(readFileSync(lensPartPath(entryDir, bi), 'utf8')) as LensBatch).topIds) ids.add(id);
  return ids;
}

/** Assembles the batches' lens parts into the lens files (arrays first, lens.json last). */
export function finalizeLens(entryDir: string, lens: LensPlan, numTexts: number, batches: number, tokenizer: AtlasTokenizer | Record<string, string>): string[] {
  const nl = lens.layers.length;
  const k = lens.k;
  const entropy = new Float32Array(numTexts * nl);
  const rank = new Int32Array(numTexts * nl);
  const topIds = new Int32Array(numTexts * nl * k);
  const topProbs = new Float32Array(numTexts * nl * k);
  const seen = new Uint8Array(numTexts);
  for (let bi = 0; bi < batches; bi++) {
    const part = JSON.parse(readFileSync(lensPartPath(entryDir, bi), 'utf8')) as LensBatch;
    part.textIds.forEach((t, r) => {
      seen[t] = 1;
      entropy.set(part.entropy.slice(r * nl, (r + 1) * nl), t * nl);
      rank.set(part.rank.slice(r * nl, (r + 1) * nl), t * nl);
      topIds.set(part.topIds.slice(r * nl * k, (r + 1) * nl * k), t * nl * k);
      topProbs.set(part.topProbs.slice(r * nl * k, (r + 1) * nl * k), t * nl * k);
    });
  }
  const missing = seen.indexOf(0);
  if (missing >= 0) throw new Error(`finalizeLens: text ${missing} has no lens rows`);
  let tokens: Record<string, string>;
  if ('tokenStrings' in tokenizer) tokens = lensTokenTexts(topIds, tokenizer as AtlasTokenizer);
  else {
    const known = tokenizer as Record<string, string>;
    tokens = {};
    for (const id of new Set(topIds)) {
      const text = known[String(id)];
      if (text === undefined) throw new Error(`finalizeLens: no text for token id ${id}`);
      tokens[String(id)] = text;
    }
  }
  const files = [
    [LENS_FILES.entropy, entropy, [numTexts, nl]],
    [LENS_FILES.rank, rank, [numTexts, nl]],
    [LENS_FILES.topIds, topIds, [numTexts, nl, k]],
    [LENS_FILES.topProbs, topProbs, [numTexts, nl, k]],
  ] as const;
  for (const [name, data, shape] of files) writeNpy(join(entryDir, name), data, shape);
  const meta: LensMeta = { version: LENS_FILES.version, layers: lens.layers, k, position: lens.position, tokens };
  writeJsonAtomic(join(entryDir, LENS_FILES.meta), meta);
  return [...files.map(([name]) => join(entryDir, name)), join(entryDir, LENS_FILES.meta)];
}

/** The lens stored in a cache entry (readers: tests, the explorer), or undefined when the entry has none. */
export interface StoredLens {
  meta: LensMeta;
  rows: number;
  entropy: Float32Array;
  rank: Int32Array;
  topIds: Int32Array;
  topProbs: Float32Array;
}

export function readLens(entryDir: string): StoredLens | undefined {
  const metaPath = join(entryDir, LENS_FILES.meta);
  if (!existsSync(metaPath)) return undefined;
  const meta = JSON.parse(readFileSync(metaPath, 'utf8')) as LensMeta;
  const read = (name: string) => readNpy(join(entryDir, name));
  const e = read(LENS_FILES.entropy);
  return {
    meta, rows: e.shape[0]!,
    entropy: e.data as Float32Array,
    rank: read(LENS_FILES.rank).data as Int32Array,
    topIds: read(LENS_FILES.topIds).data as Int32Array,
    topProbs: read(LENS_FILES.topProbs).data as Float32Array,
  };
}

/** Whether an entry holds the lens of this plan (files present, same layers, k and position). */
export function lensComplete(entryDir: string, lens: LensPlan, numTexts: number): boolean {
  try {
    const metaPath = join(entryDir, LENS_FILES.meta);
    if (!existsSync(metaPath)) return false;
    const m = JSON.parse(readFileSync(metaPath, 'utf8')) as LensMeta;
    if (m.version !== LENS_FILES.version || m.k !== lens.k || m.position !== lens.position || JSON.stringify(m.layers) !== JSON.stringify(lens.layers)) return false;
    const nl = lens.layers.length;
    const want: [string, number][] = [[LENS_FILES.entropy, numTexts * nl * 4], [LENS_FILES.rank, numTexts * nl * 4], [LENS_FILES.topIds, numTexts * nl * lens.k * 4], [LENS_FILES.topProbs, numTexts * nl * lens.k * 4]];
    return want.every(([name, bytes]) => existsSync(join(entryDir, name)) && statSync(join(entryDir, name)).size >= bytes);
  } catch {
    return false;
  }
}
