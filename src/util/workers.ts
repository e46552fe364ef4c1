import { Worker, type WorkerOptions } from 'node:worker_threads';
import { availableParallelism } from 'node:os';

/**
 * Worker threads. The compiled package (dist/) runs plain JavaScript: a worker is the sibling `.js` module.
 * From the sources (tests, scripts) the main thread compiles TypeScript through tsx (`node --import tsx`); on
 * Node 20 workers inherit neither that nor an `--import` in their execArgv, so each worker then starts from a
 * tiny bootstrap that registers tsx — resolved lazily, to an absolute URL so any working directory works —
 * and imports the TypeScript module. Callers name the `.ts` source (`new URL('./knn-worker.ts', import.meta.url)`);
 * startWorker maps it to the `.js` file when this module itself is compiled.
 */
const compiled = import.meta.url.endsWith('.js');

export function defaultThreads(): number {
  const env = Number(process.env.LATENT_ATLAS_THREADS);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.max(1, availableParallelism());
}

export function startWorker(moduleUrl: URL, workerData: unknown, options: Omit<WorkerOptions, 'workerData' | 'execArgv'> = {}): Worker {
  if (compiled || !moduleUrl.pathname.endsWith('.ts')) {
    const url = compiled ? new URL(moduleUrl.href.replace(/\.ts$/, '.js')) : moduleUrl;
    return new Worker(url, { ...options, workerData });
  }
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const bootstrap = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(moduleUrl.href)}); })`;
  return new Worker(bootstrap, { ...options, eval: true, workerData });
}

/**
 * Runs one worker per task (at most `threads` at a time) and resolves with each worker's first message, in
 * task order. The worker module reads `workerData` and posts exactly one result message.
 */
export async function runWorkers<T, R>(moduleUrl: URL, tasks: T[], opts: { threads?: number; transfer?: (task: T) => ArrayBuffer[] } = {}): Promise<R[]> {
  const threads = Math.max(1, Math.min(opts.threads ?? defaultThreads(), tasks.length));
  const results = new Array<R>(tasks.length);
  let next = 0;
  async function lane(): Promise<void> {
    while (next < tasks.length) {
      const i = next++;
      results[i] = await new Promise<R>((resolve, reject) => {
        const w = startWorker(moduleUrl, tasks[i], { transferList: opts.transfer?.(tasks[i]) });
        let settled = false;
        w.once('message', (m: R) => { settled = true; resolve(m); void w.terminate(); });
        w.once('error', (e) => { settled = true; reject(e); });
        w.once('exit', (code) => { if (!settled) reject(new Error(`worker ${moduleUrl.pathname} exited with code ${code} before answering`)); });
      });
    }
  }
  await Promise.all(Array.from({ length: threads }, lane));
  return results;
}
