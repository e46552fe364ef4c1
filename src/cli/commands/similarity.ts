import { resolve, join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseFlags, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { progress } from '../../util/progress.ts';
import { analyzeSimilarity } from '../../params/similarity.ts';
import { toCsv } from '../../params/stats.ts';
import { similarityPlots, tryPlot } from '../../params/plots.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

/** Column-wise cosine similarity between checkpoints, streamed tensor by tensor. */
export const similarityCommand: Command = {
  name: 'similarity',
  summary: 'column-wise cosine similarity of the weights of two or more checkpoints, per tensor/component/layer',
  help: `Usage: latent-atlas similarity --models A B [C ...] [--labels a,b,c] [--out similarity-out]

For every tensor and every pair of models: cosine similarity of each column of the stored weight matrix
(1-D tensors count as one column), summarised as mean, min, quantiles, max; pooled per layer and component.
Tensors are streamed in blocks (a few MB per model in memory). Missing tensors and shape mismatches are
reported, not fatal. Writes similarity.json, similarity_tensors.csv, similarity_layers.csv and
similarity_heatmap / similarity_layers plots (svg, png) to --out.`,
  async run(argv) {
    const { values, positionals } = parseFlags('similarity', argv, {
      models: { type: 'string', multiple: true }, labels: { type: 'string' }, out: { type: 'string', default: 'similarity-out' },
    }, true);
    // `--models A B C`: parseArgs gives A to --models and the rest as positionals
    const dirs = [...(values.models ?? []), ...positionals].map((d) => resolve(d));
    if (dirs.length < 2) throw new AtlasError('--models needs at least two checkpoint folders');
    const labels = values.labels?.split(',');
    if (labels && labels.length !== dirs.length) throw new AtlasError(`--labels has ${labels.length} names for ${dirs.length} models`);
    const bar = progress({ total: 0, label: 'similarity', unit: 'B' });
    let last = 0;
    const res = analyzeSimilarity(dirs, { labels, onTensor: (name, bytes) => { bar.tick(bytes - last, { tensor: name }); last = bytes; } });
    bar.done();
    if (res.tensors.length === 0) {
      for (const p of res.problems.slice(0, 5)) console.error(`warning: ${p.tensor}: ${p.problem}`);
      throw new AtlasError(`compared 0 tensors: the checkpoints share no tensor of the same shape (${res.problems.length} problem(s))`, { hint: 'compare checkpoints of the same architecture and size' });
    }
    const out = resolve(values.out!);
    ensureWritableDir(out, 'out');
    writeFileSync(join(out, 'similarity.json'), JSON.stringify(res, null, 2) + '\n');
    writeFileSync(join(out, 'similarity_tensors.csv'), toCsv(res.tensors.flatMap((t) => Object.entries(t.pairs).map(([pair, s]) => ({
      pair, tensor: t.name, layer: t.layer, component: t.component, shape: t.shape.join('x'), ...s,
    })))));
    writeFileSync(join(out, 'similarity_layers.csv'), toCsv(res.aggregates.map((a) => ({ pair: a.pair, layer: a.group, component: a.component, ...a.stats }))));
    tryPlot('similarity', () => similarityPlots(res, join(out, 'similarity')));
    for (const p of res.problems) console.error(`warning: ${p.tensor}: ${p.problem}`);
    console.log(`compared ${res.tensors.length} tensors across ${res.pairs.length} pair(s) (${(res.bytesRead / 2 ** 30).toFixed(2)} GiB read); results in ${out}`);
  },
};
