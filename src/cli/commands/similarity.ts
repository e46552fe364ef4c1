import { basename, resolve, join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { parseFlags, stringFlag, type Command } from '../command.ts';
import { fromFlags, tableFlags, tableHelp } from '../table-flags.ts';
import { AtlasError } from '../../errors.ts';
import { progress } from '../../util/progress.ts';
import { resolveModel } from '../../model/hub.ts';
import { analyzeSimilarity, uniqueLabels } from '../../params/similarity.ts';
import { SIMILARITY_OPTIONS } from '../../params/defaults.ts';
import { toCsv } from '../../params/stats.ts';
import { similarityPlots, tryPlot } from '../../params/plots.ts';
import { ensureWritableDir } from '../../data/fs-errors.ts';

/** Column-wise cosine similarity between checkpoints, streamed tensor by tensor. */
export const similarityCommand: Command = {
  name: 'similarity',
  summary: 'column-wise cosine similarity of the weights of two or more checkpoints, per tensor/component/layer',
  tables: { similarity: SIMILARITY_OPTIONS },
  help: `Usage: latent-atlas similarity --models A B [C ...] [--labels a,b,c] [--components q,k,v,o,gate,up,down]
                               [--color-range 0.8,1] [--revision REV] [--out similarity-out]

For every tensor and every pair of models: cosine similarity of each column of the stored weight matrix
(1-D tensors count as one column), summarised as mean, min, quantiles, max; pooled per layer and component.
A model is a folder or a hub id (downloaded like every other command's MODEL; --revision applies to every
hub id). Tensors that pack several weights are split by the model's weight recipes (GPT-2's c_attn into
q, k, v columns; fused qkv / gate_up rows). --components keeps only those weight matrices, by the
Fisher/similarity toolkit's names. Tensors are streamed in blocks (a few MB per model in memory). Missing
tensors and shape mismatches are reported, not fatal. Writes similarity.json, similarity_tensors.csv,
similarity_layers.csv, similarity_heatmap.svg/png (one layers × components panel per pair) and
similarity_layers.svg/png (one panel per component, similarity per layer, one line per pair) to --out.

${tableHelp(SIMILARITY_OPTIONS)}`,
  async run(argv) {
    const { values, positionals } = parseFlags('similarity', argv, {
      models: { type: 'string', multiple: true }, labels: { type: 'string' }, out: { type: 'string', default: 'similarity-out' },
      revision: { type: 'string' }, ...tableFlags(SIMILARITY_OPTIONS),
    }, true);
    // `--models A B C`: parseArgs gives A to --models and the rest as positionals
    const given = [...((values.models as string[] | undefined) ?? []), ...positionals];
    if (given.length < 2) throw new AtlasError('--models needs at least two checkpoint folders or hub ids');
    const labels = stringFlag(values.labels)?.split(',');
    if (labels && labels.length !== given.length) throw new AtlasError(`--labels has ${labels.length} names for ${given.length} models`);
    const options = fromFlags(SIMILARITY_OPTIONS, values);
    const out = resolve(stringFlag(values.out) ?? 'similarity-out');
    const dirs: string[] = [];
    for (const m of given) dirs.push(await resolveModel(m, { revision: stringFlag(values.revision) ?? 'main' }));
    // hub snapshots are folders named by commit: label those by the id the user gave, folders by their name
    const shown = labels ?? uniqueLabels(given.map((g, i) => (resolve(g) === dirs[i] ? basename(dirs[i]) || dirs[i] : g)));
    const bar = progress({ total: 0, label: 'similarity', unit: 'B' });
    let last = 0;
    const res = await analyzeSimilarity(dirs, { labels: shown, components: options.components, onTensor: (name, bytes) => { bar.tick(bytes - last, { tensor: name }); last = bytes; } });
    bar.done();
    if (res.tensors.length === 0) {
      for (const p of res.problems.slice(0, 5)) console.error(`warning: ${p.tensor}: ${p.problem}`);
      throw new AtlasError(`compared 0 tensors: the checkpoints share no tensor of the same shape (${res.problems.length} problem(s))`, { hint: 'compare checkpoints of the same architecture and size' });
    }
    ensureWritableDir(out, 'out'); // only now: no empty report folder when nothing was compared
    writeFileSync(join(out, 'similarity.json'), JSON.stringify(res, null, 2) + '\n');
    writeFileSync(join(out, 'similarity_tensors.csv'), toCsv(res.tensors.flatMap((t) => Object.entries(t.pairs).map(([pair, s]) => ({
      pair, tensor: t.name, layer: t.layer, component: t.component, shape: t.shape.join('x'), ...s,
    })))));
    writeFileSync(join(out, 'similarity_layers.csv'), toCsv(res.aggregates.map((a) => ({ pair: a.pair, layer: a.group, component: a.component, ...a.stats }))));
    tryPlot('similarity', () => similarityPlots(res, join(out, 'similarity'), { colorRange: options.colorRange }));
    for (const p of res.problems) console.error(`warning: ${p.tensor}: ${p.problem}`);
    console.log(`compared ${res.tensors.length} tensors across ${res.pairs.length} pair(s) (${(res.bytesRead / 2 ** 30).toFixed(2)} GiB read); results in ${out}`);
  },
};
