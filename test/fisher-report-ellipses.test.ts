import { test } from 'node:test';
import assert from 'node:assert/strict';
import { drawableEllipses, MAX_DRAWN_ELLIPSES } from '../src/fisher/report.ts';

test('issue 15.23: metric ellipses are thinned and scaled to the plot by one factor (no overplotted blot)', () => {
  const e = Array.from({ length: 400 }, (_, i) => ({ cx: i / 400, cy: 0, rx: 0.5, ry: 0.25, angle: 0 }));
  const r = drawableEllipses(e as never, null, 1);
  assert.ok(r.drawn <= MAX_DRAWN_ELLIPSES && r.drawn >= MAX_DRAWN_ELLIPSES / 2, `${r.drawn} drawn`);
  assert.ok(Math.abs(r.scale - 0.08) < 1e-12, 'median long axis 4 % of the extent');
  assert.ok(r.ellipses.every((x) => Math.abs(x.rx / x.ry - 2) < 1e-12), 'shapes kept');
  const small = drawableEllipses([{ cx: 0, cy: 0, rx: 0.001, ry: 0.001, angle: 0 }] as never, null, 1);
  assert.equal(small.scale, 1, 'small ellipses are not blown up');
});
