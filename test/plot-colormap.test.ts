import { test } from 'node:test';
import assert from 'node:assert/strict';
import { colormapHex, colormapRgb, hexToRgb } from '../src/plot/colormap.ts';
import { categoricalColors, OKABE_ITO } from '../src/plot/palette.ts';

// Reference values from matplotlib's _cm_listed._viridis_data (floats in [0, 1]) and _cm._RdBu_data.
const to8 = (v: number[]) => v.map((c) => Math.round(c * 255));

test('viridis matches matplotlib at the ends and the middle', () => {
  assert.deepEqual(colormapRgb('viridis', 0).map(Math.round), to8([0.267004, 0.004874, 0.329415]));
  assert.deepEqual(colormapRgb('viridis', 1).map(Math.round), to8([0.993248, 0.906157, 0.143936]));
  // Entry 128 of 256 sits at t = 128/255.
  assert.deepEqual(colormapRgb('viridis', 128 / 255).map(Math.round), to8([0.127568, 0.566949, 0.550556]));
  assert.equal(colormapHex('viridis', 0), '#440154');
  assert.equal(colormapHex('viridis', 1), '#fde725');
  assert.equal(colormapHex('viridis', -3), '#440154', 'clamped below');
  assert.equal(colormapHex('viridis', 7), '#fde725', 'clamped above');
});

test('viridis is monotone in lightness (perceptual ordering is what makes it a sequential map)', () => {
  let prev = -1;
  for (let i = 0; i <= 64; i++) {
    const [r, g, b] = colormapRgb('viridis', i / 64);
    const luma = 0.2126 * r + 0.7152 * g + 0.0722 * b;
    assert.ok(luma > prev, `luma not increasing at ${i}`);
    prev = luma;
  }
});

test('RdBu and RdBu_r endpoints and centre match ColorBrewer/matplotlib', () => {
  assert.deepEqual(colormapRgb('RdBu', 0).map(Math.round), to8([0.403921568627, 0.0, 0.121568627451]));
  assert.deepEqual(colormapRgb('RdBu', 1).map(Math.round), to8([0.019607843137, 0.188235294118, 0.380392156863]));
  assert.equal(colormapHex('RdBu', 0.5), '#f7f7f7');
  assert.equal(colormapHex('RdBu_r', 0), '#053061');
  assert.equal(colormapHex('RdBu_r', 1), '#67001f');
  // Halfway between control colours 0 and 1 (t = 0.05) is their average.
  const a = hexToRgb('67001f');
  const b = hexToRgb('b2182b');
  assert.deepEqual(colormapRgb('RdBu', 0.05).map((v) => Math.round(v * 2) / 2), a.map((v, i) => (v + b[i]!) / 2));
});

test('categorical palette: Okabe-Ito up to 8, distinct colours for any count', () => {
  assert.deepEqual(categoricalColors(5), OKABE_ITO.slice(0, 5));
  for (const n of [1, 8, 9, 10, 11, 20, 21, 40, 100]) {
    const c = categoricalColors(n);
    assert.equal(c.length, n);
    assert.equal(new Set(c.map((s) => s.toLowerCase())).size, n, `duplicate colours for n=${n}`);
    for (const s of c) assert.match(s, /^#[0-9a-fA-F]{6}$/);
  }
});
