/**
 * Where the latent Fisher engine (compute.ts) reads the canonical weights: one piece at a time — the
 * embeddings, block 0 … L−1, the head (final norm + LM head) — so that the same loop runs a model held whole
 * in memory (a ParamStore: every piece is the store's own canonical map, nothing is copied) or layer-streamed
 * (a checkpoint too large for its float32 weights to sit in memory: each piece is read and converted when the
 * loop reaches it and dropped once every text of the chunk has gone through it).
 *
 * Streaming keeps, per text of a chunk, its token's value and tangent rows ((1 + d) × d for the exact metric
 * at any layer) between pieces, and per batch the residual stream; the chunk is as many batches as the budget
 * left after one piece's weights holds, so the weights are read once per chunk.
 */
import { AtlasError, isAtlasError } from '../errors.ts';
import { W, canonicalWeightShapes, type ModelSpec } from '../model/spec.ts';
import type { CanonicalWeights } from '../model/weights.ts';
import { assertWholeModelFits, formatBytes } from '../model/memory.ts';
import type { Checkpoint } from '../model/checkpoint.ts';
import { collectGarbage } from '../model/runtime.ts';
import { numel } from '../model/tensor.ts';
import { ParamStore, type ParamTensor } from '../params/param-store.ts';

/** A piece of the model: 'embed' (token/position/type embeddings and their norm), block l, 'head' (final norm, LM head). */
export type FisherPiece = 'embed' | number | 'head';

/** Bytes the chunk loop holds per text (between pieces) and once for the text in flight (inside a block). */
export interface FisherChunkNeeds {
  perText: number;
  inFlight: number;
}

export interface FisherWeights {
  readonly spec: ModelSpec;
  /** The precision the engine computes in (a float64 ParamStore drives the finite-difference checks). */
  readonly f64: boolean;
  /** True when pieces are read from the checkpoint on demand (layer-streamed). */
  readonly streamed: boolean;
  /** The canonical tensors of one piece (a streamed piece lives as long as the caller keeps the map). */
  piece(p: FisherPiece): Map<string, ParamTensor>;
  /** The caller dropped its last piece: a streamed source frees its memory now. */
  released(): void;
  /** Texts per chunk, a multiple of `batchSize` (at least one batch). */
  chunkTexts(batchSize: number, needs: FisherChunkNeeds): number;
}

/** Pieces from this size on are collected as soon as they are dropped (smaller ones are left to V8's own pace). */
const COLLECT_FROM_BYTES = 32 * 2 ** 20;

const HEAD_NAMES: readonly string[] = [W.finalNormW, W.finalNormB, W.unembed, W.unembedBias];
const EMBED_NAMES: readonly string[] = [W.embed, W.pos, W.tokenType, W.embedNormW, W.embedNormB];

/** Canonical tensor names of a piece, with their shapes. */
export function pieceShapes(spec: ModelSpec, p: FisherPiece): Map<string, number[]> {
  const all = canonicalWeightShapes(spec);
  const keep = typeof p === 'number' ? (n: string) => n.startsWith(`blocks.${p}.`) : (n: string) => (p === 'embed' ? EMBED_NAMES : HEAD_NAMES).includes(n);
  return new Map([...all].filter(([n]) => keep(n)));
}

/** float32 bytes of a piece. */
export function pieceBytes(spec: ModelSpec, p: FisherPiece): number {
  let n = 0;
  for (const s of pieceShapes(spec, p).values()) n += numel(s);
  return 4 * n;
}

/** Every piece in the order the engine runs them. */
export function pieces(spec: ModelSpec): FisherPiece[] {
  return ['embed', ...Array.from({ length: spec.nLayer }, (_, l) => l), 'head'];
}

/** The whole model in memory: every piece is the store's canonical map; one batch per chunk (as little held as possible). */
export function wholeFisherWeights(params: ParamStore): FisherWeights {
  return {
    spec: params.spec,
    f64: params.isFloat64,
    streamed: false,
    piece: () => params.canonical() as Map<string, ParamTensor>,
    released: () => {},
    chunkTexts: (batchSize) => batchSize,
  };
}

/**
 * Layer-streamed weights from a checkpoint's canonical tensors within `maxMemory` bytes. A budget that cannot
 * hold the largest piece (twice: the stored tensor being read and its float32 conversion) is refused here, in
 * one line naming that piece; a budget that cannot hold one text's tangent rows beside it, by `chunkTexts`.
 */
export function streamedFisherWeights(spec: ModelSpec, weights: CanonicalWeights, maxMemory: number): FisherWeights {
  let largest: FisherPiece = 'embed';
  for (const p of pieces(spec)) if (pieceBytes(spec, p) > pieceBytes(spec, largest)) largest = p;
  const weightBytes = 2 * pieceBytes(spec, largest);
  const name = typeof largest === 'number' ? `block ${largest}` : largest === 'embed' ? 'the embeddings' : 'the LM head';
  if (weightBytes > maxMemory) {
    throw new AtlasError(`fisher streams the ${spec.modelType} model one piece at a time, but its largest piece (${name}) needs about ${formatBytes(weightBytes)} as float32 while it is read and converted, more than the memory budget ${formatBytes(maxMemory)}`, {
      field: 'maxMemory', hint: 'raise --max-memory to at least that, or use a machine with more memory',
    });
  }
  return {
    spec,
    f64: false,
    streamed: true,
    piece(p) {
      // a full collection first: the previous piece's arrays are dead and would otherwise overlap this one
      if (weightBytes >= COLLECT_FROM_BYTES) collectGarbage();
      return new Map([...pieceShapes(spec, p).keys()].map((n) => [n, weights.get(n) as ParamTensor]));
    },
    released: () => {
      if (weightBytes >= COLLECT_FROM_BYTES) collectGarbage();
    },
    chunkTexts(batchSize, needs) {
      const left = maxMemory - weightBytes - needs.inFlight;
      const fit = Math.floor(left / needs.perText);
      if (fit < 1) {
        throw new AtlasError(`fisher streams the ${spec.modelType} model one piece at a time, but one text's Jacobian rows (about ${formatBytes(needs.perText + needs.inFlight)}) do not fit beside the largest block's weights (${formatBytes(weightBytes)}) in the memory budget ${formatBytes(maxMemory)}`, {
          field: 'maxMemory', hint: 'raise --max-memory or lower --max-length (at the last layer, --point post-norm needs no Jacobian rows)',
        });
      }
      return Math.max(1, Math.floor(fit / batchSize)) * batchSize;
    },
  };
}

/**
 * The model held whole (a ParamStore beside the loaded runtime) when the budget allows that, layer-streamed
 * from the checkpoint otherwise.
 */
export function fisherWeightsFor(model: { checkpoint: Checkpoint; maxMemory: number }): ParamStore | FisherWeights {
  const spec = model.checkpoint.spec;
  try {
    assertWholeModelFits(spec, model.maxMemory, 'fisher', 2);
  } catch (e) {
    if (!isAtlasError(e)) throw e;
    return streamedFisherWeights(spec, model.checkpoint.weights, model.maxMemory);
  }
  return ParamStore.fromCheckpoint(model.checkpoint);
}
