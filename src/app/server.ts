/**
 * The local web app's HTTP server (node:http, no framework). It serves the client, a JSON API over one output
 * folder, and the folder's files — nothing else: every client path goes through resolveInside (no traversal,
 * no symlinks out), every query parameter is checked against the route's list, errors are JSON
 * {error, hint?} with a 4xx status, and only GET/HEAD are answered. On a loopback address the Host header must
 * name a loopback host too, so a web page cannot reach the app through DNS rebinding. The one exception is the
 * background jobs' /api/jobs routes (src/app/jobs.ts: loopback only, session token, Origin check).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createReadStream, realpathSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { AtlasError } from '../errors.ts';
import { HttpError, resolveInside } from './safe-path.ts';
import { scanOutputFolder } from './scan.ts';
import { fisherPayload, mapPayload } from './payloads.ts';
import { clientAssets } from './client-assets.ts';
import { layersPayload } from './layers-payload.ts';
import { JobManager } from './jobs.ts';

export interface ServeOptions {
  /** The output folder to serve. */
  root: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8765; 0 picks a free port. */
  port?: number;
  /** Background jobs (rerun / new Fisher runs, src/app/jobs.ts): default on, and only ever on a loopback address. */
  jobs?: boolean;
  /** Whether job runs also write PNGs (default true). */
  jobPng?: boolean;
}

export interface RunningServer {
  server: Server;
  url: string;
  /** The job manager (with the session token); null when jobs are off (not a loopback address). */
  jobs: JobManager | null;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.svg': 'image/svg+xml', '.png': 'image/png', '.csv': 'text/csv; charset=utf-8', '.tsv': 'text/tab-separated-values; charset=utf-8',
  '.json': 'application/json; charset=utf-8', '.html': 'text/html; charset=utf-8', '.graphml': 'application/xml; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8', '.npy': 'application/octet-stream',
};

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

const APP_CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; frame-src 'self'";

function send(res: ServerResponse, status: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': type, 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store', ...SECURITY_HEADERS, ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

function sendJson(res: ServerResponse, status: number, value: unknown): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(value));
}

/** Query parameters of a route: only `allowed` names, each at most once, each non-empty. */
function params(url: URL, allowed: string[], required: string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of url.searchParams) {
    if (!allowed.includes(k)) throw new HttpError(400, `unknown query parameter '${k}'`, allowed.length ? `allowed: ${allowed.join(', ')}` : 'this route takes no parameters');
    if (k in out) throw new HttpError(400, `query parameter '${k}' given twice`);
    if (v === '') throw new HttpError(400, `query parameter '${k}' is empty`);
    out[k] = v;
  }
  for (const r of required) if (!(r in out)) throw new HttpError(400, `query parameter '${r}' is required`);
  return out;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const isLoopback = (host: string) => LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);

/** The request handler over `root` (exported for tests that drive it without a socket). */
export function atlasHandler(root: string, bindHost: string, jobs: JobManager | null = null): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const rootReal = realpathSync(root);
  return async (req, res) => {
    try {
      // Background jobs (src/app/jobs.ts): their own checks (loopback, Host, Origin, session token on POST).
      const jobPath = (req.url ?? '/').split('?')[0];
      if (jobPath === '/api/jobs' || jobPath.startsWith('/api/jobs/')) {
        if (!jobs) throw new HttpError(403, 'jobs are off: serve runs them only on 127.0.0.1 and without --read-only', 'serve DIR with the default --host 127.0.0.1');
        if (await jobs.handle(req, res, jobPath, sendJson)) return;
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `method ${req.method} is not allowed`, 'the app is read-only: GET and HEAD only');
      if (isLoopback(bindHost)) {
        const host = (req.headers.host ?? '').replace(/:\d+$/, '');
        if (!isLoopback(host)) throw new HttpError(403, `Host '${req.headers.host ?? ''}' is not a loopback name`, 'open the app at http://127.0.0.1:PORT/');
      }
      const rawPath = (req.url ?? '/').split('?')[0];
      let url: URL;
      try {
        url = new URL(req.url ?? '/', 'http://app.invalid');
      } catch {
        throw new HttpError(400, 'malformed request URL');
      }
      if (rawPath.startsWith('/files/')) {
        params(url, []);
        let rel: string;
        try {
          rel = decodeURIComponent(rawPath.slice('/files/'.length));
        } catch {
          throw new HttpError(400, 'file path is not valid percent-encoding');
        }
        const abs = resolveInside(rootReal, rel, { what: 'file' });
        const type = TYPES[extname(abs).toLowerCase()] ?? 'application/octet-stream';
        const size = statSync(abs).size;
        // HTML outputs are self-contained reports: they run in a sandbox (no access to the app's origin).
        const extra: Record<string, string> = type.startsWith('text/html') || type === 'image/svg+xml' ? { 'Content-Security-Policy': "sandbox allow-scripts; default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data: 'self'" } : {};
        res.writeHead(200, { 'Content-Type': type, 'Content-Length': size, 'Cache-Control': 'no-store', ...SECURITY_HEADERS, ...extra });
        if (req.method === 'HEAD') { res.end(); return; }
        createReadStream(abs).pipe(res);
        return;
      }
      // Any other path must be a plain route; reject encoded or dotted tricks outright.
      if (/%|\/\.\.?(\/|$)/.test(rawPath)) throw new HttpError(403, `path '${rawPath}' is not allowed`, 'files are served under /files/<path relative to the output folder>');
      switch (url.pathname) {
        case '/':
        case '/index.html': {
          params(url, ['map', 'view', 'layers', 'beside']);
          const a = await clientAssets();
          send(res, 200, 'text/html; charset=utf-8', jobs ? jobs.page(a.html) : a.html, { 'Content-Security-Policy': APP_CSP });
          return;
        }
        case '/app.js': params(url, []); send(res, 200, 'text/javascript; charset=utf-8', (await clientAssets()).js); return;
        case '/style.css': params(url, []); send(res, 200, 'text/css; charset=utf-8', (await clientAssets()).css); return;
        case '/api/index': params(url, []); sendJson(res, 200, scanOutputFolder(rootReal)); return;
        case '/api/map': sendJson(res, 200, mapPayload(rootReal, params(url, ['path'], ['path']).path)); return;
        case '/api/fisher': sendJson(res, 200, fisherPayload(rootReal, params(url, ['dir'], ['dir']).dir)); return;
        case '/api/layers': sendJson(res, 200, layersPayload(rootReal, params(url, ['dir'], ['dir']).dir, scanOutputFolder(rootReal).fisher.map((f) => f.dir))); return;
        case '/favicon.ico': params(url, []); res.writeHead(204, SECURITY_HEADERS); res.end(); return;
        default: throw new HttpError(404, `no such route '${url.pathname}'`, 'routes: /, /api/index, /api/map?path=, /api/fisher?dir=, /api/layers?dir=, /files/<path>');
      }
    } catch (e) {
      if (res.headersSent) { res.destroy(); return; }
      if (e instanceof HttpError) sendJson(res, e.status, { error: e.message, ...(e.hint ? { hint: e.hint } : {}) });
      else if (e instanceof AtlasError) sendJson(res, 422, { error: e.message });
      else {
        console.error(e);
        sendJson(res, 500, { error: 'internal error', hint: (e as Error).message });
      }
    }
  };
}

/** A failed listen as one line naming the flag: a busy port, an address that is not this machine's, a name that does not resolve. */
function listenError(e: NodeJS.ErrnoException, host: string, port: number): unknown {
  switch (e.code) {
    case 'EADDRINUSE':
      return new AtlasError(`port ${port} on ${host} is already in use`, { field: 'port', hint: 'pass --port N (or --port 0 for any free port)' });
    case 'EADDRNOTAVAIL':
      return new AtlasError(`'${host}' is not an address of this machine, so the app cannot listen on it`, { field: 'host', hint: 'use 127.0.0.1 (the default) or one of the addresses `ip addr` lists' });
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_NONAME':
    case 'EAI_FAIL':
      return new AtlasError(`'${host}' is not an IP address and does not resolve to one`, { field: 'host', hint: 'use 127.0.0.1 (the default) or an address of this machine' });
    case 'EACCES':
      return new AtlasError(`permission denied listening on port ${port}`, { field: 'port', hint: 'ports below 1024 need privileges: use --port 8765 or --port 0' });
    default:
      return e;
  }
}

/** Starts the app over `root`; resolves once it listens. */
export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const host = o.host ?? '127.0.0.1';
  const port = o.port ?? 8765;
  let st;
  try {
    st = statSync(o.root);
  } catch {
    throw new AtlasError('output folder not found', { file: o.root, hint: "run 'latent-atlas demo --out DIR' first, then serve DIR" });
  }
  if (!st.isDirectory()) throw new AtlasError('is not a folder', { file: o.root, hint: 'serve takes an output folder (the --out of demo, map, profile, fisher, mri)' });
  const jobs = o.jobs !== false && isLoopback(host) ? new JobManager(realpathSync(o.root), { png: o.jobPng }) : null;
  const handler = atlasHandler(o.root, host, jobs);
  await clientAssets(); // fail now (not on the first request) if the client does not build
  const server = createServer((req, res) => void handler(req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(listenError(e, host, port)));
    server.listen(port, host, () => resolve());
  });
  const addr = server.address();
  const actualPort = typeof addr === 'object' && addr ? addr.port : port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    server, url: `http://${shownHost}:${actualPort}/`, jobs,
    close: () => new Promise<void>((resolve) => { jobs?.close(); server.closeAllConnections(); server.close(() => resolve()); }),
  };
}
