/**
 * Background jobs of the local app: recompute an existing Fisher run with new k-NN settings (k, edge rule, λ;
 * the step cache reruns only the graph step onward) and start a new Fisher run (model, dataset, texts per label).
 *
 * Safety (the app otherwise only reads):
 * - jobs exist only when the server listens on a loopback address, and a request must come from one;
 * - a per-session random token, created when the server starts and written into the page it serves, must be
 *   sent in the `X-Atlas-Token` header of every mutating request (POST); the Host header must be the served
 *   loopback host and port, and an Origin header, when sent, must be the served origin (DNS rebinding and
 *   cross-site requests are refused with 403);
 * - each job runs in its own process (src/app/jobs-child.ts), one at a time; cancelling kills it;
 * - a job writes into a staging folder `.jobs/<id>` inside the served folder and the files are moved into place
 *   only after the process exited cleanly, so a cancelled or failed job publishes nothing; every target path is
 *   checked to stay inside the served folder (src/app/safe-path.ts);
 * - parameters are parsed with the fisher command's own table (FISHER_OPTIONS) and refused with a one-line JSON
 *   error {error, hint?}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, rmSync, symlinkSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtlasError } from '../errors.ts';
import { FISHER_OPTIONS } from '../fisher/defaults.ts';
import { DATASET_OPTIONS } from '../data/defaults.ts';
import { pickOptions, type OptionDef } from '../util/option-table.ts';
import { fromFlags } from '../cli/table-flags.ts';
import { checkRelativePath, HttpError, resolveInside } from './safe-path.ts';
import { rerunPlan, type ChildMessage, type JobSpec, type KnnParams } from './jobs-spec.ts';

/** Header carrying the session token. */
export const TOKEN_HEADER = 'x-atlas-token';
/** Staging folder of running jobs, inside the served folder (hidden: the scan skips it). */
export const JOBS_DIR = '.jobs';

/** The options a page may set, described by the fisher command's table (one description of each). */
export const JOB_OPTIONS = pickOptions(FISHER_OPTIONS, ['k', 'rule', 'lambda']);
const NEW_RUN_OPTIONS = pickOptions(DATASET_OPTIONS, ['numSamples']);

export type JobState = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export interface JobInfo {
  id: string;
  kind: 'rerun' | 'new';
  state: JobState;
  /** The Fisher folder (relative to the served folder) the job recomputes or creates. */
  dir: string;
  params: Record<string, unknown>;
  /** 0..1 (steps done, the metrics step by texts). */
  progress: number;
  /** The last progress or log line. */
  message: string;
  /** The last log lines. */
  log: string[];
  /** Steps answered from the cache (rerun: everything before the graphs). */
  cached: string[];
  error?: string;
  pid?: number;
  createdAt: string;
  finishedAt?: string;
}

interface Job {
  info: JobInfo;
  spec: JobSpec;
  /** Where the staged files go: 'move' = into this run's folder, file by file; 'rename' = the whole staging folder becomes the run. */
  publish: { mode: 'move' | 'rename'; target: string };
  child?: ChildProcess;
  stepsTotal: number;
  stepsDone: number;
}

const compiled = import.meta.url.endsWith('.js');
/** The child module and the node flags it needs: the compiled .js in the package, the .ts through tsx from the sources (as src/cli/self.ts). */
function childCommand(): { module: string; execArgv: string[] } {
  return {
    module: fileURLToPath(new URL(compiled ? './jobs-child.js' : './jobs-child.ts', import.meta.url)),
    execArgv: compiled ? [] : ['--import', import.meta.resolve('tsx')],
  };
}

const LOOPBACK_NAMES = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);
const isLoopbackName = (host: string) => LOOPBACK_NAMES.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
const isLoopbackAddress = (a: string | undefined) => !!a && (a === '::1' || /^(::ffff:)?127\.\d+\.\d+\.\d+$/.test(a));
const within = (rootReal: string, abs: string) => abs === rootReal || abs.startsWith(rootReal + sep);

/** The options described for the page: kind, default, bounds, choices, help, straight from the table. */
function describe(table: Record<string, OptionDef>): Record<string, Pick<OptionDef, 'kind' | 'default' | 'min' | 'max' | 'choices' | 'help'>> {
  return Object.fromEntries(Object.entries(table).map(([k, d]) => [k, { kind: d.kind, default: d.default, min: d.min, max: d.max, choices: d.choices, help: d.help }]));
}

/** Values of a JSON body as flag strings for fromFlags (the CLI's parser and messages); unknown keys refused. */
function bodyFlags(body: Record<string, unknown>, allowed: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(body)) {
    if (!allowed.includes(k)) throw new HttpError(400, `unknown field '${k}'`, `allowed: ${allowed.join(', ')}`);
    if (v === null || v === undefined || v === '') continue;
    if (typeof v !== 'string' && typeof v !== 'number') throw new HttpError(400, `field '${k}' must be a string or a number`);
    out[k] = String(v);
  }
  return out;
}

function parseParams(body: Record<string, unknown>, current?: KnnParams): KnnParams {
  let given;
  try {
    given = fromFlags(JOB_OPTIONS, bodyFlags(body, [...Object.keys(JOB_OPTIONS), 'dir']));
  } catch (e) {
    if (e instanceof AtlasError) throw new HttpError(400, e.message);
    throw e;
  }
  const d = current ?? { k: JOB_OPTIONS.k.default, rule: JOB_OPTIONS.rule.default, lambda: JOB_OPTIONS.lambda.default };
  return { k: given.k ?? d.k, rule: given.rule ?? d.rule, lambda: given.lambda ?? d.lambda };
}

export class JobManager {
  readonly token = randomBytes(24).toString('hex');
  private jobs: Job[] = [];
  private seq = 0;

  constructor(readonly rootReal: string, private opts: { png?: boolean } = {}) {}

  list(): JobInfo[] {
    return this.jobs.map((j) => ({ ...j.info, log: [...j.info.log] }));
  }

  get(id: string): Job {
    const j = this.jobs.find((x) => x.info.id === id);
    if (!j) throw new HttpError(404, `no job '${id}'`);
    return j;
  }

  private newId(): string {
    return `${Date.now().toString(36)}-${(++this.seq).toString(36)}-${randomBytes(3).toString('hex')}`;
  }

  private staging(id: string): string {
    const s = join(this.rootReal, JOBS_DIR, id);
    mkdirSync(s, { recursive: true });
    return s;
  }

  /** Recompute the Fisher output in `dir` with new k / rule / λ. */
  rerun(body: Record<string, unknown>): JobInfo {
    if (typeof body.dir !== 'string' || !body.dir) throw new HttpError(400, "field 'dir' is required", 'the Fisher folder relative to the output folder, as /api/index lists it');
    const dir = body.dir;
    if (dir === '.') throw new HttpError(403, 'the served folder itself is the Fisher folder: its cache and outputs would be written outside it', "serve the fisher command's --out folder (the parent of fisher/) to recompute");
    const fisherAbs = resolveInside(this.rootReal, dir, { what: 'dir', directory: true });
    if (this.jobs.some((j) => j.info.dir === dir && (j.info.state === 'queued' || j.info.state === 'running'))) throw new HttpError(409, `a job for '${dir}' is already queued or running`, 'wait for it or cancel it');
    const plan = rerunPlan(this.rootReal, dir, fisherAbs);
    if (!within(this.rootReal, plan.out)) throw new HttpError(403, `'${dir}' is not a Fisher folder of a run inside the output folder`);
    const params = parseParams(body, plan.current);
    if (params.k >= plan.n) throw new HttpError(400, `k must be an integer in [1, ${plan.n - 1}] for ${plan.n} texts, got ${params.k}`);
    const id = this.newId();
    const staging = this.staging(id);
    // The step cache is shared: the child reads the cached metrics through this link and adds the new steps.
    symlinkSync(join(plan.out, 'cache'), join(staging, 'cache'), 'dir');
    const spec: JobSpec = { ...plan.spec, staging, options: { ...plan.spec.options, ...params } };
    return this.enqueue({ kind: 'rerun', dir, params: { ...params } }, spec, { mode: 'move', target: plan.out }, 6);
  }

  /** A new Fisher run of `model` on `data` into the output folder's `name` (a new folder). */
  newRun(body: Record<string, unknown>): JobInfo {
    const allowed = ['model', 'data', 'numSamples', 'name', ...Object.keys(JOB_OPTIONS)];
    for (const k of Object.keys(body)) if (!allowed.includes(k)) throw new HttpError(400, `unknown field '${k}'`, `allowed: ${allowed.join(', ')}`);
    const str = (k: string, hint: string): string => {
      const v = body[k];
      if (typeof v !== 'string' || !v.trim()) throw new HttpError(400, `field '${k}' is required`, hint);
      return v.trim();
    };
    const model = str('model', 'a checkpoint folder or a hub id in the local hub cache');
    const data = str('data', 'a dataset file or folder, or builtin:NAME');
    const name = str('name', 'a new folder inside the output folder, e.g. runs/gpt2-topics');
    checkRelativePath(name, 'name');
    if (name.split('/')[0] === JOBS_DIR || name.split('/').some((p) => p.startsWith('.'))) throw new HttpError(400, "field 'name' must not have hidden ('.') parts");
    const target = join(this.rootReal, ...name.split('/'));
    if (existsSync(target)) throw new HttpError(409, `'${name}' already exists in the output folder`, 'choose a new name');
    if (this.jobs.some((j) => j.info.kind === 'new' && j.info.dir === `${name}/fisher` && (j.info.state === 'queued' || j.info.state === 'running'))) throw new HttpError(409, `a job already writes '${name}'`);
    this.checkAncestors(target);
    const params = parseParams(Object.fromEntries(Object.entries(body).filter(([k]) => k in JOB_OPTIONS)));
    let numSamples: number | undefined;
    try {
      numSamples = fromFlags(NEW_RUN_OPTIONS, bodyFlags({ 'num-samples': body.numSamples }, ['num-samples'])).numSamples;
    } catch (e) {
      if (e instanceof AtlasError) throw new HttpError(400, e.message.replace('--num-samples', 'numSamples (--num-samples)'));
      throw e;
    }
    const id = this.newId();
    const staging = this.staging(id);
    const spec: JobSpec = { kind: 'new', staging, model, data, numSamples, params, png: this.opts.png ?? true };
    return this.enqueue({ kind: 'new', dir: `${name}/fisher`, params: { model, data, numSamples: numSamples ?? null, name, ...params } }, spec, { mode: 'rename', target }, 6);
  }

  /** Every existing folder between the root and `target` must be a plain folder (no link out of the root). */
  private checkAncestors(target: string): void {
    for (let p = dirname(target); within(this.rootReal, p) && p !== this.rootReal; p = dirname(p)) {
      if (lstatExists(p) && (lstatSync(p).isSymbolicLink() || !lstatSync(p).isDirectory())) throw new HttpError(403, `'${relative(this.rootReal, p)}' is not a plain folder of the output folder`);
    }
  }

  private enqueue(info: Pick<JobInfo, 'kind' | 'dir' | 'params'>, spec: JobSpec, publish: Job['publish'], stepsTotal: number): JobInfo {
    const job: Job = {
      info: { id: spec.staging.split(sep).pop()!, state: 'queued', progress: 0, message: 'queued', log: [], cached: [], createdAt: new Date().toISOString(), ...info },
      spec, publish, stepsTotal, stepsDone: 0,
    };
    this.jobs.push(job);
    // Keep the list short: the oldest finished jobs go first.
    while (this.jobs.length > 50) {
      const i = this.jobs.findIndex((j) => j.info.state !== 'queued' && j.info.state !== 'running');
      if (i < 0) break;
      this.jobs.splice(i, 1);
    }
    this.pump();
    return { ...job.info };
  }

  /** Starts the next queued job when none runs (one at a time: the pipeline uses every core). */
  private pump(): void {
    if (this.jobs.some((j) => j.info.state === 'running')) return;
    const next = this.jobs.find((j) => j.info.state === 'queued');
    if (next) this.start(next);
  }

  private note(job: Job, line: string): void {
    job.info.log.push(line);
    if (job.info.log.length > 40) job.info.log.shift();
    job.info.message = line;
  }

  private start(job: Job): void {
    const { module, execArgv } = childCommand();
    const child = fork(module, [], { execArgv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env: { ...process.env, LATENT_ATLAS_QUIET: '1' } });
    job.child = child;
    job.info.state = 'running';
    job.info.pid = child.pid;
    job.info.message = 'starting';
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (c: string) => { stderr = (stderr + c).slice(-2000); });
    let outcome: ChildMessage | null = null;
    child.on('message', (m: ChildMessage) => {
      if (m.type === 'log') {
        this.note(job, m.line);
        const step = /^(metrics|graphs|geodesics|mds|tsne|report): (cached|[\d.]+ s)$/.exec(m.line);
        if (step) {
          job.stepsDone++;
          if (step[2] === 'cached') job.info.cached.push(step[1]);
          job.info.progress = Math.min(0.99, job.stepsDone / job.stepsTotal);
        }
      } else if (m.type === 'progress') {
        job.info.message = `metrics: ${m.done} / ${m.total} texts`;
        job.info.progress = Math.min(0.99, (m.done / Math.max(1, m.total)) / job.stepsTotal);
      } else outcome = m;
    });
    child.on('exit', (code, signal) => {
      job.child = undefined;
      job.info.pid = undefined;
      if (job.info.state === 'cancelled') {
        // killed on request: nothing is published
      } else if (code === 0 && outcome?.type === 'done') {
        try {
          this.publish(job);
          job.info.state = 'done';
          job.info.progress = 1;
          job.info.message = `done: ${job.info.cached.length ? `${job.info.cached.join(', ')} from the cache` : 'every step computed'}`;
        } catch (e) {
          job.info.state = 'failed';
          job.info.error = `publishing the results failed: ${(e as Error).message}`;
        }
      } else {
        job.info.state = 'failed';
        job.info.error = outcome?.type === 'error' ? outcome.message : `the job process ended (${signal ?? `exit code ${code}`})${stderr.trim() ? `: ${stderr.trim().split('\n').pop()}` : ''}`;
      }
      if (job.info.error) job.info.message = job.info.error;
      job.info.finishedAt = new Date().toISOString();
      this.cleanStaging(job);
      this.pump();
    });
    child.send(job.spec);
  }

  /** Removes a job's staging folder (and .jobs once empty); rm never follows the cache link into the run. */
  private cleanStaging(job: Job): void {
    rmSync(job.spec.staging, { recursive: true, force: true });
    try { rmdirSync(join(this.rootReal, JOBS_DIR)); } catch { /* other jobs' folders remain */ }
  }

  /** Moves the staged outputs into place (each target checked to stay inside the served folder). */
  private publish(job: Job): void {
    const staging = job.spec.staging;
    const { mode, target } = job.publish;
    if (!within(this.rootReal, target)) throw new Error('target outside the output folder');
    if (mode === 'rename') {
      if (lstatExists(target)) throw new Error(`'${relative(this.rootReal, target)}' appeared meanwhile`);
      this.checkAncestors(target);
      mkdirSync(dirname(target), { recursive: true });
      renameSync(staging, target);
      return;
    }
    const walk = (rel: string[]): void => {
      for (const name of readdirSync(join(staging, ...rel))) {
        if (rel.length === 0 && name === 'cache') continue;
        const parts = [...rel, name];
        const from = join(staging, ...parts);
        const st = lstatSync(from);
        if (st.isDirectory()) { walk(parts); continue; }
        if (!st.isFile()) continue;
        const to = join(target, ...parts);
        // No component below the run's folder may be a link (it could lead out of the served folder).
        let p = target;
        for (const part of parts) {
          p = join(p, part);
          if (lstatExists(p)) {
            const st = lstatSync(p);
            if (st.isSymbolicLink()) throw new Error(`'${relative(this.rootReal, p)}' is a link: not replaced`);
          }
        }
        if (!within(this.rootReal, to)) throw new Error('target outside the output folder');
        mkdirSync(dirname(to), { recursive: true });
        renameSync(from, to);
      }
    };
    walk([]);
  }

  cancel(id: string): JobInfo {
    const job = this.get(id);
    if (job.info.state === 'queued') {
      job.info.state = 'cancelled';
      job.info.message = 'cancelled before it started';
      job.info.finishedAt = new Date().toISOString();
      this.cleanStaging(job);
    } else if (job.info.state === 'running' && job.child) {
      job.info.state = 'cancelled';
      job.info.message = 'cancelled';
      const child = job.child;
      child.kill('SIGTERM');
      setTimeout(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); }, 2000).unref();
    } else throw new HttpError(409, `job '${id}' is ${job.info.state}: only queued or running jobs can be cancelled`);
    return { ...job.info };
  }

  /** Kills running jobs (the server is closing). */
  close(): void {
    for (const j of this.jobs) if (j.info.state === 'running' || j.info.state === 'queued') this.cancel(j.info.id);
  }

  /** The page with the session token in a <meta> (only a same-origin page can read it). */
  page(html: string): string {
    return html.replace('</head>', `<meta name="atlas-token" content="${this.token}">\n</head>`);
  }

  private checkRequest(req: IncomingMessage, mutating: boolean): void {
    if (!isLoopbackAddress(req.socket.remoteAddress)) throw new HttpError(403, 'jobs are accepted from this machine only');
    const host = req.headers.host ?? '';
    const port = String(req.socket.localPort);
    const m = /^(.*):(\d+)$/.exec(host);
    if (!m || !isLoopbackName(m[1]) || m[2] !== port) throw new HttpError(403, `Host '${host}' is not the app's address`, `open the app at http://127.0.0.1:${port}/`);
    if (!mutating) return;
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${host}`) throw new HttpError(403, `cross-origin request refused (Origin '${origin}')`, 'jobs can be started only from the app page itself');
    const site = req.headers['sec-fetch-site'];
    if (site !== undefined && site !== 'same-origin' && site !== 'none') throw new HttpError(403, `cross-site request refused (Sec-Fetch-Site '${site}')`);
    const given = req.headers[TOKEN_HEADER];
    const a = Buffer.from(typeof given === 'string' ? given : ''), b = Buffer.from(this.token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) throw new HttpError(403, `missing or wrong ${TOKEN_HEADER} header`, 'reload the app page: it holds the session token');
  }

  /** Handles /api/jobs routes; returns false for other paths. Errors are thrown as HttpError (the server answers them as JSON). */
  async handle(req: IncomingMessage, res: ServerResponse, pathname: string, sendJson: (res: ServerResponse, status: number, v: unknown) => void): Promise<boolean> {
    if (pathname !== '/api/jobs' && !pathname.startsWith('/api/jobs/')) return false;
    const method = req.method ?? 'GET';
    if (method !== 'GET' && method !== 'POST') throw new HttpError(405, `method ${method} is not allowed here`, 'GET /api/jobs; POST /api/jobs/rerun, /api/jobs/new, /api/jobs/<id>/cancel');
    this.checkRequest(req, method === 'POST');
    if (method === 'GET') {
      if (pathname !== '/api/jobs') throw new HttpError(404, `no such route '${pathname}'`);
      sendJson(res, 200, { jobs: this.list(), options: describe(JOB_OPTIONS), newRun: describe(NEW_RUN_OPTIONS) });
      return true;
    }
    const body = await readBody(req);
    if (pathname === '/api/jobs/rerun') { sendJson(res, 202, this.rerun(body)); return true; }
    if (pathname === '/api/jobs/new') { sendJson(res, 202, this.newRun(body)); return true; }
    const c = /^\/api\/jobs\/([A-Za-z0-9-]{1,64})\/cancel$/.exec(pathname);
    if (c) { sendJson(res, 200, this.cancel(c[1])); return true; }
    throw new HttpError(404, `no such route '${pathname}'`, 'POST /api/jobs/rerun, /api/jobs/new, /api/jobs/<id>/cancel');
  }
}

function lstatExists(p: string): boolean {
  try {
    lstatSync(p);
    return true;
  } catch {
    return false;
  }
}

/** A JSON object body of at most 64 KiB, sent as application/json. */
async function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  const type = String(req.headers['content-type'] ?? '');
  if (!/^application\/json\b/.test(type)) throw new HttpError(415, `body must be application/json, got '${type || 'none'}'`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > 65536) throw new HttpError(413, 'body larger than 64 KiB');
    chunks.push(c);
  }
  let v: unknown;
  try {
    v = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
  } catch {
    throw new HttpError(400, 'body is not valid JSON');
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'body must be a JSON object');
  return v as Record<string, unknown>;
}
