/**
 * Does real PyTorch read the pytorch_model.bin files our writer (src/model/torch-bin.ts) produces?
 * For gpt2 and llama (GQA) in F32, F16 and BF16, the same tiny model is written twice — torch-bin and
 * safetensors — and torch_io.py loads the .bin with `torch.load(map_location='cpu', weights_only=True)` and
 * compares every tensor bit for bit with the safetensors file (plus tied-weight storage sharing).
 *
 *   node --import tsx scripts/reference/check-torch-load.ts
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeTinyCheckpoint } from '../../src/model/tiny-checkpoint.ts';
import { runReference } from './python.ts';

export interface TorchLoadReport {
  bin: string;
  tensors: number;
  extraInBin: string[];
  tiedSharesStorage: boolean | null;
  problems: string[];
}

export function checkTorchLoad(): TorchLoadReport[] {
  const root = mkdtempSync(join(tmpdir(), 'atlas-torch-load-'));
  try {
    const pairs: string[] = [];
    for (const architecture of ['gpt2', 'llama'] as const) {
      for (const dtype of ['F32', 'F16', 'BF16'] as const) {
        const base = { architecture, seed: 7, dtype, nLayer: 2, ...(architecture === 'llama' ? { nKvHead: 2, qkvBias: true } : {}) };
        const binDir = join(root, `${architecture}-${dtype}-bin`);
        const stDir = join(root, `${architecture}-${dtype}-st`);
        writeTinyCheckpoint(binDir, { ...base, format: 'torch-bin' });
        writeTinyCheckpoint(stDir, { ...base, format: 'safetensors' });
        pairs.push(`${binDir}:${stDir}`);
      }
    }
    let out: string;
    try {
      out = runReference('torch_io.py', ['check-load', ...pairs]);
    } catch (e) {
      // exit 1 = mismatches; the JSON lines are still on stdout in the error message
      const text = (e as Error).message;
      out = text.split('\n').filter((l) => l.startsWith('{')).join('\n');
      if (!out) throw e;
    }
    return out.trim().split('\n').filter(Boolean).map((l) => {
      const r = JSON.parse(l) as TorchLoadReport;
      return { ...r, bin: r.bin.slice(root.length + 1) };
    });
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const reports = checkTorchLoad();
  for (const r of reports) console.log(JSON.stringify(r));
  if (reports.some((r) => r.problems.length)) process.exitCode = 1;
}
