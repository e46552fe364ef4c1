/**
 * Resolution of client-supplied paths inside the served output folder. Every path the app serves or reads on a
 * client's behalf goes through `resolveInside`, which refuses absolute paths, backslashes, NUL bytes, `.` and
 * `..` segments (after percent-decoding, so `%2e%2e` is caught too) and anything whose real path (symlinks
 * followed) is not under the real path of the root.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';

/** An HTTP-shaped error: status code plus a message meant for the user. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly hint?: string) {
    super(message);
  }
}

/** Checks the textual form of a relative path (already percent-decoded); throws HttpError 400/403. */
export function checkRelativePath(rel: string, what = 'path'): string[] {
  if (rel.length === 0) throw new HttpError(400, `${what} is empty`, 'give a path relative to the output folder, e.g. maps/map-layer6-pca.npy');
  if (rel.length > 1024) throw new HttpError(400, `${what} is longer than 1024 characters`);
  if (rel.includes('\0')) throw new HttpError(400, `${what} contains a NUL byte`);
  if (rel.includes('\\')) throw new HttpError(403, `${what} contains a backslash`, 'use forward slashes');
  if (isAbsolute(rel) || rel.startsWith('/') || /^[A-Za-z]:/.test(rel)) throw new HttpError(403, `${what} must be relative to the output folder, got an absolute path`);
  const parts = rel.split('/');
  if (parts.some((p) => p === '..' || p === '.')) throw new HttpError(403, `${what} must not contain '.' or '..' segments`, 'only files inside the output folder are served');
  if (parts.some((p) => p === '')) throw new HttpError(400, `${what} has an empty segment ('//' or a trailing '/')`);
  return parts;
}

/**
 * The absolute real path of `rel` under `rootReal` (itself a realpath), which must exist and be a regular file
 * (or a directory when `directory` is set). Symlinks are allowed only when their target stays inside the root.
 */
export function resolveInside(rootReal: string, rel: string, opts: { what?: string; directory?: boolean } = {}): string {
  const what = opts.what ?? 'path';
  const parts = checkRelativePath(rel, what);
  const candidate = join(rootReal, ...parts);
  let real: string;
  try {
    real = realpathSync(candidate);
  } catch {
    throw new HttpError(404, `${what} '${rel}' does not exist in the output folder`);
  }
  if (real !== rootReal && !real.startsWith(rootReal.endsWith(sep) ? rootReal : rootReal + sep)) {
    throw new HttpError(403, `${what} '${rel}' leads outside the output folder (symlink)`, 'only files inside the output folder are served');
  }
  const st = statSync(real);
  if (opts.directory ? !st.isDirectory() : !st.isFile()) throw new HttpError(404, `${what} '${rel}' is not a ${opts.directory ? 'folder' : 'file'}`);
  return real;
}
