import { resolve, join, dirname } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseFlags, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { openCheckpoint } from '../../model/checkpoint.ts';
import { SafetensorsFile } from '../../model/safetensors.ts';
import { progress } from '../../util/progress.ts';
import { resolveModel } from '../../model/hub.ts';
import { taskVector } from '../../params/task-vector.ts';
import { toCsv } from '../../params/stats.ts';
import { taskVectorPlot, tryPlot } from '../../params/plots.ts';
import { ensureWritableDir, ensureWritableFile } from '../../data/fs-errors.ts';

/** τ = finetuned − base as a checkpoint, with per-layer change norms (and Fisher importance when given). */
export const taskVectorCommand: Command = {
  name: 'task-vector',
  summary: 'task vector (finetuned − base) as safetensors, with per-layer change norms and Fisher importance',
  help: `Usage: latent-atlas task-vector --base MODEL --finetuned MODEL --out FILE.safetensors [--fisher fisher_diagonal.safetensors]
                                [--dtype F32|F16|BF16] [--report DIR] [--revision REV]

MODEL: a checkpoint folder or a hub id (downloaded like every other command's MODEL; --revision applies to both).
Writes tau = theta_finetuned - theta_base per tensor to --out (canonical names), and to --report (default:
the folder of --out) task_vector.json, task_vector_layers.csv, task_vector_tensors.csv and
task_vector_layers.svg/png: norms ||tau||, ||theta_base||, relative change per tensor/component/layer.
With --fisher (from 'latent-atlas fim' on the base model): sum F_i tau_i^2 per tensor and layer and the
Spearman correlation across layers of Fisher importance vs relative change.`,
  async run(argv) {
    const { values } = parseFlags('task-vector', argv, {
      base: { type: 'string' }, finetuned: { type: 'string' }, out: { type: 'string' }, fisher: { type: 'string' },
      dtype: { type: 'string', default: 'F32' }, report: { type: 'string' }, revision: { type: 'string' },
    });
    if (!values.base || !values.finetuned) throw new AtlasError('--base MODEL and --finetuned MODEL are required (folders or hub ids)');
    if (!values.out) throw new AtlasError('--out FILE.safetensors is required');
    const dtype = values.dtype;
    if (dtype !== 'F32' && dtype !== 'F16' && dtype !== 'BF16') throw new AtlasError(`--dtype must be F32, F16 or BF16, got '${dtype}'`);
    const out = resolve(values.out);
    const reportDir = resolve(values.report ?? dirname(out));
    ensureWritableFile(out, 'out', 'task_vector.safetensors');
    ensureWritableDir(reportDir, 'report');
    const revision = values.revision ?? 'main';
    const baseDir = await resolveModel(values.base, { revision });
    const finetunedDir = await resolveModel(values.finetuned, { revision });
    const c = openCheckpoint(baseDir);
    const names = c.names();
    const total = names.length;
    c.close();
    if (values.fisher) {
      // A Fisher file of another model would silently weight nothing: refuse before writing anything.
      const f = SafetensorsFile.open(resolve(values.fisher));
      const shared = names.filter((n) => f.entries.has(n)).length;
      f.close();
      if (shared === 0) throw new AtlasError('matches no tensor of the base model', { file: resolve(values.fisher), hint: "pass the fisher_diagonal.safetensors that 'latent-atlas fim' wrote for --base" });
    }
    const bar = progress({ total, label: 'task-vector', unit: 'tensor' });
    const rep = taskVector(baseDir, finetunedDir, { out, dtype, fisher: values.fisher && resolve(values.fisher), onTensor: (name) => bar.tick(1, { tensor: name }) });
    bar.done();
    writeFileSync(join(reportDir, 'task_vector.json'), JSON.stringify(rep, null, 2) + '\n');
    writeFileSync(join(reportDir, 'task_vector_layers.csv'), toCsv(rep.layers.map((l) => ({
      layer: l.group, norm: l.norm, base_norm: l.baseNorm, relative: l.relative, fisher_sum: l.fisherSum ?? null, fisher_weighted_change: l.fisherWeighted ?? null,
    }))));
    writeFileSync(join(reportDir, 'task_vector_tensors.csv'), toCsv(rep.tensors.map((t) => ({
      tensor: t.name, layer: t.layer, component: t.component, norm: t.norm, base_norm: t.baseNorm, relative: t.relative,
      fisher_sum: t.fisherSum ?? null, fisher_weighted_change: t.fisherWeighted ?? null,
    }))));
    tryPlot('task-vector', () => taskVectorPlot(rep, join(reportDir, 'task_vector_layers')));
    for (const p of rep.problems) console.error(`warning: ${p.tensor}: ${p.problem}`);
    console.log(`task vector of ${rep.tensors.length} tensors written to ${out}: ||tau|| = ${rep.total.norm.toPrecision(4)} (${(100 * rep.total.relative).toFixed(2)}% of ||theta_base||)` +
      (rep.fisherChangeSpearman !== undefined ? `; Spearman(Fisher, change) across layers = ${rep.fisherChangeSpearman.toFixed(3)}` : ''));
  },
};
