/**
 * Background jobs in the page (server side: src/app/jobs.ts): a "Recompute" bar in the Fisher tab (k, edge
 * rule, λ of the shown run; only the graph step onward is recomputed, the rest comes from the step cache) and a
 * Jobs tab (start a new Fisher run; every job with its state, progress and a Cancel button). Present only when
 * the server handed the page a session token (<meta name="atlas-token">): never in a static report.
 *
 * Test hooks: #jobs-list tr[data-job][data-state], #job-status[data-state], #job-k / #job-rule / #job-lambda /
 * #job-rerun, #new-model / #new-data / #new-samples / #new-name / #new-start.
 */
import type { FisherPayload } from './data.ts';
import type { JobInfo } from '../../src/app/jobs.ts';

interface OptionInfo {
  kind: string;
  default: unknown;
  min?: number;
  choices?: readonly string[];
  help: string;
}

interface JobsResponse {
  jobs: JobInfo[];
  options: Record<'k' | 'rule' | 'lambda', OptionInfo>;
  newRun: Record<string, OptionInfo>;
}

export interface JobsHooks {
  selectTab(name: string): void;
  /** The Fisher folder shown now (null when none). */
  fisherDir(): string | null;
  /** Reloads the Fisher view of `dir` (after a rerun finished). */
  reloadFisher(dir: string): Promise<void>;
}

export interface JobsUi {
  /** Called by the Fisher view when it shows a run: the Recompute bar takes its k, rule and λ. */
  fisherLoaded(f: FisherPayload): void;
}

function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c);
  return el;
}

const ACTIVE = new Set(['queued', 'running']);

/** Sets up the jobs UI when the page has a session token; null otherwise. */
export async function initJobs(hooks: JobsHooks, onError: (e: unknown) => void): Promise<JobsUi | null> {
  const token = document.querySelector<HTMLMetaElement>('meta[name="atlas-token"]')?.content;
  if (!token) return null;
  const api = async <T>(path: string, body?: unknown): Promise<T> => {
    const r = await fetch(path, body === undefined ? {} : { method: 'POST', headers: { 'Content-Type': 'application/json', 'X-Atlas-Token': token }, body: JSON.stringify(body) });
    const v = await r.json().catch(() => ({ error: `HTTP ${r.status}` }));
    if (!r.ok) throw new Error(`${v.error ?? `HTTP ${r.status}`}${v.hint ? ` (${v.hint})` : ''}`);
    return v as T;
  };
  let state: JobsResponse;
  try {
    state = await api<JobsResponse>('api/jobs');
  } catch (e) {
    onError(e);
    return null;
  }
  const o = state.options;

  // ---- Recompute bar (Fisher tab)
  const kIn = h('input', { id: 'job-k', type: 'number', min: String(o.k.min ?? 1), step: '1', value: String(o.k.default), title: o.k.help, style: 'width:5em' });
  const ruleSel = h('select', { id: 'job-rule', title: o.rule.help }, ...(o.rule.choices ?? []).map((c) => h('option', { value: c }, c)));
  ruleSel.value = String(o.rule.default);
  const lambdaIn = h('input', { id: 'job-lambda', type: 'text', value: String(o.lambda.default), title: o.lambda.help, style: 'width:6em' });
  const rerunBtn = h('button', { id: 'job-rerun', title: 'recompute the graphs, geodesics, MDS and report with these settings (the metrics come from the step cache)' }, 'Recompute');
  const progress = h('progress', { id: 'job-progress', max: '1', value: '0', hidden: '' });
  const status = h('span', { id: 'job-status', class: 'hint' });
  const bar = h('div', { class: 'controls jobs-rerun' }, h('b', {}, 'k-NN'), h('label', {}, 'k ', kIn), h('label', {}, 'edge rule ', ruleSel), h('label', {}, 'λ ', lambdaIn), rerunBtn, progress, status);
  document.querySelector('#tab-fisher .controls')?.after(bar);
  let rerunJob: string | null = null;
  rerunBtn.addEventListener('click', () => {
    const dir = hooks.fisherDir();
    if (!dir) return;
    api<JobInfo>('api/jobs/rerun', { dir, k: kIn.value, rule: ruleSel.value, lambda: lambdaIn.value }).then((j) => {
      rerunJob = j.id;
      void poll();
    }, (e) => { status.textContent = (e as Error).message; status.dataset.state = 'refused'; });
  });

  // ---- Jobs tab
  const navBtn = h('button', { 'data-tab': 'jobs', id: 'tab-button-jobs' }, 'Jobs');
  document.querySelector('header nav')?.append(navBtn);
  navBtn.addEventListener('click', () => hooks.selectTab('jobs'));
  const field = (id: string, label: string, attrs: Record<string, string>) => h('label', {}, `${label} `, h('input', { id, ...attrs }));
  const startBtn = h('button', { id: 'new-start' }, 'Start run');
  const newMsg = h('span', { id: 'new-status', class: 'hint' });
  const list = h('tbody', { id: 'jobs-list' });
  const section = h('section', { id: 'tab-jobs', hidden: '' },
    h('section', { class: 'group' }, h('h2', {}, 'New Fisher run'),
      h('p', { class: 'hint' }, 'Runs `latent-atlas fisher` in the background into a new folder of this output folder. The model is a checkpoint folder (or a hub id in the local cache), the data a dataset file or builtin:NAME.'),
      h('div', { class: 'controls' },
        field('new-model', 'model', { type: 'text', placeholder: 'path/to/checkpoint or gpt2', size: '28' }),
        field('new-data', 'data', { type: 'text', placeholder: 'data.csv or builtin:topics', size: '24' }),
        field('new-samples', 'texts per label', { type: 'number', min: String(state.newRun.numSamples?.min ?? 1), step: '1', placeholder: 'all', style: 'width:5em', title: state.newRun.numSamples?.help ?? '' }),
        field('new-name', 'folder', { type: 'text', value: `runs/fisher-${new Date().toISOString().slice(0, 16).replace(/[-:T]/g, '')}`, size: '22' }),
        field('new-k', 'k', { type: 'number', min: String(o.k.min ?? 1), value: String(o.k.default), style: 'width:4em' }),
        startBtn, newMsg)),
    h('section', { class: 'group' }, h('h2', {}, 'Jobs'),
      h('table', { class: 'data jobs' }, h('thead', {}, h('tr', {}, ...['job', 'folder', 'settings', 'state', 'progress', ''].map((t) => h('th', {}, t)))), list)));
  document.querySelector('main')?.append(section);
  const val = (id: string) => (document.getElementById(id) as HTMLInputElement).value;
  startBtn.addEventListener('click', () => {
    api<JobInfo>('api/jobs/new', { model: val('new-model'), data: val('new-data'), numSamples: val('new-samples'), name: val('new-name'), k: val('new-k') }).then((j) => {
      newMsg.textContent = `started: ${j.dir}`;
      void poll();
    }, (e) => { newMsg.textContent = (e as Error).message; });
  });

  const render = () => {
    list.replaceChildren(...[...state.jobs].reverse().map((j) => {
      const cancel = h('button', { class: 'job-cancel' }, 'Cancel');
      cancel.hidden = !ACTIVE.has(j.state);
      cancel.addEventListener('click', () => { api<JobInfo>(`api/jobs/${encodeURIComponent(j.id)}/cancel`, {}).then(() => void poll(), onError); });
      const settings = Object.entries(j.params).filter(([, v]) => v !== null).map(([k, v]) => `${k} ${v}`).join(', ');
      return h('tr', { 'data-job': j.id, 'data-state': j.state },
        h('td', {}, j.kind === 'rerun' ? 'recompute' : 'new run'), h('td', {}, j.dir), h('td', {}, settings), h('td', { class: 'job-state' }, j.state),
        h('td', {}, h('progress', { max: '1', value: String(j.progress) }), ' ', h('span', { class: 'hint' }, j.error ?? j.message)), h('td', {}, cancel));
    }));
    const mine = state.jobs.find((j) => j.id === rerunJob);
    if (mine) {
      progress.hidden = !ACTIVE.has(mine.state);
      progress.value = mine.progress;
      status.dataset.state = mine.state;
      status.textContent = `${mine.state}: ${mine.error ?? mine.message}`;
    }
  };

  // ---- Polling: while a job is active; a finished rerun of the shown run reloads the Fisher view.
  let timer: ReturnType<typeof setTimeout> | null = null;
  const seen = new Map(state.jobs.map((j) => [j.id, j.state]));
  async function poll(): Promise<void> {
    if (timer) { clearTimeout(timer); timer = null; }
    try {
      state = await api<JobsResponse>('api/jobs');
    } catch (e) {
      onError(e);
      return;
    }
    for (const j of state.jobs) {
      const before = seen.get(j.id);
      seen.set(j.id, j.state);
      if (j.state === 'done' && before !== 'done') {
        if (j.kind === 'rerun' && j.dir === hooks.fisherDir()) await hooks.reloadFisher(j.dir);
        if (j.kind === 'new') newMsg.replaceChildren(`finished: ${j.dir} `, Object.assign(h('button', {}, 'reload the page to open it'), { onclick: () => location.reload() }));
      }
    }
    render();
    if (state.jobs.some((j) => ACTIVE.has(j.state))) timer = setTimeout(() => void poll(), 400);
  }
  render();
  if (state.jobs.some((j) => ACTIVE.has(j.state))) void poll();

  return {
    fisherLoaded(f: FisherPayload) {
      const c = f.comparison as Record<string, unknown> | null;
      if (c && typeof c.k === 'number') kIn.value = String(c.k);
      if (c && typeof c.rule === 'string') ruleSel.value = c.rule;
      if (c && typeof c.lambda === 'number') lambdaIn.value = String(c.lambda);
      kIn.max = String(Math.max(1, f.n - 1));
    },
  };
}
