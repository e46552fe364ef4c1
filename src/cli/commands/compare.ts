import { basename, resolve } from 'node:path';
import { parseFlagsWithConfig, intFlag, stringFlag, type Command } from '../command.ts';
import { AtlasError } from '../../errors.ts';
import { openActivationSet } from '../../data/activation-set.ts';
import { layerSimilarity, LAYER_SIMILARITY_DEFAULTS, SIMILARITY_MEASURES, type SimilarityMeasure } from '../../geometry/layer-similarity.ts';
import { writeCompareOutputs } from '../../geometry/compare-output.ts';
import { progress } from '../../util/progress.ts';

const D = LAYER_SIMILARITY_DEFAULTS;
const COMPARE_FLAGS = {
  measures: { type: 'string', default: D.measures.join(',') },
  k: { type: 'string', default: String(D.k) },
  metric: { type: 'string', default: D.metric },
  'max-rows': { type: 'string', default: String(D.maxRows) },
  seed: { type: 'string', default: String(D.seed) },
  layers: { type: 'string' },
  out: { type: 'string', default: 'atlas-out/compare' },
} as const;

/** Layer × layer representational similarity within one run or between two runs on the same inputs. */
export const compareCommand: Command = {
  name: 'compare',
  summary: 'layer × layer similarity (CKA, debiased CKA, neighbourhood overlap, RSA) within a run or between two',
  help: `Usage: latent-atlas compare RUN_A [RUN_B] [--measures ${D.measures.join(',')}] [--out atlas-out/compare]

RUN is a set of activations of the same inputs: a Latent Atlas cache entry (the folder extract prints), a folder
of per-layer .npy or .safetensors files, one N×L×d .npy, or one .safetensors with a tensor per layer. With one
run, every layer is compared with every other; with two (two models, or two checkpoints of one model, on the
same texts in the same order), every layer of A with every layer of B.
Writes OUT/compare-<measure>.npy (|layers A| × |layers B|, float64), OUT/compare-<measure>.{svg,png},
OUT/compare.json and OUT/compare.html.

Options:
  --measures LIST        any of ${SIMILARITY_MEASURES.join(', ')} (default ${D.measures.join(',')})
                         cka: linear CKA (Kornblith et al. 2019); cka_debiased: with the unbiased HSIC estimator;
                         overlap: mean fraction of shared k nearest neighbours; rsa: Spearman ρ of pairwise distances
  --k N                  neighbours for the overlap (default ${D.k})
  --metric euclidean|cosine   distance for overlap and RSA (default ${D.metric})
  --max-rows N           CKA and RSA use at most N inputs (a seeded subsample; default ${D.maxRows})
  --seed N               subsample seed (default ${D.seed})
  --layers LIST          only these layers of each run (comma-separated indices)
  --out DIR              output folder (default atlas-out/compare)`,
  async run(argv) {
    const { values, positionals } = parseFlagsWithConfig('compare', argv, COMPARE_FLAGS);
    if (positionals.length < 1 || positionals.length > 2) throw new AtlasError(`expected one or two runs, got ${positionals.length}`, { hint: "usage: latent-atlas compare RUN_A [RUN_B]; see 'latent-atlas compare --help'" });
    const measures = (stringFlag(values.measures) ?? '').split(',').map((s) => s.trim()).filter(Boolean) as SimilarityMeasure[];
    for (const m of measures) if (!SIMILARITY_MEASURES.includes(m)) throw new AtlasError(`--measures: unknown measure '${m}'`, { hint: `choose from ${SIMILARITY_MEASURES.join(', ')}` });
    if (measures.length === 0) throw new AtlasError('--measures is empty', { hint: `choose from ${SIMILARITY_MEASURES.join(', ')}` });
    const metric = stringFlag(values.metric);
    if (metric !== 'euclidean' && metric !== 'cosine') throw new AtlasError(`--metric must be euclidean or cosine, got '${metric}'`);
    const sets = await Promise.all(positionals.map((p) => openActivationSet(p)));
    const only = stringFlag(values.layers);
    const pick = only ? only.split(',').map((s) => Number(s.trim())) : undefined;
    const sources = sets.map((s, i) => {
      const layers = pick ? pick.filter((l) => s.layers.includes(l)) : s.layers;
      if (pick && layers.length === 0) throw new AtlasError(`--layers ${only}: none of these layers is in ${positionals[i]} (layers: ${s.layers.join(', ')})`);
      return { layers, rows: s.rows, readLayer: (l: number) => s.readLayer(l) };
    });
    const total = sources.reduce((a, s) => a + s.layers.length, 0);
    const bar = progress({ total, label: 'compare', unit: 'layers' });
    const res = await layerSimilarity(sources[0]!, sources[1], {
      measures, metric,
      k: intFlag(values.k, 'k', D.k, 1),
      maxRows: intFlag(values['max-rows'], 'max-rows', D.maxRows, 4),
      seed: intFlag(values.seed, 'seed', D.seed, 0),
      onLayer: () => bar.tick(1),
    });
    bar.done();
    const out = resolve(stringFlag(values.out) ?? 'atlas-out/compare');
    // Two runs of one model (two checkpoints, two datasets) get their folder names to tell them apart.
    const sameName = sets[1] && sets[1].name === sets[0]!.name;
    const nameA = sameName ? basename(resolve(positionals[0]!)) : sets[0]!.name;
    const nameB = sets[1] ? (sameName ? basename(resolve(positionals[1]!)) : sets[1].name) : undefined;
    const files = writeCompareOutputs(out, res, { nameA, nameB, runA: resolve(positionals[0]!), runB: positionals[1] ? resolve(positionals[1]) : undefined });
    if (res.rowsUsed.gram < sets[0]!.rows) console.error(`compare: CKA and RSA used a seeded subsample of ${res.rowsUsed.gram} of ${sets[0]!.rows} inputs (--max-rows)`);
    const nB = res.layersB.length;
    for (const [m, mat] of Object.entries(res.matrices)) {
      const offDiag = res.layersA.length > 1 && !nameB ? `  consecutive layers: ${res.layersA.slice(0, -1).map((_, i) => mat![i * nB + i + 1]!.toFixed(3)).join(' ')}` : '';
      console.log(`${m.padEnd(12)} ${res.layersA.length}×${nB}${offDiag}`);
    }
    console.log(files.html);
  },
};
