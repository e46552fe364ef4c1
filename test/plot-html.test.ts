import { test } from 'node:test';
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { heatmapHtml, htmlPage, jsonForScript, lineHtml, scatterHtml, scatterPayload } from '../src/plot/index.ts';
import { SCATTER_CORE_JS, SCATTER_UI_JS } from '../src/plot/scatter-client.ts';

const HOSTILE = `</script><script>alert(1)</script><img src=x onerror="alert(2)"> <!-- & \u2028 </SCRIPT >`;

/** The JSON payload of a page, read the way the browser does: the text between the tag and the first '</script'. */
function embeddedJson(html: string, id: string): unknown {
  const open = `<script type="application/json" id="${id}">`;
  const start = html.indexOf(open);
  assert.ok(start >= 0, `no data tag ${id}`);
  const body = html.slice(start + open.length);
  const end = body.search(/<\/script/i);
  return JSON.parse(body.slice(0, end));
}

test('jsonForScript: round-trips hostile strings and never contains < > &', () => {
  const value = { t: [HOSTILE, '<!--', ']]>', 'a&b'] };
  const s = jsonForScript(value);
  assert.ok(!/[<>&\u2028]/.test(s));
  assert.deepEqual(JSON.parse(s), value);
});

test('scatterHtml: self-contained, all points embedded, hostile text cannot break out', () => {
  const n = 1234;
  const points = Array.from({ length: n }, (_, i) => ({ x: i * 0.5, y: Math.sin(i), label: i % 4, text: i === 7 ? HOSTILE : `sentence ${i}` }));
  const html = scatterHtml({ points, classNames: ['a', 'b', HOSTILE, 'd'], title: HOSTILE });
  assert.ok(html.startsWith('<!DOCTYPE html>'));
  assert.ok(!/\bsrc=["']?https?:|<link\b|@import|url\(http/i.test(html.replace(/&lt;img src=x/g, '')), 'no external resources');
  assert.equal((html.match(/<script\b/gi) ?? []).length, 2, 'exactly the data tag and the code tag');
  assert.ok(!html.includes('<img'), 'the hostile <img> appears only escaped');
  const id = /<script type="application\/json" id="([^"]+)">/.exec(html)![1]!;
  const data = embeddedJson(html, id) as ReturnType<typeof scatterPayload>;
  assert.equal(data.x.length, n);
  assert.equal(data.text.length, n);
  assert.equal(data.text[7], HOSTILE);
  assert.equal(data.classNames[2], HOSTILE);
  assert.deepEqual(data.label.slice(0, 5), [0, 1, 2, 3, 0]);
  assert.ok(html.includes(`<title>${'&lt;/script&gt;'}`), 'title escaped');
});

test('scatterPayload: string labels become classes; 3D needs z everywhere; bad labels rejected', () => {
  const p = scatterPayload({ points: [{ x: 0, y: 0, label: 'cat', text: '' }, { x: 1, y: 1, label: 'dog', text: '' }, { x: 2, y: 2, label: 'cat', text: '' }] });
  assert.deepEqual(p.classNames, ['cat', 'dog']);
  assert.deepEqual(p.label, [0, 1, 0]);
  assert.equal(p.z, undefined);
  assert.throws(() => scatterPayload({ points: [{ x: 0, y: 0, z: 1, label: 0, text: '' }, { x: 0, y: 0, label: 0, text: '' }] }), /z/);
  assert.throws(() => scatterPayload({ points: [{ x: 0, y: 0, label: 3, text: '' }], classNames: ['a'] }), /label/);
  assert.throws(() => scatterPayload({ points: [{ x: NaN, y: 0, label: 0, text: '' }] }), /x/);
});

test('client code compiles; spatial-grid hover equals brute-force nearest', () => {
  new vm.Script(SCATTER_CORE_JS + SCATTER_UI_JS);
  const ctx = vm.createContext({});
  vm.runInContext(SCATTER_CORE_JS + ';this.C = LatentAtlasCore;', ctx);
  const C = ctx.C;
  let s = 12345;
  const rnd = () => ((s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const n = 20000;
  const px = new Float32Array(n);
  const py = new Float32Array(n);
  const visible = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    px[i] = rnd() * 900 - 50;
    py[i] = rnd() * 600 - 50;
    visible[i] = rnd() < 0.8 ? 1 : 0;
  }
  const grid = C.buildGrid(px, py, visible, 12);
  for (let q = 0; q < 2000; q++) {
    const qx = rnd() * 900 - 50;
    const qy = rnd() * 600 - 50;
    let best = -1;
    let bestD = 100;
    for (let i = 0; i < n; i++) {
      if (!visible[i]) continue;
      const d = (px[i]! - qx) ** 2 + (py[i]! - qy) ** 2;
      if (d < bestD || (d === bestD && i > best)) [best, bestD] = [i, d];
    }
    assert.equal(C.nearest(grid, qx, qy, 10), best);
  }
});

test('3D projection: rotation keeps distances, perspective shrinks with depth, depth order is far to near', () => {
  const ctx = vm.createContext({});
  vm.runInContext(SCATTER_CORE_JS + ';this.C = LatentAtlasCore;', ctx);
  const C = ctx.C;
  // Identity view: a point at z = 0 projects to focal/dist times its x, y (screen y flipped).
  assert.deepEqual([...C.project(0.5, 0.25, 0, 0, 0, 4, 400)], [50, -25, 4, 100]);
  // Yaw by 90°: +x moves along the view axis, so it projects to the centre.
  const p = C.project(1, 0, 0, Math.PI / 2, 0, 4, 400);
  assert.ok(Math.abs(p[0]) < 1e-9 && Math.abs(p[2] - 5) < 1e-9);
  // Rotation preserves the distance to the camera axis origin: recover camera-space z from depth and x, y from f.
  for (const [x, y, z, yaw, pitch] of [[0.3, -0.2, 0.9, 0.7, -0.4], [1, 1, 1, 2, 1.2]]) {
    const [sx, sy, depth, f] = C.project(x, y, z, yaw, pitch, 3, 100);
    const cx = sx / f;
    const cy = -sy / f;
    const cz = 3 - depth;
    assert.ok(Math.abs(cx * cx + cy * cy + cz * cz - (x * x + y * y + z * z)) < 1e-12);
  }
  assert.deepEqual([...C.depthOrder([1, 5, 3, 9], [1, 1, 1, 0])], [1, 2, 0]);
});

/** Just enough DOM to run the UI code: elements record listeners and children, the 2D context records arcs. */
function fakeDom() {
  const arcs: [number, number][] = [];
  const make = (): any => {
    const el: any = {
      style: {}, children: [] as any[], listeners: {} as Record<string, Function>, clientWidth: 800, offsetWidth: 120, offsetHeight: 40,
      classList: { toggle() {} },
      appendChild(c: any) { el.children.push(c); },
      addEventListener(t: string, f: Function) { el.listeners[t] = f; },
      set textContent(v: string) { el._text = v; el.children = []; },
      get textContent() { return el._text + el.children.map((c: any) => c.textContent).join('\n'); },
      _text: '',
    };
    return el;
  };
  const context = new Proxy({} as Record<string, unknown>, {
    get: (t, k) => (k === 'arc' ? (x: number, y: number) => arcs.push([x, y]) : k in t ? t[k as string] : () => {}),
    set: (t, k, v) => ((t[k as string] = v), true),
  });
  const canvas = make();
  canvas.getContext = () => context;
  const parts: Record<string, any> = { canvas, '.la-tip': make(), '.la-legend': make(), '.la-plot': make() };
  const root = make();
  root.querySelector = (sel: string) => parts[sel];
  const win = make();
  win.devicePixelRatio = 1;
  const document = { createElement: () => make() };
  return { arcs, root, parts, win, document };
}

function runUi(payload: unknown) {
  const dom = fakeDom();
  const ctx = vm.createContext({ window: dom.win, document: dom.document, requestAnimationFrame: (f: Function) => f(), Math, Map, Float32Array, Uint8Array, Object });
  vm.runInContext(SCATTER_CORE_JS + SCATTER_UI_JS, ctx);
  ctx.root = dom.root;
  ctx.data = payload;
  vm.runInContext('LatentAtlasScatter(root, data)', ctx);
  return dom;
}

test('UI (fake DOM), 2D: draws every point, hover shows the point text, legend toggles a class', () => {
  const points = Array.from({ length: 300 }, (_, i) => ({ x: i % 17, y: Math.floor(i / 17), label: i % 3, text: `text ${i}` }));
  const dom = runUi(scatterPayload({ points, classNames: ['a', 'b', 'c'] }));
  assert.equal(dom.arcs.length, 300);
  assert.equal(dom.parts['.la-legend'].children.length, 3);
  // First arc drawn is the first point of class 0, i.e. point 0.
  const [x0, y0] = dom.arcs[0]!;
  dom.parts.canvas.listeners.mousemove({ offsetX: x0 + 1, offsetY: y0 });
  const tip = dom.parts['.la-tip'];
  assert.equal(tip.style.display, 'block');
  assert.match(tip.textContent, /^a\ntext 0$/);
  dom.parts.canvas.listeners.mousemove({ offsetX: 2, offsetY: 2 });
  assert.equal(tip.style.display, 'none', 'nothing under the cursor in the margin');
  dom.arcs.length = 0;
  dom.parts['.la-legend'].children[1].listeners.click();
  assert.equal(dom.arcs.length, 200, 'class b hidden');
});

test('UI (fake DOM), 3D: draws every point once per frame, drag rotates, hover finds a point', () => {
  const points = Array.from({ length: 500 }, (_, i) => ({ x: Math.cos(i), y: Math.sin(i), z: (i % 50) / 50, label: i % 2, text: `p${i}` }));
  const dom = runUi(scatterPayload({ points }));
  assert.equal(dom.arcs.length, 500);
  const last = dom.arcs.at(-1)!;
  dom.parts.canvas.listeners.mousemove({ offsetX: last[0], offsetY: last[1] });
  assert.match(dom.parts['.la-tip'].textContent, /\np\d+$/);
  const before = dom.arcs.slice();
  dom.arcs.length = 0;
  dom.parts.canvas.listeners.mousedown({ offsetX: 100, offsetY: 100 });
  dom.parts.canvas.listeners.mousemove({ offsetX: 160, offsetY: 120 });
  assert.equal(dom.arcs.length, 500);
  assert.notDeepEqual(dom.arcs, before, 'rotation moved the points');
});

test('htmlPage, lineHtml, heatmapHtml: escaped headings, hover titles, no scripts needed', () => {
  const page = htmlPage({ title: HOSTILE, sections: [{ heading: HOSTILE, content: '<svg xmlns="http://www.w3.org/2000/svg"/>', caption: HOSTILE }] });
  assert.ok(!/<script/i.test(page) && !page.includes('<img'));
  const line = lineHtml({ series: [{ name: 'gpt2', x: [0, 1, 2], y: [3, 4, 5], yErr: [0.1, 0.1, 0.1] }], title: 'ID', xLabel: 'layer', yLabel: 'ID' });
  assert.equal((line.match(/<title>gpt2/g) ?? []).length, 3);
  assert.ok(line.includes('ID = 4 ± 0.1'));
  const heat = heatmapHtml({ values: [[1, 2], [3, 4]], cellTooltips: [['n=3\nthe cat', HOSTILE], ['x', 'y']] });
  assert.ok(heat.includes('<title>n=3\nthe cat</title>'));
  assert.ok(!/<script/i.test(heat) && !heat.includes('<img'));
  const heat2 = heatmapHtml({ values: [[1.5]], rowLabels: ['L1'], colLabels: ['L2'] });
  assert.ok(heat2.includes('<title>L1 × L2\n1.5</title>'));
});
