/**
 * File-system failures as one clear line. Node's errors (EACCES, ENOSPC, EISDIR, …) carry a code and a path;
 * fsError turns them into an AtlasError naming the path, what went wrong in words and what to do, so the CLI
 * never prints a stack trace for a full disk or a read-only folder. Output folders are checked for
 * writability BEFORE the computation (ensureWritableDir / ensureWritableFile), so an hour of work is not lost
 * at the first write.
 */
import { existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AtlasError, isAtlasError } from '../errors.ts';

const PROBLEMS: Record<string, { problem: string; hint: string }> = {
  EACCES: { problem: 'permission denied (cannot write here)', hint: 'choose another folder or fix its permissions' },
  EPERM: { problem: 'operation not permitted', hint: 'choose another folder or fix its permissions' },
  EROFS: { problem: 'the file system is read-only', hint: 'choose a folder on a writable disk' },
  ENOSPC: { problem: 'no space left on the device', hint: 'free some space and run the command again' },
  EDQUOT: { problem: 'disk quota exceeded', hint: 'free some space and run the command again' },
  EISDIR: { problem: 'is a folder, but a file is expected here', hint: 'give a file name' },
  ENOTDIR: { problem: 'a part of this path is a file, not a folder', hint: 'give a folder path' },
  EEXIST: { problem: 'already exists and is not a folder', hint: 'give a new or existing folder' },
  EMFILE: { problem: 'too many open files', hint: 'raise the limit (ulimit -n) or use fewer threads' },
};

export const FS_ERROR_CODES = Object.keys(PROBLEMS);

/** Whether e is a Node file-system error this module can explain. */
export function isFsError(e: unknown): e is NodeJS.ErrnoException {
  return typeof e === 'object' && e !== null && typeof (e as NodeJS.ErrnoException).code === 'string' && (e as NodeJS.ErrnoException).code! in PROBLEMS;
}

/** An AtlasError for a Node file-system error (others, and AtlasErrors, are returned unchanged). */
export function fsError(e: unknown, opts: { flag?: string; what?: string; hint?: string } = {}): unknown {
  if (isAtlasError(e) || !isFsError(e)) return e;
  const p = PROBLEMS[e.code!];
  const what = opts.what ? `${opts.what}: ` : '';
  const flag = opts.flag ? ` (--${opts.flag})` : '';
  return new AtlasError(`${what}${p.problem}${flag}`, { file: e.path ?? (e as { dest?: string }).dest, hint: opts.hint ?? p.hint, cause: e });
}

/** Runs fn, rethrowing a Node file-system error as an AtlasError. */
export function explainFsErrors<T>(fn: () => T, opts: { flag?: string; what?: string; hint?: string } = {}): T {
  try {
    return fn();
  } catch (e) {
    throw fsError(e, opts);
  }
}

/**
 * Makes sure `dir` is (or can be made) a folder this process can write into: creates it, then writes and
 * removes a probe file. Fails with one line naming the folder and the flag. Call it before computing.
 */
export function ensureWritableDir(dir: string, flag: string): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) {
    throw new AtlasError(`--${flag} must be a folder, but this is a file`, { file: dir, hint: `give a folder path for --${flag}, or remove the file` });
  }
  explainFsErrors(() => {
    mkdirSync(dir, { recursive: true });
    const probe = join(dir, `.latent-atlas-write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe, { force: true });
  }, { flag, what: 'cannot write the output folder' });
}

/** Like ensureWritableDir for an output FILE: its folder must be writable and the path must not be a folder. */
export function ensureWritableFile(file: string, flag: string, example = 'out.safetensors'): void {
  if (existsSync(file) && statSync(file).isDirectory()) {
    throw new AtlasError(`--${flag} must be a file name, but this is a folder`, { file, hint: `give a file path such as ${join(file, example)}` });
  }
  ensureWritableDir(dirname(file), flag);
}
