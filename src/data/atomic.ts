/**
 * Atomic file writes: readers (and a process restarted after a crash) see either the old file or the complete
 * new one, never a half-written file. The data goes to a temporary file in the same directory (rename is only
 * atomic within one file system), is fsynced, then renamed over the target; the directory is fsynced so the
 * rename itself survives a power cut.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';

export type FileChunks = string | Uint8Array | readonly Uint8Array[];

/** Writes `data` (a string as UTF-8, bytes, or a list of byte chunks written in order) to `path` atomically. */
export function writeFileAtomic(path: string, data: FileChunks): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const chunks: readonly Uint8Array[] =
    typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
  const fd = openSync(tmp, 'wx');
  try {
    for (const chunk of chunks) writeFully(fd, chunk);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
  fsyncDir(dir);
}

/** Writes a value as pretty JSON (2-space indent, trailing newline) atomically. */
export function writeJsonAtomic(path: string, value: unknown): void {
  writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

function writeFully(fd: number, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.byteLength) off += writeSync(fd, bytes, off, bytes.byteLength - off);
}

/** Makes a completed rename durable. Some platforms (Windows) cannot open directories: durability is best effort. */
function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // EINVAL/EPERM on some file systems: the rename is still atomic, just not yet durable.
  } finally {
    closeSync(fd);
  }
}
