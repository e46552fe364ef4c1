/**
 * The process a background job of the app runs in (forked by src/app/jobs.ts): it receives one JobSpec over
 * IPC, runs the Fisher pipeline into the job's staging folder, reports log lines and progress, and exits. The
 * server publishes the staged files only after a clean exit; cancelling kills this process, so the CPU work
 * really stops and nothing half-written reaches the output folder.
 */
import { AtlasError } from '../errors.ts';
import { runFisherPipeline, type FisherPipelineOptions } from '../fisher/pipeline.ts';
import { fisherWeightsFor } from '../fisher/weight-source.ts';
import { assembleDataset, loadDataset } from '../data/dataset.ts';
import { loadModel } from '../model/load.ts';
import { ParamStore } from '../params/param-store.ts';
import type { ChildMessage, JobSpec, NewRunSpec, RerunSpec } from './jobs-spec.ts';

const send = (m: ChildMessage): void => { process.send?.(m); };
const common = (): Pick<FisherPipelineOptions, 'log' | 'onProgress'> => ({
  log: (line) => send({ type: 'log', line }),
  onProgress: (done, total) => send({ type: 'progress', done, total }),
});

/** Graph step onward from the cached metrics: the model is not loaded (the metrics step is a cache hit). */
async function rerun(spec: RerunSpec) {
  const mi = spec.metricInputs;
  const p = spec.points;
  const labelNames = p.labels ? p.labels.map((k) => p.classNames[k] ?? String(k)) : null;
  // The cached metrics were computed for exactly these texts; their recorded content hash keys the cache.
  const dataset = { ...assembleDataset({ name: 'rerun', source: 'points.json', texts: p.texts, labelNames }), hash: mi.dataset };
  // Stand-ins for the model: only the metrics step would use them, and it is read from the cache (the server
  // checked its done.json); should it be missing, this fails with a message instead of computing anything.
  const missing = () => { throw new AtlasError('the cached metrics of this run are missing: rerun `latent-atlas fisher` with its model'); };
  const params = { spec: { nLayer: spec.nLayer } } as unknown as ParamStore;
  const tokenizer = new Proxy({}, { get: missing }) as never;
  return runFisherPipeline(params, tokenizer, mi.model, dataset, {
    ...spec.options, out: spec.staging, metric: mi.metric, layer: mi.layer, point: mi.point, method: mi.method,
    samples: mi.samples ?? undefined, storage: mi.storage, rank: mi.rank, maxLength: mi.maxLength ?? undefined, seed: mi.seed,
    model: mi.metric === 'attention-covariance' ? (new Proxy({}, { get: missing }) as never) : undefined,
    ...common(),
  });
}

async function newRun(spec: NewRunSpec) {
  send({ type: 'log', line: `loading ${spec.data}` });
  const dataset = await loadDataset(spec.data, { numSamples: spec.numSamples });
  for (const w of dataset.warnings) send({ type: 'log', line: `warning: ${w}` });
  send({ type: 'log', line: `loading ${spec.model}` });
  const model = await loadModel(spec.model, {});
  try {
    return await runFisherPipeline(fisherWeightsFor(model), model.tokenizer, model.key, dataset, {
      out: spec.staging, model, k: spec.params.k, rule: spec.params.rule, lambda: spec.params.lambda, png: spec.png, ...common(),
    });
  } finally {
    await model.release();
  }
}

/** Sends the last message, then exits (worker pools of the pipeline must not keep the process alive). */
function finish(m: ChildMessage, code: number): void {
  if (process.send) process.send(m, () => process.exit(code));
  else process.exit(code);
}

// The server went away (killed, or closed without cancelling): stop rather than compute for nobody.
process.on('disconnect', () => process.exit(1));

process.once('message', (spec: JobSpec) => {
  void (async () => {
    try {
      const r = spec.kind === 'rerun' ? await rerun(spec) : await newRun(spec);
      finish({ type: 'done', timings: r.timings }, 0);
    } catch (e) {
      finish({ type: 'error', message: e instanceof AtlasError ? e.message : `internal error: ${(e as Error).message}` }, 1);
    }
  })();
});
