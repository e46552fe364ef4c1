/**
 * Advisory lock on one cache entry, so two processes never compute (and delete each other's parts of) the same
 * entry. The lock is a file `<entry>.lock` next to the entry folder (outside it: --force removes the folder),
 * created with O_EXCL and holding the owner's pid, host and start time. A lock whose owner is a dead process on
 * this host is stale and is taken over; a live owner is waited for (with one message saying who), and after
 * `timeoutMs` the error says who holds it and which file to remove if that process is gone.
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';
import { AtlasError } from '../errors.ts';

export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the owner took the lock. */
  started: string;
  /** The owner's command line, for the message. */
  command: string;
}

export interface LockOptions {
  /** Give up after this long. Default 30 minutes. */
  timeoutMs?: number;
  /** Poll interval. Default 250 ms. */
  pollMs?: number;
  /** Called once when another live process holds the lock, and when a stale lock is removed. */
  onMessage?: (message: string) => void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM'; // exists, owned by someone else
  }
}

function readOwner(path: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(path, 'utf8')) as LockOwner;
    return Number.isInteger(o.pid) && typeof o.host === 'string' ? o : null;
  } catch {
    return null; // being written right now, or damaged
  }
}

const describe = (o: LockOwner) => `process ${o.pid} on ${o.host} (since ${o.started}: ${o.command})`;

function tryCreate(path: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, JSON.stringify(owner));
  } finally {
    closeSync(fd);
  }
  return true;
}

/** Takes the lock on `entryDir` (waiting for a live owner); resolves to the release function. */
export async function lockCacheEntry(entryDir: string, opts: LockOptions = {}): Promise<() => void> {
  const path = `${entryDir.replace(/[/\\]+$/, '')}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  const me: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString(), command: process.argv.slice(1).join(' ').slice(0, 200) };
  const timeoutMs = opts.timeoutMs ?? 30 * 60_000;
  const pollMs = opts.pollMs ?? 250;
  const t0 = Date.now();
  let told = false;
  let unreadable = 0;
  for (;;) {
    if (tryCreate(path, me)) break;
    const owner = readOwner(path);
    if (owner === null) {
      // An owner between create and write, or a damaged file: give it a few polls, then treat it as stale.
      if (++unreadable > 8) { rmSync(path, { force: true }); opts.onMessage?.(`removed an unreadable lock file ${path}`); unreadable = 0; }
    } else if (owner.host === me.host && !isAlive(owner.pid)) {
      rmSync(path, { force: true });
      opts.onMessage?.(`removed a stale lock of ${describe(owner)}, which is no longer running`);
      continue;
    } else {
      unreadable = 0;
      if (Date.now() - t0 >= timeoutMs) {
        throw new AtlasError(`this cache entry is being computed by ${describe(owner)}`, {
          file: path, hint: `wait for it to finish; if that process is gone, remove ${path}`,
        });
      }
      if (!told) { opts.onMessage?.(`waiting for ${describe(owner)}, which is computing this cache entry`); told = true; }
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    const owner = readOwner(path);
    if (owner && owner.pid === me.pid && owner.host === me.host && owner.started === me.started) rmSync(path, { force: true });
  };
  // A Ctrl-C must not leave a lock behind for this live-looking pid (a dead pid is detected as stale anyway).
  process.once('exit', release);
  return () => { process.removeListener('exit', release); release(); };
}
