import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type IncomingMessage, type ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { resolveModel, repoCacheFolder } from '../src/model/hub.ts';
import { loadTokenizer } from '../src/model/tokenizer.ts';
import { writeTinyTokenizerFiles } from '../src/model/tiny-tokenizer.ts';
import { AtlasError } from '../src/errors.ts';

// ---------- a fake hub: /<repo>/resolve/<rev>/<file>, LFS files redirected to a separate "CDN" server ----------

interface FakeRepo { commit: string; files: Map<string, Buffer>; privateToken?: string }
const repos = new Map<string, FakeRepo>();
const log: { url: string; auth?: string }[] = [];
/** Files whose CDN response is cut after half the body (while the count is > 0). */
const dropBody = new Map<string, number>();
/** Files whose CDN response is chunked (no Content-Length) and ends cleanly after half the body. */
const shortBody = new Set<string>();
/** Files whose CDN response sends half the body and then goes silent. */
const stallBody = new Set<string>();
/** Files whose CDN response has one byte flipped (same length). */
const corrupt = new Set<string>();
let cdnBase = '';

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const gitSha1 = (b: Buffer): string => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');
const isLfs = (file: string): boolean => /\.(safetensors|bin)$/.test(file);

function hubHandler(req: IncomingMessage, res: ServerResponse): void {
  log.push({ url: req.url!, auth: req.headers.authorization });
  const m = /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(decodeURIComponent(req.url!.split('?')[0]!));
  const repo = m ? repos.get(m[1]!) : undefined;
  if (!m || !repo || (repo.privateToken && req.headers.authorization !== `Bearer ${repo.privateToken}`)) {
    res.writeHead(404, { 'x-error-code': 'RepoNotFound' }).end('Repository not found');
    return;
  }
  const [, repoId, rev, file] = m as unknown as [string, string, string, string];
  if (rev !== 'main' && rev !== repo.commit) {
    res.writeHead(404, { 'x-error-code': 'RevisionNotFound' }).end('Invalid rev id');
    return;
  }
  const body = repo.files.get(file);
  if (!body) {
    res.writeHead(404, { 'x-error-code': 'EntryNotFound', 'x-repo-commit': repo.commit }).end('Entry not found');
    return;
  }
  if (isLfs(file)) {
    res.writeHead(302, {
      location: `${cdnBase}/${repoId}/${sha256(body)}?file=${encodeURIComponent(file)}`,
      'x-repo-commit': repo.commit,
      'x-linked-etag': `"${sha256(body)}"`,
      'x-linked-size': String(body.length),
      etag: `"${gitSha1(Buffer.from('pointer ' + file))}"`,
    }).end();
    return;
  }
  res.writeHead(200, { 'content-length': body.length, etag: `"${gitSha1(body)}"`, 'x-repo-commit': repo.commit }).end(body);
}

function cdnHandler(req: IncomingMessage, res: ServerResponse): void {
  log.push({ url: 'cdn:' + req.url!, auth: req.headers.authorization });
  const url = new URL(req.url!, 'http://x');
  const file = url.searchParams.get('file')!;
  const repoId = url.pathname.slice(1, url.pathname.lastIndexOf('/'));
  const body = repos.get(repoId)?.files.get(file);
  if (!body) { res.writeHead(404).end(); return; }
  if (stallBody.has(file)) {
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, body.length >> 1));
    return;
  }
  if (shortBody.has(file)) {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.end(body.subarray(0, body.length >> 1));
    return;
  }
  const drops = dropBody.get(file) ?? 0;
  res.writeHead(200, { 'content-length': body.length, etag: '"cdn-etag"' });
  if (drops > 0) {
    dropBody.set(file, drops - 1);
    res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.socket?.destroy(), 20));
    return;
  }
  if (corrupt.has(file)) {
    const bad = Buffer.from(body);
    bad[bad.length - 1]! ^= 0xff;
    res.end(bad);
    return;
  }
  res.end(body);
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; base: string }> {
  const server = createServer(handler);
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, base: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

const tmpDirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'atlas-hub-'));
  tmpDirs.push(d);
  return d;
}

/** A minimal valid safetensors file: one F32 tensor of n values. */
function dummySafetensors(n: number, seed: number): Buffer {
  const header = Buffer.from(JSON.stringify({ 'wte.weight': { dtype: 'F32', shape: [n], data_offsets: [0, 4 * n] } }));
  const data = new Float32Array(n).map((_, i) => Math.sin(i * 0.37 + seed));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(header.length));
  return Buffer.concat([len, header, Buffer.from(data.buffer)]);
}

function makeRepo(id: string, files: Record<string, Buffer | string>, extra: Partial<FakeRepo> = {}): FakeRepo {
  const repo: FakeRepo = {
    commit: createHash('sha1').update(id).digest('hex'),
    files: new Map(Object.entries(files).map(([k, v]) => [k, Buffer.from(v)])),
    ...extra,
  };
  repos.set(id, repo);
  return repo;
}

function tokenizerFiles(formats: ('tokenizer.json' | 'vocab-merges')[]): Record<string, Buffer> {
  const dir = tmp();
  writeTinyTokenizerFiles(dir, { formats });
  return Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(join(dir, f))]));
}

const CONFIG = JSON.stringify({ model_type: 'gpt2', n_layer: 1, n_embd: 8, n_head: 2, vocab_size: 300 });

let hub: { server: Server; base: string };
let cdn: { server: Server; base: string };

test.before(async () => {
  hub = await listen(hubHandler);
  cdn = await listen(cdnHandler);
  cdnBase = cdn.base;
  makeRepo('org/tiny-gpt2', { 'config.json': CONFIG, 'model.safetensors': dummySafetensors(20000, 1), ...tokenizerFiles(['vocab-merges']) });
  makeRepo('tiny', { 'config.json': CONFIG, 'pytorch_model.bin': Buffer.from('not really a pickle'), ...tokenizerFiles(['tokenizer.json']) });
  const index = { metadata: { total_size: 1 }, weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors', c: 'model-00001-of-00002.safetensors' } };
  makeRepo('org/sharded', {
    'config.json': CONFIG,
    'model.safetensors.index.json': JSON.stringify(index),
    'model-00001-of-00002.safetensors': dummySafetensors(100, 2),
    'model-00002-of-00002.safetensors': dummySafetensors(100, 3),
  });
  makeRepo('org/flaky', { 'config.json': CONFIG, 'model.safetensors': dummySafetensors(50000, 4) });
  makeRepo('org/corrupt', { 'config.json': CONFIG, 'model.safetensors': dummySafetensors(100, 5) });
  makeRepo('org/private', { 'config.json': CONFIG, 'model.safetensors': dummySafetensors(10, 6) }, { privateToken: 'hf_secret' });
  makeRepo('org/noweights', { 'config.json': CONFIG });
});
test.after(() => {
  hub.server.close();
  cdn.server.close();
  hub.server.closeAllConnections();
  cdn.server.closeAllConnections();
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

function opts(cacheDir: string, more: Record<string, unknown> = {}) {
  return { cacheDir, endpoint: hub.base, progress: false, ...more };
}

function assertSameFiles(folder: string, repo: FakeRepo, expected: string[]): void {
  assert.deepEqual(readdirSync(folder).sort(), [...expected].sort());
  for (const f of expected) assert.ok(readFileSync(join(folder, f)).equals(repo.files.get(f)!), f);
}

test('downloads into the huggingface_hub cache layout; a second call makes no request', async () => {
  const cache = tmp();
  const repo = repos.get('org/tiny-gpt2')!;
  log.length = 0;
  const folder = await resolveModel('org/tiny-gpt2', opts(cache));
  const repoDir = repoCacheFolder(cache, 'org/tiny-gpt2');
  assert.equal(repoDir, join(cache, 'models--org--tiny-gpt2'));
  assert.equal(folder, join(repoDir, 'snapshots', repo.commit));
  assertSameFiles(folder, repo, ['config.json', 'model.safetensors', 'vocab.json', 'merges.txt', 'tokenizer_config.json', 'special_tokens_map.json']);
  assert.equal(readFileSync(join(repoDir, 'refs', 'main'), 'utf8'), repo.commit);
  // Snapshot entries are relative symlinks to blobs named by ETag (sha256 for LFS, git sha1 otherwise).
  const st = repo.files.get('model.safetensors')!;
  assert.ok(lstatSync(join(folder, 'model.safetensors')).isSymbolicLink());
  assert.equal(readlinkSync(join(folder, 'model.safetensors')), `../../blobs/${sha256(st)}`);
  assert.equal(readlinkSync(join(folder, 'config.json')), `../../blobs/${gitSha1(repo.files.get('config.json')!)}`);
  assert.equal(readdirSync(join(repoDir, 'blobs')).length, 6);
  assert.ok(!readdirSync(join(repoDir, 'blobs')).some((f) => f.endsWith('.incomplete')));
  // Absent optional files are remembered, and no .bin was asked for since safetensors exist.
  assert.ok(existsSync(join(repoDir, '.no_exist', repo.commit, 'tokenizer.json')));
  assert.ok(!log.some((r) => r.url.includes('pytorch_model.bin')));
  // Files after the first are fetched at the pinned commit.
  assert.ok(log.filter((r) => !r.url.startsWith('cdn:')).slice(1).every((r) => r.url.includes(`/resolve/${repo.commit}/`)));
  // The resolved folder is a usable checkpoint folder.
  const tok = await loadTokenizer(folder);
  assert.equal(tok.decode(tok.encode('hello hub')), 'hello hub');

  log.length = 0;
  assert.equal(await resolveModel('org/tiny-gpt2', opts(cache)), folder);
  assert.equal(log.length, 0);
});

test('single-name ids, pytorch_model.bin fallback, sharded safetensors', async () => {
  const cache = tmp();
  const tiny = await resolveModel('tiny', opts(cache));
  assert.ok(tiny.includes('models--tiny'));
  assertSameFiles(tiny, repos.get('tiny')!, ['config.json', 'pytorch_model.bin', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']);
  log.length = 0;
  const sharded = await resolveModel('org/sharded', opts(cache));
  assertSameFiles(sharded, repos.get('org/sharded')!, ['config.json', 'model.safetensors.index.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']);
  assert.ok(!log.some((r) => /resolve\/[^/]+\/model\.safetensors$/.test(r.url)));
});

test('offline: served from the cache with no request; clear error when not cached', async () => {
  const cache = tmp();
  const online = await resolveModel('org/tiny-gpt2', opts(cache));
  log.length = 0;
  assert.equal(await resolveModel('org/tiny-gpt2', opts(cache, { offline: true })), online);
  process.env.HF_HUB_OFFLINE = '1';
  try {
    assert.equal(await resolveModel('org/tiny-gpt2', opts(cache)), online);
    await assert.rejects(resolveModel('org/sharded', opts(cache)), (e: unknown) =>
      e instanceof AtlasError && /org\/sharded/.test(e.message) && /offline/.test(e.message) && /HF_HUB_OFFLINE/.test(e.message));
  } finally {
    delete process.env.HF_HUB_OFFLINE;
  }
  assert.equal(log.length, 0);
  // A snapshot missing a required file (its blob deleted by hand) is reported, not silently used.
  const blobs = join(repoCacheFolder(cache, 'org/tiny-gpt2'), 'blobs');
  rmSync(join(blobs, sha256(repos.get('org/tiny-gpt2')!.files.get('model.safetensors')!)));
  await assert.rejects(resolveModel('org/tiny-gpt2', opts(cache, { offline: true })), /no weights found/);
});

test('a connection dropped mid-body leaves no file behind, and a retry succeeds', async () => {
  const cache = tmp();
  const repo = repos.get('org/flaky')!;
  dropBody.set('model.safetensors', 1);
  await assert.rejects(resolveModel('org/flaky', opts(cache)), (e: unknown) => {
    assert.ok(e instanceof AtlasError);
    assert.match(e.message, /download of 'model\.safetensors' failed after \d+ of 200\d+ bytes/);
    assert.match(e.message, /run again/);
    return true;
  });
  const repoDir = repoCacheFolder(cache, 'org/flaky');
  const snap = join(repoDir, 'snapshots', repo.commit);
  assert.ok(!existsSync(join(snap, 'model.safetensors')));
  assert.deepEqual(readdirSync(join(repoDir, 'blobs')), [gitSha1(repo.files.get('config.json')!)]);
  const folder = await resolveModel('org/flaky', opts(cache));
  assertSameFiles(folder, repo, ['config.json', 'model.safetensors']);
});

test('a short body that ends cleanly is caught by the X-Linked-Size check', async () => {
  const cache = tmp();
  shortBody.add('model.safetensors');
  try {
    await assert.rejects(resolveModel('org/flaky', opts(cache)), (e: unknown) => {
      assert.ok(e instanceof AtlasError);
      assert.match(e.message, /received 100\d+ of 200\d+ bytes/);
      return true;
    });
  } finally {
    shortBody.delete('model.safetensors');
  }
  const repoDir = repoCacheFolder(cache, 'org/flaky');
  assert.equal(readdirSync(join(repoDir, 'blobs')).length, 1);
  assert.ok(!existsSync(join(repoDir, 'snapshots', repos.get('org/flaky')!.commit, 'model.safetensors')));
});

test('a download that stalls is abandoned after timeoutSeconds without data', async () => {
  const cache = tmp();
  stallBody.add('model.safetensors');
  try {
    await assert.rejects(resolveModel('org/flaky', opts(cache, { timeoutSeconds: 0.3 })), (e: unknown) => {
      assert.ok(e instanceof AtlasError);
      assert.match(e.message, /model\.safetensors/);
      assert.match(e.message, /no data for 0\.3 s/);
      return true;
    });
  } finally {
    stallBody.delete('model.safetensors');
    cdn.server.closeAllConnections();
  }
  assert.equal(readdirSync(join(repoCacheFolder(cache, 'org/flaky'), 'blobs')).length, 1);
});

test('a body whose sha256 does not match the LFS etag is rejected and not cached', async () => {
  const cache = tmp();
  corrupt.add('model.safetensors');
  try {
    await assert.rejects(resolveModel('org/corrupt', opts(cache)), /sha256/);
  } finally {
    corrupt.delete('model.safetensors');
  }
  const repoDir = repoCacheFolder(cache, 'org/corrupt');
  assert.equal(readdirSync(join(repoDir, 'blobs')).length, 1);
  assertSameFiles(await resolveModel('org/corrupt', opts(cache)), repos.get('org/corrupt')!, ['config.json', 'model.safetensors']);
});

test('errors: unknown model, bad ids, missing weights, local folders', async () => {
  const cache = tmp();
  await assert.rejects(resolveModel('org/nope', opts(cache)), (e: unknown) =>
    e instanceof AtlasError && e.message.includes(`model org/nope not found at ${hub.base}`) && /HF_TOKEN/.test(e.message));
  await assert.rejects(resolveModel('org/tiny-gpt2', opts(cache, { revision: 'v9' })), /revision 'v9'/);
  await assert.rejects(resolveModel('org/noweights', opts(cache)), /no weights found: looked for model\.safetensors\.index\.json/);
  for (const bad of ['bad--id', 'a/b/c', '-x', 'sp ace', './missing-folder']) {
    await assert.rejects(resolveModel(bad, opts(cache)), AtlasError, bad);
  }
  const local = tmp();
  log.length = 0;
  assert.equal(await resolveModel(local, opts(cache)), local);
  writeFileSync(join(local, 'f'), '');
  await assert.rejects(resolveModel(join(local, 'f'), opts(cache)), /is a file/);
  assert.equal(log.length, 0);
});

test('refresh picks up a moved branch; files option fetches exactly the listed files', async () => {
  const cache = tmp();
  const repo = makeRepo('org/moving', { 'config.json': CONFIG, 'model.safetensors': dummySafetensors(10, 7) });
  const first = await resolveModel('org/moving', opts(cache));
  const oldCommit = repo.commit;
  repo.commit = createHash('sha1').update('second commit').digest('hex');
  repo.files.set('config.json', Buffer.from(CONFIG.replace('"n_layer":1', '"n_layer":2')));
  assert.equal(await resolveModel('org/moving', opts(cache)), first); // cached ref trusted: no request
  const second = await resolveModel('org/moving', opts(cache, { refresh: true }));
  assert.equal(second, join(repoCacheFolder(cache, 'org/moving'), 'snapshots', repo.commit));
  assert.equal(readFileSync(join(repoCacheFolder(cache, 'org/moving'), 'refs', 'main'), 'utf8'), repo.commit);
  assert.match(readFileSync(join(second, 'config.json'), 'utf8'), /"n_layer":2/);
  assert.match(readFileSync(join(first, 'config.json'), 'utf8'), /"n_layer":1/);
  assert.notEqual(oldCommit, repo.commit);
  // The unchanged weights are shared: one blob, two snapshot links.
  assert.equal(readdirSync(join(repoCacheFolder(cache, 'org/moving'), 'blobs')).length, 3);

  const only = await resolveModel('org/tiny-gpt2', opts(tmp(), { files: ['config.json', 'merges.txt'] }));
  assert.deepEqual(readdirSync(only).sort(), ['config.json', 'merges.txt']);
  await assert.rejects(resolveModel('org/tiny-gpt2', opts(tmp(), { files: ['tokenizer.json'] })), /file 'tokenizer\.json' of model org\/tiny-gpt2 not found/);
  await assert.rejects(resolveModel('org/tiny-gpt2', opts(tmp(), { files: ['../x'] })), /invalid file name/);
});

test('tokens: Bearer header to the hub, not forwarded to another host; pinned commit revision', async () => {
  const cache = tmp();
  await assert.rejects(resolveModel('org/private', opts(cache)), /not found/);
  log.length = 0;
  const repo = repos.get('org/private')!;
  const folder = await resolveModel('org/private', opts(cache, { token: 'hf_secret', revision: repo.commit }));
  assert.equal(folder, join(repoCacheFolder(cache, 'org/private'), 'snapshots', repo.commit));
  assert.ok(log.filter((r) => !r.url.startsWith('cdn:')).every((r) => r.auth === 'Bearer hf_secret'));
  assert.ok(log.some((r) => r.url.startsWith('cdn:')));
  assert.ok(log.filter((r) => r.url.startsWith('cdn:')).every((r) => r.auth === undefined));
  assert.ok(!existsSync(join(repoCacheFolder(cache, 'org/private'), 'refs', repo.commit)));
  process.env.HF_TOKEN = 'hf_secret';
  try {
    assert.equal(await resolveModel('org/private', opts(tmp())).then((f) => existsSync(join(f, 'config.json'))), true);
  } finally {
    delete process.env.HF_TOKEN;
  }
});
