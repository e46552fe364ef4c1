/**
 * The session cache (issue 18, `--session-cache DIR`): onnxruntime session files of the big-model path
 * (GraphBuilder.save: the graph plus one side file of its float32 weights) kept on disk and loaded again by
 * later runs, so a converted (bf16 / f16) or large model starts without reading, converting and writing its
 * weights again. Why a file of weights and not onnxruntime's optimised model: onnxruntime's own session build
 * is a small part of a start (measured: optimisation off changes nothing, bench/big-models.ts); the reading,
 * widening and writing of the weights is the cost, and onnxruntime maps page-aligned external data straight
 * from the file.
 *
 * An entry is keyed by the model's fingerprint (config.json and the weight files' names, sizes and mtimes:
 * modelKeyFromFolder) and by everything the saved graph holds except the lazy weights' data
 * (GraphBuilder.layoutDigest): the output selection, the options, the segment, the code's graph. Entries are
 * written under a temporary name and renamed when complete, so a crash or a concurrent run never leaves a
 * half-written entry that would be read.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { AtlasError } from '../errors.ts';
import { hashJson, safeName } from '../data/hash.ts';
import type { GraphBuilder } from './onnx-builder.ts';

/** Where a runtime keeps its session files (RuntimeOptions.sessionCache + the model's key). */
export interface SessionCacheRef {
  dir: string;
  /** The model's fingerprint (LoadedModel.key). */
  modelKey: string;
}

/** Bumped when the saved files' meaning changes in a way the graph's digest does not show. */
const SESSION_CACHE_VERSION = 1;
/** Written last into an entry: an entry without it is never read. */
export const SESSION_CACHE_COMPLETE = 'complete.json';

/** The folder of one graph's entry. */
export function sessionCacheEntry(graph: GraphBuilder, cache: SessionCacheRef): string {
  const key = hashJson({ version: SESSION_CACHE_VERSION, model: cache.modelKey, graph: graph.layoutDigest(`${graph.graphName}.onnx`) }, 32);
  return join(cache.dir, safeName(cache.modelKey), key);
}

/** The saved model's path for `graph`, written now (weights made through the graph's lazy tensors) on a miss. */
export function cachedSessionModel(graph: GraphBuilder, cache: SessionCacheRef): { path: string; hit: boolean } {
  const entry = sessionCacheEntry(graph, cache);
  const path = join(entry, `${graph.graphName}.onnx`);
  if (existsSync(join(entry, SESSION_CACHE_COMPLETE))) return { path, hit: true };
  const tmp = `${entry}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    mkdirSync(tmp, { recursive: true });
    graph.save(tmp, `${graph.graphName}.onnx`);
    writeFileSync(join(tmp, SESSION_CACHE_COMPLETE), JSON.stringify({ version: SESSION_CACHE_VERSION, model: cache.modelKey, bytes: graph.initializerBytes, written: new Date().toISOString() }));
    rmSync(entry, { recursive: true, force: true }); // an incomplete entry of a crashed run
    renameSync(tmp, entry);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    // another run completed the same entry meanwhile: use it
    if (existsSync(join(entry, SESSION_CACHE_COMPLETE))) return { path, hit: true };
    if (e instanceof AtlasError) throw e;
    throw new AtlasError(`cannot write the session cache: ${(e as Error).message}`, {
      file: entry, field: 'session-cache', hint: `it needs ${(graph.initializerBytes / 2 ** 30).toFixed(1)} GiB free there; free disk space, pick another --session-cache folder or leave it out`, cause: e,
    });
  }
  return { path, hit: false };
}

/** The cache a runtime's options ask for, if any. */
export function sessionCacheOf(opts: { sessionCache?: string; modelKey?: string }): SessionCacheRef | undefined {
  if (opts.sessionCache === undefined) return undefined;
  if (!opts.modelKey) throw new AtlasError('a session cache needs the model\'s key', { field: 'modelKey', hint: 'open the model with loadModel, or pass modelKey (e.g. modelKeyFromFolder(dir)) with sessionCache' });
  return { dir: opts.sessionCache, modelKey: opts.modelKey };
}
