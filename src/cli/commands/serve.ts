import { resolve } from 'node:path';
import { AtlasError } from '../../errors.ts';
import { intFlag, parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { startServer } from '../../app/server.ts';

const FLAGS = {
  out: { type: 'string' },
  host: { type: 'string', default: '127.0.0.1' },
  port: { type: 'string', default: '8765' },
  'read-only': { type: 'boolean' },
} as const;

/** The local web app over an output folder. */
export const serveCommand: Command = {
  name: 'serve',
  summary: 'local web app over an output folder: maps (2D/3D, hover, selection), Fisher view, plots, tables',
  help: `Usage: latent-atlas serve [DIR] [--port 8765] [--host 127.0.0.1]     (or --config run.yaml with out: DIR)

Serves the output folder DIR (default atlas-demo, what 'latent-atlas demo' writes; --out DIR works too) as a
local web app: pick the run / layer / reduction, colour by label, 2D or 3D WebGL scatter with hover text and
box/lasso selection, the Fisher view (k-NN edges and metric ellipses), every plot (PNG/SVG) and table (CSV).
It finds results by file kind, so output of map, profile, fisher, mri, fim, similarity and task-vector shows up.

Background jobs (on 127.0.0.1 only): the Fisher tab recomputes a run with another k, edge rule or λ (only the
graph step onward; the metrics come from the step cache), and the Jobs tab starts a new Fisher run (model,
dataset, texts per label) into a new folder; each job shows its progress and can be cancelled. Jobs write only
inside DIR, and only once they finish; requests need the page's per-session token and the app's own origin.

  --port N        port (default 8765; 0 = any free port)
  --host ADDR     address to bind (default 127.0.0.1; anything else exposes your results to the network and
                  turns the jobs off)
  --read-only     no background jobs (the app only reads DIR)

Stop with Ctrl-C.`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('serve', argv, FLAGS);
    if (positionals.length > 1) throw new AtlasError(`serve takes one output folder, got ${positionals.length}: ${positionals.join(' ')}`);
    const positional = positionals[0];
    const out = stringFlag(values.out);
    if (positional && out && resolve(positional) !== resolve(out)) throw new AtlasError(`give the output folder once: '${positional}' and --out '${out}' differ`);
    const root = resolve(positional ?? out ?? 'atlas-demo');
    const port = intFlag(values.port, 'port', 8765, 0);
    if (port > 65535) throw new AtlasError(`--port must be ≤ 65535, got ${port}`);
    const host = stringFlag(values.host) ?? '127.0.0.1';
    if (!/^[A-Za-z0-9.:-]+$/.test(host)) throw new AtlasError(`--host must be an IP address or host name, got '${host}'`);
    const app = await startServer({ root, host, port, jobs: values['read-only'] !== true });
    if (!['127.0.0.1', 'localhost', '::1'].includes(host)) console.error(`warning: listening on ${host}: anyone who can reach this address can read ${root}`);
    console.log(`Latent Atlas: serving ${root}\n  open ${app.url}  (Ctrl-C to stop)`);
    await new Promise<void>((done) => {
      const stop = () => { void app.close().then(done); };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
    });
  },
};
