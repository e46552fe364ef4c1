/** Defaults of the LLM-MRI analysis (ActivationAreas, `latent-atlas mri`): written once here. */
import { defineOptions, opt } from '../util/option-table.ts';
import { AGGREGATIONS, type Aggregation } from '../data/aggregate.ts';
import { BATCH_SIZE, MAX_LENGTH, SEED } from '../data/defaults.ts';
import { REDUCTION_METHODS, type ReductionMethod } from './reduce.ts';

export const MRI_OPTIONS = defineOptions({
  method: opt<ReductionMethod>({ kind: 'choice', default: 'pca', choices: REDUCTION_METHODS, flag: 'reduce', help: 'reduction of each layer' }),
  nComponents: opt<number>({ kind: 'int', default: 2, min: 1, flag: 'components', metavar: 'K', help: 'reduced dimensions per layer (2: grid NRAG; more: Spearman NRAG)' }),
  gridsize: opt<number>({ kind: 'int', default: 10, min: 1, metavar: 'G', help: 'grid cells per axis (2 components only)' }),
  seed: { ...SEED, help: 'reduction seed' },
  pooling: opt<Aggregation | undefined>({ kind: 'choice', default: undefined, choices: AGGREGATIONS, aliases: ['aggregate'], defaultText: 'first ([CLS]) for encoders, mean for decoders', help: "how a text's token states become one vector" }),
  metric: opt<'cosine' | 'euclidean'>({ kind: 'choice', default: 'cosine', choices: ['cosine', 'euclidean'], help: 'UMAP metric' }),
  threshold: opt<number>({ kind: 'number', default: 0.3, metavar: 'T', help: 'Spearman edge threshold' }),
  thresholdMode: opt<'signed' | 'absolute'>({ kind: 'choice', default: 'signed', choices: ['signed', 'absolute'], help: 'signed: ρ > T; absolute: |ρ| > T' }),
  layout: opt<'fixed' | 'compact'>({ kind: 'choice', default: 'fixed', choices: ['fixed', 'compact'], help: 'node x positions: fixed (comparable across labels) or compact' }),
  colormap: opt<string>({ kind: 'string', default: 'coolwarm', metavar: 'NAME', help: "diverging colormap of edges and node label shares (the reference's coolwarm; RdBu, bwr, seismic, PiYG, PRGn, BrBG, PuOr, RdGy, RdYlBu, RdYlGn, Spectral, _r)" }),
  spearmanOrientation: opt<'ours' | 'upstream'>({ kind: 'choice', default: 'ours', choices: ['ours', 'upstream'], help: "Spearman edge i→j carries ρ(l_i, (l+1)_j) (ours) or the reference's transposed ρ(l_j, (l+1)_i)" }),
  svdSolver: opt<'exact' | 'randomized'>({ kind: 'choice', default: 'exact', choices: ['exact', 'randomized'], help: "SVD reduction: exact (the reference's result) or randomized (scikit-learn TruncatedSVD's default)" }),
  probeComponents: opt<number | undefined>({ kind: 'int', default: undefined, min: 1, metavar: 'N', defaultText: 'none', help: "probing: reduce both feature sets to N components first (the reference's n_components)" }),
  splits: opt<number>({ kind: 'int', default: 5, min: 1, metavar: 'N', help: 'probing: stratified shuffle splits' }),
  testSize: opt<number>({ kind: 'number', default: 0.3, min: 0, max: 1, metavar: 'F', help: 'probing: test fraction' }),
  splitSeed: opt<number>({ kind: 'int', default: 42, min: 0, metavar: 'S', help: 'probing: split seed' }),
  batchSize: BATCH_SIZE,
  maxLength: MAX_LENGTH,
});
