/** Defaults of the latent Fisher pipeline (runFisherPipeline, `latent-atlas fisher`): written once here. */
import { defineOptions, opt } from '../util/option-table.ts';
import { BATCH_SIZE, MAX_LENGTH, SEED } from '../data/defaults.ts';
import { EDGE_RULES, type EdgeRule } from './graph.ts';
import type { FisherMethod, FisherPoint } from './compute.ts';

export const FISHER_OPTIONS = defineOptions({
  metric: opt<'output-fisher' | 'attention-covariance'>({ kind: 'choice', default: 'output-fisher', choices: ['output-fisher', 'attention-covariance'], help: "output-fisher: Fisher information of the next-token distribution; attention-covariance: the seed-000 pipeline's attention-weighted value covariance" }),
  layer: opt<number>({ kind: 'int', default: -1, aliases: ['layers'], metavar: 'L', help: 'hidden layer 0..n_layer, negative counts from the end (-1 = last)' }),
  point: opt<FisherPoint>({ kind: 'choice', default: 'pre-norm', choices: ['pre-norm', 'post-norm'], help: "pre-norm: the last block's output, metric through the final norm; post-norm: HF's last hidden state (last layer only)" }),
  lambda: opt<number>({ kind: 'number', default: 1e-4, min: 0, metavar: 'X', help: 'regulariser λ of G = Jᵀ(diag p − ppᵀ)J + λI; 0 is refused when G is singular' }),
  method: opt<FisherMethod>({ kind: 'choice', default: 'exact', choices: ['exact', 'monte-carlo'], help: 'exact metric or Monte-Carlo estimate (--samples)' }),
  samples: opt<number>({ kind: 'int', default: 64, min: 1, metavar: 'N', help: 'Monte-Carlo draws per point' }),
  storage: opt<'auto' | 'dense' | 'factor'>({ kind: 'choice', default: 'auto', choices: ['auto', 'dense', 'factor'], help: 'auto: dense d×d up to d = 256, else a rank --rank factor' }),
  rank: opt<number>({ kind: 'int', default: 64, min: 1, metavar: 'R', help: 'rank of the factor storage' }),
  k: opt<number>({ kind: 'int', default: 10, min: 1, aliases: ['knn-k'], metavar: 'K', help: 'neighbours of the k-NN graphs' }),
  rule: opt<EdgeRule>({ kind: 'choice', default: 'mean', choices: EDGE_RULES, help: 'Fisher edge length (mean = sqrt(Δᵀ(G_i+G_j)/2 Δ))' }),
  candidates: opt<'euclidean' | 'fisher'>({ kind: 'choice', default: 'euclidean', choices: ['euclidean', 'fisher'], help: 'fisher: re-rank 3k Euclidean candidates by Fisher length' }),
  disconnected: opt<'error' | 'connect' | 'fill'>({ kind: 'choice', default: 'error', choices: ['error', 'connect', 'fill'], help: 'connect: join graph components by their closest pair, as Isomap; fill (the original): 1.1 × the largest finite distance' }),
  mds: opt<'classical' | 'smacof'>({ kind: 'choice', default: 'classical', choices: ['classical', 'smacof'], help: 'MDS of the geodesics' }),
  mdsInit: opt<'classical' | 'random'>({ kind: 'choice', default: 'classical', choices: ['classical', 'random'], help: "SMACOF start: one run from classical MDS, or random (the original: n_init 4, max_iter 300, seeded)" }),
  tsneMetric: opt<'euclidean' | 'cosine'>({ kind: 'choice', default: 'euclidean', choices: ['euclidean', 'cosine'], help: 't-SNE input metric (the original: cosine)' }),
  tsneInit: opt<'pca' | 'random'>({ kind: 'choice', default: 'pca', choices: ['pca', 'random'], help: 't-SNE initialisation (the original: random)' }),
  ellipses: opt<'pullback' | 'covariance'>({ kind: 'choice', default: 'pullback', choices: ['pullback', 'covariance'], help: 'pullback: level set of the pulled-back metric; covariance (the original): axes ∝ √eig(PᵀGP), 2.5 % of the MDS range' }),
  perplexity: opt<number | undefined>({ kind: 'number', default: undefined, min: 0, metavar: 'P', defaultText: 'min(30, (n − 1)/3)', help: 't-SNE perplexity; 0 skips t-SNE' }),
  seed: SEED,
  batchSize: BATCH_SIZE,
  maxLength: MAX_LENGTH,
  png: opt<boolean>({ kind: 'boolean', default: true, help: 'also write PNGs (--no-png: SVG only)' }),
  force: opt<boolean>({ kind: 'boolean', default: false, help: 'recompute every step' }),
});
