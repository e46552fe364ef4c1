import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { appendFileSync, cpSync, existsSync, readFileSync, rmSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { readShardPlan } from '../src/scale/plan.ts';
import { computeShard, loadPlanInputs, shardState, stagingFolders } from '../src/scale/shard.ts';
import { mergePlan } from '../src/scale/merge.ts';
import { AtlasError } from '../src/errors.ts';
import { scaleFixture, extractFlags, cli, filesUnder, entryUnder, metaWithoutTime, type ScaleFixture } from './scale-fixture.ts';

const run = promisify(execFile);
let f: ScaleFixture;
let refEntry: string;

before(async () => {
  f = scaleFixture('atlas-scale-plan-');
  await cli(['extract', ...extractFlags(f, join(f.root, 'ref'))]);
  refEntry = entryUnder(join(f.root, 'ref'));
});
after(() => rmSync(f.root, { recursive: true, force: true }));

/** Every array file equal byte for byte, meta.json equal but for its creation time. */
function assertSameEntry(entry: string) {
  const want = filesUnder(refEntry);
  const got = filesUnder(entry);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const [name, bytes] of want) if (name !== 'meta.json') assert.ok(bytes.equals(got.get(name)!), `${name} differs`);
  assert.deepEqual(metaWithoutTime(entry), metaWithoutTime(refEntry));
}

test('plan → work every shard → merge gives the single-process cache entry byte for byte; reruns and concurrent runs are safe', async () => {
  const P = join(f.root, 'plan-a');
  const cache = join(f.root, 'cache-a');
  await cli(['plan', ...extractFlags(f, cache), '--shards', '8', '--out', P]);
  const plan = readShardPlan(P);
  assert.equal(plan.shards.length, 8);
  assert.equal(plan.numBatches, 32);
  // Row ranges tile the length-sorted order without gaps.
  plan.shards.forEach((s, i) => assert.equal(s.rows[0], i === 0 ? 0 : plan.shards[i - 1].rows[1]));
  assert.equal(plan.shards[7].rows[1], 64);
  await cli(['work', P, '--shard', '0']);
  assert.equal(shardState(plan, P, 0).state, 'done');

  // The merge refuses, writing nothing, while shards are missing.
  assert.throws(() => mergePlan(P), (e: Error) => e instanceof AtlasError && /7 of 8 shards are not finished.*nothing was merged/.test(e.message));
  assert.equal(existsSync(cache), false);

  const inputs = await loadPlanInputs(plan, P);
  try {
    // Two runs of one shard at once: one puts its folder in place, the other keeps it.
    const both = await Promise.all([computeShard(plan, P, 3, inputs), computeShard(plan, P, 3, inputs)]);
    assert.deepEqual(both.map((r) => r.computed).sort(), [false, true]);
    assert.equal((await computeShard(plan, P, 0, inputs)).computed, false, 'a finished shard is not recomputed');
    for (const i of [1, 2, 4, 5, 6, 7]) await computeShard(plan, P, i, inputs);
  } finally {
    await inputs.model.release();
  }
  assert.deepEqual(stagingFolders(P), []);
  const m = mergePlan(P);
  assert.equal(m.cached, false);
  assertSameEntry(m.dir);
  assert.equal(mergePlan(P).cached, true);
});

test('local workers and the Slurm array script compute the same shards', async () => {
  const P = join(f.root, 'plan-b');
  const cache = join(f.root, 'cache-b');
  await cli(['plan', ...extractFlags(f, cache), '--shards', '4', '--out', P]);
  const sbatch = readFileSync(join(P, 'sbatch.sh'), 'utf8');
  assert.match(sbatch, /#SBATCH --array=0-3/);
  assert.match(sbatch, /work '.*plan-b' --shard "\$SLURM_ARRAY_TASK_ID"/);
  // What an array task does: run the script with the task id set.
  await run('bash', [join(P, 'sbatch.sh')], { env: { ...process.env, SLURM_ARRAY_TASK_ID: '2', LATENT_ATLAS_QUIET: '1' } });
  assert.equal(shardState(readShardPlan(P), P, 2).state, 'done');
  await cli(['work', P, '--workers', '2']);
  assertSameEntry(entryUnder(cache));
});

test('a plan made for another model or dataset version is refused by the workers', async () => {
  const model = join(f.root, 'model-v');
  const data = join(f.root, 'data-v.csv');
  cpSync(f.model, model, { recursive: true });
  cpSync(f.data, data);
  const flags = (m: string, d: string) => ['--model', m, '--data', d, '--batch-size', '2', '--threads', '1', '--cache', join(f.root, 'cache-v')];
  const pm = join(f.root, 'plan-m');
  const pd = join(f.root, 'plan-d');
  await cli(['plan', ...flags(model, f.data), '--shards', '2', '--out', pm]);
  await cli(['plan', ...flags(f.model, data), '--shards', '2', '--out', pd]);
  // The weights are replaced (new modification time): another model version.
  const later = new Date(Date.now() + 60_000);
  utimesSync(join(model, 'model.safetensors'), later, later);
  await assert.rejects(loadPlanInputs(readShardPlan(pm), pm), /model .* is not the version this plan was made for \(plan: .*, now: .*\)/);
  // The dataset gains a row.
  appendFileSync(data, '"one more text about the weather",weather\n');
  await assert.rejects(loadPlanInputs(readShardPlan(pd), pd), /dataset .*data-v\.csv changed since the plan was made/);
  assert.equal(existsSync(join(pm, 'shards')) || existsSync(join(pd, 'shards')), false, 'nothing was computed');
});

test('a shard folder written under another options hash is refused and nothing is merged', async () => {
  const mean = join(f.root, 'plan-mean');
  const fin = join(f.root, 'plan-final');
  const cache = join(f.root, 'cache-o');
  await cli(['plan', ...extractFlags(f, cache, ['--aggregate', 'mean']), '--shards', '2', '--out', mean]);
  await cli(['plan', ...extractFlags(f, cache), '--shards', '2', '--out', fin]);
  await cli(['work', mean, '--shard', '0']);
  await cli(['work', fin, '--shard', '1']);
  cpSync(join(mean, 'shards', 'shard-0'), join(fin, 'shards', 'shard-0'), { recursive: true });
  assert.throws(() => mergePlan(fin), (e: Error) => e instanceof AtlasError && /shard 0 was written with options hash [0-9a-f]+, the plan has [0-9a-f]+.*nothing was merged/.test(e.message));
  assert.equal(existsSync(cache), false);
});
