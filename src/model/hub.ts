/**
 * Resolves a model argument to a local folder: an existing folder is used as is; anything else is a Hugging Face
 * hub id whose files are downloaded into the standard hub cache, laid out exactly as huggingface_hub does so
 * Python tools and this one share downloads:
 *
 *   $HF_HUB_CACHE (or $HF_HOME/hub, or ~/.cache/huggingface/hub)/models--org--name/
 *     blobs/<etag>                       file contents, named by ETag (sha256 for LFS files, git sha1 otherwise)
 *     snapshots/<commit>/<file>          symlink to ../../blobs/<etag>
 *     refs/<revision>                    the commit a branch/tag pointed to when last resolved
 *     .no_exist/<commit>/<file>          empty marker: the file is known to be absent at that commit
 *
 * Files already in the snapshot of the cached ref are used without any request (so a branch's new commits are
 * only picked up with `refresh: true`, or by passing a commit as the revision). A download streams into
 * blobs/<etag>.incomplete, is checked against Content-Length (and the sha256 for LFS files), and is renamed into
 * place only when complete, so an interrupted download leaves nothing behind that a later run could mistake
 * for a good file.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, copyFileSync, writeFileSync, openSync, closeSync, writeSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { AtlasError } from '../errors.ts';
import { progress } from '../util/progress.ts';

export interface ResolveModelOptions {
  /** Branch, tag or commit hash. Default 'main'. */
  revision?: string;
  /** Hub cache folder. Default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub. */
  cacheDir?: string;
  /** Hub endpoint. Default $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Use the cache only, never the network. Default: true when HF_HUB_OFFLINE=1. */
  offline?: boolean;
  /** Download exactly these files (all required) instead of the default selection (config, weights, tokenizer). */
  files?: string[];
  /** Access token for private/gated repos. Default $HF_TOKEN. */
  token?: string;
  /** Seconds without data before a request is abandoned. Default $HF_HUB_DOWNLOAD_TIMEOUT, else 10 (huggingface_hub's). */
  timeoutSeconds?: number;
  /** Ask the hub which commit the revision points to now, instead of trusting refs/<revision>. Default false. */
  refresh?: boolean;
  /** Show download progress bars (see util/progress.ts for when they appear). Default true. */
  progress?: boolean;
}

/** Tokenizer files fetched with a model; each is optional. */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.json', 'merges.txt'];

const COMMIT_RE = /^[0-9a-f]{40}$/;

export function defaultCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return process.env.HF_HUB_CACHE;
  const home = process.env.HF_HOME ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'huggingface');
  return join(home, 'hub');
}

/** huggingface_hub's validate_repo_id rules: `name` or `namespace/name`, [\w.-], no '--' or '..', <= 96 chars. */
export function validateRepoId(id: string): void {
  const ok = /^(?:[\w.-]+\/)?[\w.-]+$/.test(id) && id.length <= 96 && !id.includes('--') && !id.includes('..')
    && id.split('/').every((part) => !/^[-.]|[-.]$/.test(part));
  if (!ok) {
    throw new AtlasError(`'${id}' is neither an existing folder nor a valid Hugging Face model id`, {
      field: 'model',
      hint: "a model id looks like 'gpt2' or 'org/name' (letters, digits, '-', '_', '.'); a local model must be an existing folder",
    });
  }
}

/** The cache folder of one model repo: models--org--name. */
export function repoCacheFolder(cacheDir: string, repoId: string): string {
  return join(cacheDir, `models--${repoId.replaceAll('/', '--')}`);
}

function envFlag(name: string): boolean {
  return ['1', 'true', 'yes', 'on'].includes((process.env[name] ?? '').toLowerCase());
}

function cleanEtag(raw: string): string {
  return raw.replace(/^W\//, '').replace(/^"|"$/g, '');
}

/** Metadata huggingface_hub reads from a resolve response (the first hop, before any CDN redirect). */
interface FileHead { commit?: string; etag?: string; size?: number }

type Getter = (file: string, required: boolean) => Promise<string | undefined>;

class HubSession {
  readonly repoDir: string;
  readonly endpoint: string;
  commit?: string;

  constructor(
    readonly repoId: string,
    readonly revision: string,
    readonly cacheDir: string,
    endpoint: string,
    readonly offline: boolean,
    readonly token: string | undefined,
    readonly timeoutMs: number,
    readonly showProgress: boolean,
    refresh: boolean,
  ) {
    this.repoDir = repoCacheFolder(cacheDir, repoId);
    this.endpoint = endpoint.replace(/\/+$/, '');
    this.commit = COMMIT_RE.test(revision) ? revision : refresh ? undefined : this.readRef();
  }

  private readRef(): string | undefined {
    const ref = join(this.repoDir, 'refs', this.revision);
    if (!existsSync(ref)) return undefined;
    const commit = readFileSync(ref, 'utf8').trim();
    return COMMIT_RE.test(commit) ? commit : undefined;
  }

  snapshotDir(commit = this.commit): string {
    if (!commit) throw new Error('snapshotDir before the commit is known');
    return join(this.repoDir, 'snapshots', commit);
  }

  private cached(file: string): 'present' | 'absent' | 'unknown' {
    if (!this.commit) return 'unknown';
    const path = join(this.snapshotDir(), file);
    // existsSync follows the symlink: a dangling link (blob deleted) counts as not cached.
    if (existsSync(path)) return 'present';
    if (existsSync(join(this.repoDir, '.no_exist', this.commit, file))) return 'absent';
    return 'unknown';
  }

  /** Returns the local path of `file`, downloading it if needed; undefined when an optional file does not exist. */
  readonly get: Getter = async (file, required) => {
    const state = this.cached(file);
    if (state === 'present') return join(this.snapshotDir(), file);
    if (state === 'absent' && !required) return undefined;
    if (this.offline) {
      if (!required) return undefined;
      throw this.notCachedError(file);
    }
    return this.download(file, required);
  };

  notCachedError(file: string): AtlasError {
    const what = this.commit ? `file '${file}' of ${this.repoId}` : `${this.repoId} (revision ${this.revision})`;
    return new AtlasError(`${what} is not in the hub cache and offline mode is on`, {
      file: this.commit ? join(this.snapshotDir(), file) : this.repoDir,
      hint: 'run once with network access, or unset HF_HUB_OFFLINE',
    });
  }

  private url(file: string): string {
    // Once the first file pins the commit, later files are fetched at that commit so the snapshot is coherent.
    const rev = encodeURIComponent(this.commit ?? this.revision);
    const path = file.split('/').map(encodeURIComponent).join('/');
    return `${this.endpoint}/${this.repoId}/resolve/${rev}/${path}`;
  }

  /** GET with manual redirects: hub headers come from the first hop; Authorization is not sent to other hosts. */
  private async request(url: string, signal: AbortSignal): Promise<{ res: Response; head: FileHead; finalUrl: string }> {
    const head: FileHead = {};
    const origin = new URL(this.endpoint).origin;
    let current = url;
    for (let hop = 0; hop < 10; hop++) {
      const headers: Record<string, string> = { 'user-agent': 'latent-atlas', 'accept-encoding': 'identity' };
      if (this.token && new URL(current).origin === origin) headers.authorization = `Bearer ${this.token}`;
      let res: Response;
      try {
        res = await fetch(current, { redirect: 'manual', headers, signal });
      } catch (e) {
        throw new AtlasError(`cannot reach ${current}: ${errorText(e)}`, {
          hint: 'check the network or HF_ENDPOINT; set HF_HUB_OFFLINE=1 to use only the local cache',
          cause: e,
        });
      }
      head.commit ??= res.headers.get('x-repo-commit') ?? undefined;
      const etag = res.headers.get('x-linked-etag') ?? res.headers.get('etag');
      if (etag && head.etag === undefined) head.etag = cleanEtag(etag);
      const linkedSize = res.headers.get('x-linked-size');
      if (linkedSize && head.size === undefined) head.size = Number(linkedSize);
      const location = res.headers.get('location');
      if (res.status >= 300 && res.status < 400 && location) {
        await res.body?.cancel();
        current = new URL(location, current).toString();
        continue;
      }
      return { res, head, finalUrl: current };
    }
    throw new AtlasError(`too many redirects`, { file: url });
  }

  private async download(file: string, required: boolean): Promise<string | undefined> {
    const url = this.url(file);
    const controller = new AbortController();
    let timer: NodeJS.Timeout | undefined;
    const armTimer = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => controller.abort(new Error(`no data for ${this.timeoutMs / 1000} s`)), this.timeoutMs);
    };
    armTimer();
    try {
      const { res, head } = await this.request(url, controller.signal);
      if (res.status === 404 || res.status === 401 || res.status === 403) {
        await res.body?.cancel();
        return this.missing(file, required, res, head);
      }
      if (!res.ok) {
        await res.body?.cancel();
        throw new AtlasError(`download failed: HTTP ${res.status} ${res.statusText}`, { file: url, hint: 'try again later' });
      }
      const commit = head.commit;
      if (!commit || !COMMIT_RE.test(commit)) {
        await res.body?.cancel();
        throw new AtlasError(`response has no valid X-Repo-Commit header`, { file: url, hint: `is ${this.endpoint} a Hugging Face hub endpoint?` });
      }
      if (!head.etag || !/^[\w.-]+$/.test(head.etag)) {
        await res.body?.cancel();
        throw new AtlasError(`response has no usable ETag header`, { file: url, hint: `is ${this.endpoint} a Hugging Face hub endpoint?` });
      }
      this.pinCommit(commit);
      const blob = join(this.repoDir, 'blobs', head.etag);
      if (existsSync(blob)) {
        await res.body?.cancel(); // same content already downloaded (e.g. for another revision)
      } else {
        await this.writeBlob(file, url, res, head, blob, armTimer);
      }
      return this.link(file, blob);
    } catch (e) {
      if (controller.signal.aborted && !(e instanceof AtlasError)) {
        throw new AtlasError(`download stalled: ${errorText(controller.signal.reason)}`, { file: url, hint: 'run again to retry; raise HF_HUB_DOWNLOAD_TIMEOUT on slow networks', cause: e });
      }
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  private missing(file: string, required: boolean, res: Response, head: FileHead): undefined {
    const code = res.headers.get('x-error-code');
    const repoUrl = `${this.endpoint}/${this.repoId}`;
    if (res.status === 403) {
      throw new AtlasError(`access to model ${this.repoId} is restricted (HTTP 403)`, { file: repoUrl, hint: `accept its license at ${repoUrl} and set HF_TOKEN` });
    }
    const commit = head.commit ?? this.commit;
    const repoMissing = code === 'RepoNotFound' || code === 'RevisionNotFound' || res.status === 401 || (code !== 'EntryNotFound' && !commit);
    if (repoMissing || required) {
      const why = code === 'RevisionNotFound'
        ? `revision '${this.revision}' of model ${this.repoId} not found at ${this.endpoint}`
        : repoMissing || file === 'config.json'
          ? `model ${this.repoId} not found at ${this.endpoint}${repoMissing ? '' : ' (the repo has no config.json)'}`
          : `file '${file}' of model ${this.repoId} not found at ${this.endpoint}`;
      const hint = repoMissing
        ? (this.token ? 'check the model id and that your HF_TOKEN can read it' : 'check the model id; for a private or gated model set HF_TOKEN')
        : undefined;
      throw new AtlasError(why, { file: this.url(file), hint });
    }
    // Remember the absence (as huggingface_hub does) so later runs do not ask again.
    this.pinCommit(commit!);
    const marker = join(this.repoDir, '.no_exist', commit!, file);
    mkdirSync(dirname(marker), { recursive: true });
    writeFileSync(marker, '');
    return undefined;
  }

  private pinCommit(commit: string): void {
    if (this.commit && this.commit !== commit) {
      throw new AtlasError(`the hub answered with commit ${commit} while resolving commit ${this.commit}`, { file: this.repoDir, hint: 'the repo changed during download; run again' });
    }
    if (!this.commit && this.revision !== commit) {
      const ref = join(this.repoDir, 'refs', this.revision);
      mkdirSync(dirname(ref), { recursive: true });
      writeFileSync(ref, commit);
    }
    this.commit = commit;
  }

  private async writeBlob(file: string, url: string, res: Response, head: FileHead, blob: string, onData: () => void): Promise<void> {
    mkdirSync(dirname(blob), { recursive: true });
    const temp = `${blob}.incomplete`;
    const lengthHeader = res.headers.get('content-length');
    const encoded = (res.headers.get('content-encoding') ?? 'identity') !== 'identity';
    const expected = !encoded && lengthHeader !== null ? Number(lengthHeader) : head.size;
    // LFS files are named by their sha256: check it, a wrong blob would poison the cache for every later run.
    const sha256 = /^[0-9a-f]{64}$/.test(head.etag!) ? createHash('sha256') : undefined;
    const bar = progress({ total: expected ?? 0, label: file, unit: 'B', enabled: this.showProgress });
    let written = 0;
    const fd = openSync(temp, 'w');
    try {
      if (!res.body) throw new Error('empty response body');
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        onData();
        writeSync(fd, chunk);
        sha256?.update(chunk);
        written += chunk.length;
        bar.tick(chunk.length);
      }
      closeSync(fd);
      if (expected !== undefined && written !== expected) {
        throw new Error(`received ${written} of ${expected} bytes`);
      }
      if (sha256) {
        const got = sha256.digest('hex');
        if (got !== head.etag) throw new Error(`sha256 ${got} does not match the hub's ${head.etag}`);
      }
      renameSync(temp, blob);
    } catch (e) {
      try { closeSync(fd); } catch { /* already closed */ }
      rmSync(temp, { force: true });
      if (e instanceof AtlasError) throw e;
      throw new AtlasError(`download of '${file}' failed after ${written}${expected !== undefined ? ` of ${expected}` : ''} bytes: ${errorText(e)}`, {
        file: url,
        hint: 'nothing was kept in the cache; run again to retry',
        cause: e,
      });
    } finally {
      bar.done();
    }
  }

  /** snapshots/<commit>/<file> → ../../blobs/<etag> (a copy where symlinks are not allowed, as huggingface_hub does). */
  private link(file: string, blob: string): string {
    const pointer = join(this.snapshotDir(), file);
    mkdirSync(dirname(pointer), { recursive: true });
    rmSync(pointer, { force: true });
    try {
      symlinkSync(relative(dirname(pointer), blob), pointer);
    } catch {
      copyFileSync(blob, pointer);
    }
    return pointer;
  }
}

function errorText(e: unknown): string {
  if (e instanceof Error) {
    const cause = e.cause instanceof Error ? `: ${e.cause.message}` : '';
    return `${e.message}${cause}`;
  }
  return String(e);
}

/** The files of a model checkpoint: config.json, the weights (sharded safetensors, safetensors or .bin), tokenizer files. */
async function fetchCheckpoint(get: Getter, describe: () => string): Promise<void> {
  await get('config.json', true);
  const weights = await fetchWeights(get);
  if (!weights) {
    throw new AtlasError(`no weights found: looked for model.safetensors.index.json, model.safetensors, pytorch_model.bin.index.json, pytorch_model.bin`, { file: describe() });
  }
  for (const f of TOKENIZER_FILES) await get(f, false);
}

async function fetchWeights(get: Getter): Promise<boolean> {
  for (const [index, single] of [['model.safetensors.index.json', 'model.safetensors'], ['pytorch_model.bin.index.json', 'pytorch_model.bin']] as const) {
    const indexPath = await get(index, false);
    if (indexPath) {
      for (const shard of shardsOf(indexPath)) await get(shard, true);
      return true;
    }
    if (await get(single, false)) return true;
  }
  return false;
}

function shardsOf(indexPath: string): string[] {
  let weightMap: unknown;
  try {
    weightMap = (JSON.parse(readFileSync(indexPath, 'utf8')) as { weight_map?: unknown }).weight_map;
  } catch (e) {
    throw new AtlasError(`invalid JSON: ${errorText(e)}`, { file: indexPath, cause: e });
  }
  if (!weightMap || typeof weightMap !== 'object') throw new AtlasError('missing weight_map', { file: indexPath, field: 'weight_map' });
  const shards = [...new Set(Object.values(weightMap as Record<string, unknown>))];
  for (const s of shards) {
    if (typeof s !== 'string' || s.includes('..') || s.startsWith('/')) {
      throw new AtlasError(`invalid shard file name ${JSON.stringify(s)}`, { file: indexPath, field: 'weight_map' });
    }
  }
  return shards as string[];
}

/** Local folder for `model`: the folder itself if it exists, else the hub snapshot folder (downloading what is missing). */
export async function resolveModel(model: string, opts: ResolveModelOptions = {}): Promise<string> {
  if (existsSync(model)) {
    if (!statSync(model).isDirectory()) {
      if (model.endsWith('.bin')) return resolve(model); // a llama2.c checkpoint (see llama2c.ts)
      throw new AtlasError('is a file; a model is a folder (config.json, weights, tokenizer), a llama2.c .bin or a Hugging Face id', { file: model });
    }
    return resolve(model);
  }
  if (/^[./~]|\\/.test(model) || model.split('/').length > 2) {
    throw new AtlasError('folder not found', { file: model, field: 'model', hint: 'pass an existing checkpoint folder or a Hugging Face id like gpt2 or org/name' });
  }
  validateRepoId(model);
  const revision = opts.revision ?? 'main';
  if (!revision || revision.includes('..') || revision.startsWith('/')) {
    throw new AtlasError(`invalid revision ${JSON.stringify(revision)}`, { field: 'revision' });
  }
  const timeoutSeconds = opts.timeoutSeconds ?? (Number(process.env.HF_HUB_DOWNLOAD_TIMEOUT) || 10);
  const session = new HubSession(
    model,
    revision,
    opts.cacheDir ?? defaultCacheDir(),
    opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co',
    opts.offline ?? envFlag('HF_HUB_OFFLINE'),
    opts.token ?? (process.env.HF_TOKEN || undefined),
    timeoutSeconds * 1000,
    opts.progress ?? true,
    opts.refresh ?? false,
  );
  if (session.offline && !session.commit) throw session.notCachedError('config.json');
  if (opts.files) {
    for (const f of opts.files) {
      if (!f || f.startsWith('/') || f.split(/[\\/]/).includes('..')) {
        throw new AtlasError(`invalid file name ${JSON.stringify(f)}`, { field: 'files', hint: 'file names are paths inside the repo, like config.json or onnx/model.onnx' });
      }
      await session.get(f, true);
    }
  } else {
    await fetchCheckpoint(session.get, () => (session.commit ? session.snapshotDir() : session.repoDir));
  }
  return session.snapshotDir();
}
