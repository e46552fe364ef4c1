/**
 * Regenerates test/fixtures/hf-zoo/<case>/*.npy: the outputs of real PyTorch (Debian python3-torch, float64) on
 * the tiny checkpoints of test/reference/hf/torch-cases.ts, computed by hf_zoo.py (transformers' modelling code
 * re-written in torch). The checkpoints themselves are not committed: the test regenerates them from the seed.
 *
 *   node --import tsx scripts/reference/hf-zoo-fixtures.ts
 *
 * CI never runs this (it needs the Python packages); test/reference-hf.test.ts reads the fixtures.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { tinyHfCheckpoint, writeHfCheckpoint } from '../../test/reference/hf/checkpoints.ts';
import { TORCH_CASES } from '../../test/reference/hf/torch-cases.ts';
import { REFERENCE_DIR, REFERENCE_PYTHON, referenceEnv } from './python.ts';
import { spawnSync } from 'node:child_process';

const ROOT = resolve(REFERENCE_DIR, '../../test/fixtures/hf-zoo');

const check = spawnSync(REFERENCE_PYTHON, ['-c', 'import numpy, torch'], { env: referenceEnv(), encoding: 'utf8' });
if (check.status !== 0) throw new Error(`${REFERENCE_PYTHON} cannot import numpy / torch: apt-get install -y python3-torch`);
rmSync(ROOT, { recursive: true, force: true });
const tmp = mkdtempSync(join(tmpdir(), 'hf-zoo-'));
try {
  for (const c of TORCH_CASES) {
    const dir = join(tmp, c.name);
    writeHfCheckpoint(dir, tinyHfCheckpoint(c.family, c.opts), 'F32');
    writeFileSync(join(dir, 'case.json'), JSON.stringify({ family: c.family, ids: c.ids, mask: c.mask }));
    const out = join(ROOT, c.name);
    mkdirSync(out, { recursive: true });
    const r = spawnSync(REFERENCE_PYTHON, [join(REFERENCE_DIR, 'hf_zoo.py'), dir, out], { env: referenceEnv(), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`hf_zoo.py ${c.name} failed:\n${r.stderr}`);
    console.log(`hf-zoo fixture: ${c.name}`);
  }
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
