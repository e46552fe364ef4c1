/** Parameters of a generated tiny checkpoint, loaded through the real checkpoint reader (test helper). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeTinyCheckpoint, type TinyCheckpointOptions } from '../../src/model/tiny-checkpoint.ts';
import { openCheckpoint } from '../../src/model/checkpoint.ts';
import { ParamStore } from '../../src/params/param-store.ts';

export function tinyStore(opts: TinyCheckpointOptions): ParamStore<Float32Array> {
  const dir = mkdtempSync(join(tmpdir(), 'atlas-tiny-store-'));
  try {
    writeTinyCheckpoint(dir, opts);
    const ckpt = openCheckpoint(dir);
    const store = ParamStore.fromCheckpoint(ckpt);
    ckpt.close();
    return store;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
