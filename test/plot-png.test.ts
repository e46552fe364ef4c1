import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { fontStatus, heatmapSvg, lineSvg, savePlot, scatterSvg, svgToPng } from '../src/plot/index.ts';

interface Image {
  width: number;
  height: number;
  rgba: Uint8Array;
}

/** A minimal PNG decoder (8-bit RGBA or RGB, non-interlaced), independent of the renderer. */
function decodePng(bytes: Uint8Array): Image {
  const sig = [137, 80, 78, 71, 13, 10, 26, 10];
  assert.deepEqual([...bytes.subarray(0, 8)], sig, 'PNG signature');
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let off = 8;
  let width = 0;
  let height = 0;
  let colorType = -1;
  const idat: Uint8Array[] = [];
  while (off < bytes.length) {
    const len = dv.getUint32(off);
    const type = String.fromCharCode(...bytes.subarray(off + 4, off + 8));
    const data = bytes.subarray(off + 8, off + 8 + len);
    if (type === 'IHDR') {
      width = dv.getUint32(off + 8);
      height = dv.getUint32(off + 12);
      assert.equal(data[8], 8, 'bit depth 8');
      colorType = data[9]!;
      assert.equal(data[12], 0, 'not interlaced');
    } else if (type === 'IDAT') idat.push(data);
    else if (type === 'IEND') break;
    off += 12 + len;
  }
  const channels = colorType === 6 ? 4 : colorType === 2 ? 3 : 0;
  assert.ok(channels, `colour type ${colorType}`);
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  assert.equal(raw.length, height * (stride + 1));
  const out = new Uint8Array(width * height * 4);
  let prev = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = new Uint8Array(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)));
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? line[i - channels]! : 0;
      const b = prev[i]!;
      const c = i >= channels ? prev[i - channels]! : 0;
      let p: number;
      if (filter === 0) p = 0;
      else if (filter === 1) p = a;
      else if (filter === 2) p = b;
      else if (filter === 3) p = (a + b) >> 1;
      else {
        const pa = Math.abs(b - c);
        const pb = Math.abs(a - c);
        const pc = Math.abs(a + b - 2 * c);
        p = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      line[i] = (line[i]! + p) & 255;
    }
    for (let x = 0; x < width; x++) {
      for (let k = 0; k < 3; k++) out[(y * width + x) * 4 + k] = line[x * channels + k]!;
      out[(y * width + x) * 4 + 3] = channels === 4 ? line[x * channels + 3]! : 255;
    }
    prev = line;
  }
  return { width, height, rgba: out };
}

function darkPixelsIn(img: Image, x0: number, y0: number, x1: number, y1: number): number {
  let n = 0;
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) {
    const i = (y * img.width + x) * 4;
    if (img.rgba[i]! < 100 && img.rgba[i + 1]! < 100 && img.rgba[i + 2]! < 100) n++;
  }
  return n;
}

test('savePlot writes SVG and PNG atomically; PNG has the right size and real content', () => {
  const dir = mkdtempSync(join(tmpdir(), 'plot-png-'));
  try {
    const svg = scatterSvg({ x: [0, 1, 2, 3], y: [3, 1, 2, 0], labels: [0, 1, 0, 1], classNames: ['a', 'b'], title: 'Title', xLabel: 'x', yLabel: 'y', width: 400, height: 300 });
    const saved = savePlot(svg, join(dir, 'sub', 'fig'), { scale: 2 });
    assert.equal(readFileSync(saved.svgPath, 'utf8'), svg);
    assert.deepEqual(readdirSync(join(dir, 'sub')).sort(), ['fig.png', 'fig.svg'], 'no temp files left behind');
    const img = decodePng(readFileSync(saved.pngPath));
    assert.equal(img.width, 800);
    assert.equal(img.height, 600);
    // Corner is background white; point colours (Okabe-Ito blue #0072B2) occur; axes/text give dark pixels.
    assert.deepEqual([...img.rgba.subarray(0, 4)], [255, 255, 255, 255]);
    let blue = 0;
    for (let i = 0; i < img.rgba.length; i += 4) if (Math.abs(img.rgba[i]! - 0x00) < 40 && Math.abs(img.rgba[i + 1]! - 0x72) < 40 && Math.abs(img.rgba[i + 2]! - 0xb2) < 40) blue++;
    assert.ok(blue > 50, `blue point pixels: ${blue}`);
    assert.ok(darkPixelsIn(img, 0, 0, img.width, img.height) > 500, 'axes and text drawn');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('text is rendered when a font is found, and missing (no crash) without fonts', { skip: !fontStatus().found && 'no DejaVu font installed' }, () => {
  const svg = lineSvg({ series: [{ name: 's', x: [0, 1], y: [0, 1] }], title: 'TITLE TEXT HERE', width: 300, height: 200 });
  const withFont = decodePng(svgToPng(svg, { scale: 1 }));
  const noFont = decodePng(svgToPng(svg, { scale: 1, fontFiles: [] }));
  assert.equal(noFont.width, 300);
  // The title band (top 36 px) holds only the title text.
  assert.ok(darkPixelsIn(withFont, 0, 0, 300, 34) > 40, 'title drawn with the font');
  assert.equal(darkPixelsIn(noFont, 0, 0, 300, 34), 0, 'no glyphs without fonts');
});

test('heatmap PNG: cell colours match the colormap ends', () => {
  const svg = heatmapSvg({ values: [[0, 1]], colormap: 'viridis', cellSize: 40, colorbar: false, annotate: false });
  const img = decodePng(svgToPng(svg, { scale: 1 }));
  // Cells start at x = 12, y = 14 (no labels/title); sample their centres.
  const at = (x: number, y: number) => [...img.rgba.subarray((y * img.width + x) * 4, (y * img.width + x) * 4 + 3)];
  assert.deepEqual(at(32, 34), [0x44, 0x01, 0x54]);
  assert.deepEqual(at(72, 34), [0xfd, 0xe7, 0x25]);
});
