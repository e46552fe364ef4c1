import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { readShardPlan, shardDir, PLAN_TOKENS_DIR } from '../src/scale/plan.ts';
import { shardCacheDir, shardState } from '../src/scale/shard.ts';
import { mergePlan } from '../src/scale/merge.ts';
import { LENS_FILES } from '../src/data/lens-files.ts';
import { lensTokensPartPath } from '../src/data/lens.ts';
import { TOKEN_FILES } from '../src/data/token-cache.ts';
import { scaleFixture, extractFlags, cli, filesUnder, entryUnder, metaWithoutTime, type ScaleFixture } from './scale-fixture.ts';

let f: ScaleFixture;
let refEntry: string;

before(async () => {
  f = scaleFixture('atlas-scale-lens-');
  await cli(['extract', ...extractFlags(f, join(f.root, 'ref'), ['--lens', '--lens-k', '3'])]);
  refEntry = entryUnder(join(f.root, 'ref'));
});
after(() => rmSync(f.root, { recursive: true, force: true }));

const meta = (entry: string) => JSON.parse(readFileSync(join(entry, 'meta.json'), 'utf8')) as Record<string, unknown>;

/** Every file of the entry (lens files included) and of its token cache equal byte for byte; meta.json but for its time. */
function assertSameEntry(entry: string) {
  const want = filesUnder(refEntry);
  const got = filesUnder(entry);
  assert.deepEqual([...got.keys()].sort(), [...want.keys()].sort());
  for (const name of Object.values(LENS_FILES)) if (typeof name === 'string') assert.ok(want.has(name), `the reference has ${name}`);
  for (const [name, bytes] of want) if (name !== 'meta.json') assert.ok(bytes.equals(got.get(name)!), `${name} differs`);
  assert.deepEqual(metaWithoutTime(entry), metaWithoutTime(refEntry));
  const link = meta(refEntry).tokensDir as string;
  const wantTokens = filesUnder(resolve(refEntry, link));
  const gotTokens = filesUnder(resolve(entry, link));
  assert.deepEqual([...gotTokens.keys()].sort(), [...wantTokens.keys()].sort());
  for (const [name, bytes] of wantTokens) assert.ok(bytes.equals(gotTokens.get(name)!), `token cache ${name} differs`);
}

test('plan --lens → work → merge gives the single-process lens files and token cache byte for byte', async () => {
  const P = join(f.root, 'plan');
  const cache = join(f.root, 'cache');
  await cli(['plan', ...extractFlags(f, cache, ['--lens', '--lens-k', '3']), '--shards', '3', '--out', P]);
  const plan = readShardPlan(P);
  assert.deepEqual(plan.lens, { k: 3, layers: [0, 1, 2], position: 'final' });
  assert.ok(existsSync(join(P, PLAN_TOKENS_DIR, TOKEN_FILES.meta)), 'the plan keeps the token cache');
  assert.equal(existsSync(cache), false, 'plan writes nothing to the cache');
  for (const i of [0, 1, 2]) await cli(['work', P, '--shard', String(i)]);

  // A shard without its token texts is not finished (the merge could not name the lens tokens).
  const tokensPart = lensTokensPartPath(shardCacheDir(plan, shardDir(P, 1)));
  const saved = readFileSync(tokensPart);
  rmSync(tokensPart);
  assert.match(JSON.stringify(shardState(plan, P, 1)), /lens-tokens\.json is missing/);
  assert.throws(() => mergePlan(P), /shard 1 lens-tokens\.json is missing.*nothing was merged/);
  writeFileSync(tokensPart, saved);

  const m = mergePlan(P);
  assert.equal(m.cached, false);
  assertSameEntry(m.dir);
  assert.equal(meta(m.dir).lensFile, LENS_FILES.meta);

  // Into another cache root: the token cache is placed there too; without the plan's copy the field is dropped.
  const other = mergePlan(P, { cacheRoot: join(f.root, 'other') });
  assertSameEntry(other.dir);
  rmSync(join(P, PLAN_TOKENS_DIR), { recursive: true });
  const bare = mergePlan(P, { cacheRoot: join(f.root, 'bare') });
  assert.equal('tokensDir' in meta(bare.dir), false, 'meta.json names no token cache that is not there');
  assert.ok(filesUnder(bare.dir).get(LENS_FILES.entropy)!.equals(filesUnder(refEntry).get(LENS_FILES.entropy)!));
});
