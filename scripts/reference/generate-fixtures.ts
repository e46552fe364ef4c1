/**
 * Regenerates the committed reference fixtures under test/fixtures/reference/ with the real reference tools
 * (Debian's python3 + numpy 1.24, scipy 1.10, scikit-learn 1.2, torch 1.13; see python.ts):
 *
 *   node --import tsx scripts/reference/generate-fixtures.ts
 *
 *   models/<name>/    tiny checkpoints (config.json + model.safetensors) written by OUR writer
 *   forward/<name>/   ids.npy, mask.npy (our inputs) and hidden.npy [nLayer+1, B, T, d] float64 from
 *                     hf_forward.py (torch float64 re-implementation of transformers' forward)
 *   torch/            state dicts written by REAL torch.save (zip, legacy, parameters) + expected values
 *   geometry/         scikit-learn / scipy / transcribed DADApy & umap outputs (geometry_fixtures.py)
 *   umap/             umap-learn 0.5.3 embeddings, seeds 0–2 (umap_fixtures.py)
 *
 * It also runs the torch.load check of our own pytorch_model.bin writer (check-torch-load.ts) and fails if
 * real torch disagrees. CI never runs this: it needs the Python packages.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeNpy } from '../../src/data/npy.ts';
import { loadConfig } from '../../src/model/config.ts';
import { REFERENCE_DIR, referenceUnavailable, runReference } from './python.ts';
import { TINY_MODELS, referenceInputs, writeReferenceModel } from './tiny-models.ts';
import { checkTorchLoad } from './check-torch-load.ts';

export const FIXTURE_ROOT = resolve(REFERENCE_DIR, '../../test/fixtures/reference');

async function main(): Promise<void> {
  const missing = referenceUnavailable();
  if (missing) throw new Error(`cannot generate reference fixtures: ${missing}`);
  rmSync(FIXTURE_ROOT, { recursive: true, force: true });
  mkdirSync(FIXTURE_ROOT, { recursive: true });

  for (const name of TINY_MODELS) {
    const modelDir = join(FIXTURE_ROOT, 'models', name);
    writeReferenceModel(name, modelDir);
    const cfg = loadConfig(modelDir);
    const { ids, mask, batch, seqLen } = referenceInputs(cfg.vocabSize);
    const fwdDir = join(FIXTURE_ROOT, 'forward', name);
    mkdirSync(fwdDir, { recursive: true });
    writeNpy(join(fwdDir, 'ids.npy'), ids, [batch, seqLen]);
    writeNpy(join(fwdDir, 'mask.npy'), mask, [batch, seqLen]);
    runReference('make_forward_fixture.py', [modelDir, fwdDir]);
    console.log(`forward fixture: ${name}`);
  }

  runReference('torch_io.py', ['write-fixture', join(FIXTURE_ROOT, 'torch')]);
  console.log('torch.save fixtures written');
  runReference('geometry_fixtures.py', [join(FIXTURE_ROOT, 'geometry')]);
  console.log('geometry fixtures written');
  runReference('umap_fixtures.py', [join(FIXTURE_ROOT, 'umap')]);
  console.log('umap fixtures written');

  const reports = checkTorchLoad();
  for (const r of reports) console.log(`torch.load ${r.bin}: ${r.tensors} tensors identical${r.problems.length ? `; PROBLEMS: ${r.problems.join('; ')}` : ''}`);
  if (reports.some((r) => r.problems.length)) process.exitCode = 1;
}

await main();
