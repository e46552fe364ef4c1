import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AtlasError } from '../../errors.ts';
import { intFlag, parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { startServer } from '../../app/server.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { REDUCE_OPTIONS } from '../../geometry/defaults.ts';
import { defineOptions, withDefaults, type ResolvedOptions } from '../../util/option-table.ts';
import { LAYER_BUNDLE, writeSetBundle, type LayerBundleManifest } from '../../geometry/layer-bundle.ts';
import { openActivationSet } from '../../data/activation-set.ts';
import { hashJson } from '../../data/hash.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';
import { setLayers } from './map.ts';

/** The reduction options a layers bundle uses (the same table as map's, so defaults are stated once). */
export const SERVE_BUNDLE_OPTIONS = defineOptions({ method: REDUCE_OPTIONS.method, nComponents: REDUCE_OPTIONS.nComponents, seed: REDUCE_OPTIONS.seed });

const FLAGS = {
  out: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8765' },
  'read-only': { type: 'boolean' },
  activations: { type: 'string' },
  labels: { type: 'string' },
  'label-column': { type: 'string' },
  'text-column': { type: 'string' },
  layers: { type: 'string' },
  ...tableFlags(SERVE_BUNDLE_OPTIONS),
} as const;

export interface ActivationsBundleOptions {
  activations: string;
  labels?: string;
  labelColumn?: string;
  textColumn?: string;
  /** 'all' (default), or layer indices of the activations (negative from the end). */
  layers?: string;
  reduce?: Partial<ResolvedOptions<typeof SERVE_BUNDLE_OPTIONS>>;
  log?: (line: string) => void;
}

/** Size and modification time of a file, or of every file of a folder (one level): what makes the cache stale. */
function fingerprint(path: string): unknown {
  const st = statSync(path);
  if (!st.isDirectory()) return [path, st.size, st.mtimeMs];
  return readdirSync(path).sort().filter((f) => !f.startsWith('.')).map((f) => { const s = statSync(join(path, f)); return [f, s.size, s.mtimeMs]; });
}

/**
 * The layers bundle of activations computed elsewhere, in `root` (OUT/layers-<method>[-3d]/, as `map --align`
 * writes it), built once: a bundle whose recorded source key (paths, sizes and times of the activations and the
 * labels, the layers and the reduction) matches is reused. Returns the bundle folder and whether it was reused.
 */
export async function activationsBundle(root: string, o: ActivationsBundleOptions): Promise<{ dir: string; cached: boolean; manifest: LayerBundleManifest }> {
  const r = withDefaults(SERVE_BUNDLE_OPTIONS, o.reduce ?? {});
  if (r.nComponents !== 2 && r.nComponents !== 3) throw new AtlasError(`--dims must be 2 or 3, got ${r.nComponents}`);
  const acts = resolve(o.activations);
  if (!existsSync(acts)) throw new AtlasError('not found', { file: o.activations, field: 'activations', hint: 'pass a .npy / .safetensors file or a folder of them' });
  const labels = o.labels ? resolve(o.labels) : undefined;
  if (labels && !existsSync(labels)) throw new AtlasError('not found', { file: o.labels, field: 'labels', hint: 'a CSV/TSV/JSONL file with one row per activation row' });
  const key = hashJson({ acts, a: fingerprint(acts), labels: labels ?? null, l: labels ? fingerprint(labels) : null, labelColumn: o.labelColumn ?? null, textColumn: o.textColumn ?? null, layers: o.layers ?? 'all', r });
  const dir = join(root, `layers-${r.method}${r.nComponents === 3 ? '-3d' : ''}`);
  const manPath = join(dir, LAYER_BUNDLE.manifest);
  if (existsSync(manPath) && existsSync(join(dir, LAYER_BUNDLE.coords)) && existsSync(join(dir, LAYER_BUNDLE.knn))) {
    try {
      const m = JSON.parse(readFileSync(manPath, 'utf8')) as LayerBundleManifest;
      if (m.sourceKey === key) return { dir, cached: true, manifest: m };
    } catch { /* unreadable: rebuilt below */ }
  }
  ensureWritableDir(root, 'out');
  const set = await openActivationSet(acts, { labels, labelColumn: o.labelColumn, textColumn: o.textColumn });
  const layers = setLayers(set, o.layers ?? 'all');
  const manifest = await writeSetBundle(dir, set, layers, {
    method: r.method, dim: r.nComponents, seed: r.seed, log: o.log, info: { model: set.name, dataset: o.labels ?? '(unlabelled)', sourceKey: key },
  });
  return { dir, cached: false, manifest };
}

/** The local web app over an output folder. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'local web app over an output folder: maps (2D/3D, hover, selection), layers explorer, Fisher view, plots, tables',
  tables: { bundle: SERVE_BUNDLE_OPTIONS },
  help: `Usage: latent-atlas serve [DIR] [--port 8765] [--host 127.0.0.1]     (or --config run.yaml with out: DIR)
       latent-atlas serve [DIR] --activations PATH [--labels FILE] [--layers all] [--reduce pca] [--dims 2]

Serves the output folder DIR (default atlas-demo, what 'latent-atlas demo' writes; --out DIR works too) as a
local web app: pick the run / layer / reduction, colour by label, 2D or 3D WebGL scatter with hover text and
box/lasso selection, the Fisher view (k-NN edges and metric ellipses), every plot (PNG/SVG) and table (CSV).
It finds results by file kind, so output of map, profile, fisher, mri, fim, similarity and task-vector shows up.
Layers bundles (map --align) open the Layers tab: a layer slider, search, neighbours, colour by label, column
or logit lens per layer, and a second run beside the first (same texts; linked slider and selection): put both
runs' --out folders under one folder and serve that.

Background jobs (on 127.0.0.1 only): the Fisher tab recomputes a run with another k, edge rule or λ (only the
graph step onward; the metrics come from the step cache), and the Jobs tab starts a new Fisher run (model,
dataset, texts per label) into a new folder; each job shows its progress and can be cancelled. Jobs write only
inside DIR, and only once they finish; requests need the page's per-session token and the app's own origin.

  --port N        port (default 8765; 0 = any free port)
  --host ADDR     address to bind (default 127.0.0.1; anything else exposes your results to the network and
                  turns the jobs off)
  --read-only     no background jobs (the app only reads DIR)

Activations computed elsewhere (PyTorch hooks, TransformerLens, nnsight; layouts as in 'latent-atlas profile --help'):
  --activations PATH    .npy (one per layer, or one N×L×d), .safetensors, or a folder of them: serve builds the
                        layers bundle DIR/layers-<method>/ from them (default DIR atlas-out) and reuses it while
                        the activations, labels and options are unchanged
  --labels FILE         labels/texts (CSV/TSV/JSONL, one row per activation row; --label-column / --text-column)
  --layers SPEC         layers of the bundle: all (default) or indices, negative from the end
${tableHelp(SERVE_BUNDLE_OPTIONS)}

Stop with Ctrl-C.`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('serve', argv, FLAGS);
    if (positionals.length > 1) throw new AtlasError(`serve takes one output folder, got ${positionals.length}: ${positionals.join(' ')}`);
    const positional = positionals[0];
    const out = stringFlag(values.out);
    if (positional && out && resolve(positional) !== resolve(out)) throw new AtlasError(`give the output folder once: '${positional}' and --out '${out}' differ`);
    const acts = stringFlag(values.activations);
    const root = resolve(positional ?? out ?? (acts ? 'atlas-out' : 'atlas-demo'));
    const port = intFlag(values.port, 'port', 8765, 0);
    if (port > 65535) throw new AtlasError(`--port must be ≤ 65535, got ${port}`);
    const host = stringFlag(values.host) ?? '127.0.0.1';
    if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new AtlasError(`--host must be an IP address or host name, got '${host}'`);
    const given = fromFlags(SERVE_BUNDLE_OPTIONS, values);
    if (!acts) {
      for (const f of ['labels', 'label-column', 'text-column', 'layers']) if (values[f] !== undefined) throw new AtlasError(`--${f} needs --activations`, { hint: 'serve --activations PATH --labels FILE builds the explorer from activations computed elsewhere' });
      if (Object.keys(given).length) throw new AtlasError('--reduce / --dims / --seed need --activations', { hint: "serve shows what is in the folder; 'latent-atlas map --align' writes other bundles" });
    } else {
      const b = await activationsBundle(root, {
        activations: acts, labels: stringFlag(values.labels), labelColumn: stringFlag(values['label-column']), textColumn: stringFlag(values['text-column']),
        layers: stringFlag(values.layers), reduce: given, log: (line) => console.error(line),
      });
      console.log(`${b.cached ? 'reusing' : 'built'} the layers bundle ${b.dir} (${b.manifest.n} points, layers ${b.manifest.layers.join(', ')})`);
    }
    const app = await startServer({ root, host, port, jobs: values['read-only'] !== true });
    if (!['127.0.0.1', 'localhost', '::1'].includes(host)) console.error(`warning: listening on ${host}: anyone who can reach this address can read ${root}`);
    console.log(`Latent Atlas: serving ${root}\n  open ${app.url}${acts ? '?view=layers' : ''}  (Ctrl-C to stop)`);
    await new Promise<void>((done) => {
      const stop = () => { void app.close().then(done); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
