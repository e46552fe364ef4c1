/**
 * Runs the CLI's main() inside the test process with stdout/stderr captured: the same code path as
 * bin/latent-atlas.js (an AtlasError → one line on stderr and exit status 2; anything else escapes main → status
 * 1 with its stack), at a fraction of a child process's start-up cost. Each test file runs in its own process,
 * so the CLI's global state (process.exitCode) is reset after each call and never leaks into another file.
 * process.stdout is left alone: the test runner reports through it.
 */
import { format } from 'node:util';
import { main } from '../src/cli/main.ts';

export interface CliResult { code: number; stdout: string; stderr: string }

export async function runCli(args: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const saved = { log: console.log, error: console.error, warn: console.warn, info: console.info, errWrite: process.stderr.write };
  console.log = console.info = (...a: unknown[]) => { out.push(format(...a)); };
  console.error = console.warn = (...a: unknown[]) => { err.push(format(...a)); };
  process.stderr.write = ((chunk: string | Uint8Array) => { err.push(String(chunk).replace(/\n$/, '')); return true; }) as typeof process.stderr.write;
  process.exitCode = undefined;
  let code = 0;
  try {
    await main(args);
    code = Number(process.exitCode ?? 0);
  } catch (e) {
    code = 1; // what bin/latent-atlas.js does with an error that escapes main: stack trace, status 1
    err.push((e as Error)?.stack ?? String(e));
  } finally {
    Object.assign(console, { log: saved.log, error: saved.error, warn: saved.warn, info: saved.info });
    process.stderr.write = saved.errWrite;
    process.exitCode = undefined;
  }
  return { code, stdout: out.join('\n'), stderr: err.join('\n') };
}

/** The CLI's contract for bad input: status 2, exactly one non-empty stderr line naming the problem, no stack trace. */
export function isCleanInputError(r: CliResult): boolean {
  // Warnings are extra lines by design; onnxruntime's own start-up notices are not ours.
  const lines = r.stderr.split('\n').filter((l) => l.trim() && !/^warning: |: warning: |\[W:onnxruntime/.test(l));
  return r.code === 2 && lines.length === 1 && !/\n\s+at |^\s+at /m.test(r.stderr);
}
