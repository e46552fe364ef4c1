/**
 * Session files left by a killed process (issue 18: session files live in /dev/shm, i.e. memory): the next
 * session build removes folders whose owner pid is gone and keeps those of live processes and unrelated names.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeStaleSessionFiles } from '../src/model/runtime.ts';

test('removeStaleSessionFiles removes folders of dead processes only', () => {
  const root = mkdtempSync(join(tmpdir(), 'atlas-shm-'));
  try {
    // A pid that certainly ran and exited: a finished child's.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const names = {
      dead: `latent-atlas-session-${dead}-abc123`,
      live: `latent-atlas-session-${process.pid}-def456`,
      other: 'someone-elses-folder',
      noPid: 'latent-atlas-session-xyz',
    };
    for (const n of Object.values(names)) {
      mkdirSync(join(root, n));
      writeFileSync(join(root, n, 'model.onnx.data'), 'x');
    }
    assert.deepEqual(removeStaleSessionFiles(root), [names.dead]);
    assert.equal(existsSync(join(root, names.dead)), false);
    for (const n of [names.live, names.other, names.noPid]) assert.equal(existsSync(join(root, n)), true, n);
    assert.deepEqual(removeStaleSessionFiles(join(root, 'missing')), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
