import test from 'node:test';
import { layerSimilarity } from '../src/geometry/layer-similarity.ts';
import { assertRelClose, npyF64, npyMatrix } from './ref-fixtures.ts';

test('layer × layer RSA equals scipy spearmanr(pdist, pdist) and CKA equals Kornblith et al.\'s code (with tied distances)', async () => {
  const layers = [0, 1, 2].map((l) => npyMatrix('similarity', `layer-${l}.npy`));
  const res = await layerSimilarity({ layers: [0, 1, 2], rows: 40, readLayer: (l) => layers[l]! }, undefined, { measures: ['cka', 'cka_debiased', 'rsa'] });
  assertRelClose(res.matrices.rsa!, npyF64('similarity', 'rsa.npy'), 1e-12, 'rsa');
  assertRelClose(res.matrices.cka!, npyF64('similarity', 'cka.npy'), 1e-12, 'cka');
  assertRelClose(res.matrices.cka_debiased!, npyF64('similarity', 'cka_debiased.npy'), 1e-12, 'cka_debiased');
});
