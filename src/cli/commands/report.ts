import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { AtlasError } from '../../errors.ts';
import { parseFlagsWithConfig, stringFlag, type Command } from '../command.ts';
import { buildReport } from '../../app/report.ts';
import { writeFileAtomic } from '../../data/atomic.ts';

const FLAGS = {
  out: { type: 'string' },
  output: { type: 'string' },
} as const;

/** One self-contained HTML file with the app's views of an output folder. */
export const reportCommand: Command = {
  name: 'report',
  summary: 'write one self-contained HTML report (no network needed) of an output folder',
  help: `Usage: latent-atlas report DIR [--out FILE]

Writes the app's views of the output folder DIR — maps (2D/3D WebGL scatter, hover, selection), Fisher view,
every plot and table — into ONE HTML file with all scripts and data inlined: it opens from disk with no
server and no network, for sharing.

  --out FILE      where to write (default DIR/atlas-report.html; --output FILE is the same)`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('report', argv, FLAGS);
    if (positionals.length > 1) throw new AtlasError(`report takes one output folder, got ${positionals.length}`);
    const dir = positionals[0];
    if (!dir) throw new AtlasError('give the output folder: latent-atlas report DIR', { hint: "DIR is the --out of 'latent-atlas demo' (default atlas-demo)" });
    const root = resolve(dir);
    if (!existsSync(root) || !statSync(root).isDirectory()) throw new AtlasError('output folder not found', { file: root });
    const outFlag = stringFlag(values.out);
    const outputFlag = stringFlag(values.output);
    if (outFlag && outputFlag && resolve(outFlag) !== resolve(outputFlag)) throw new AtlasError('--out and --output are the same option: give it once');
    const file = resolve(outFlag ?? outputFlag ?? join(root, 'atlas-report.html'));
    const r = await buildReport(root);
    if (r.maps + r.fisher + r.plots + r.tables === 0) throw new AtlasError('no results found in the folder (maps, Fisher outputs, plots or tables)', { file: root });
    writeFileAtomic(file, r.html);
    for (const s of r.skipped) console.error(`warning: left out ${s}`);
    console.log(`report: ${file} (${(Buffer.byteLength(r.html) / 1e6).toFixed(1)} MB; ${r.maps} maps, ${r.fisher} Fisher, ${r.plots} plots, ${r.tables} tables)`);
  },
};
