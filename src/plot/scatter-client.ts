/**
 * Browser code of the interactive scatter, shipped inline as strings (no bundler, no CDN). Plain ES2017 with no
 * template literals, so it can live in String.raw. SCATTER_CORE_JS holds the pure parts (spatial grid, nearest
 * point, 3D projection, ticks) that the tests run in node:vm; SCATTER_UI_JS the DOM/canvas code that uses them.
 */

export const SCATTER_CORE_JS = String.raw`
var LatentAtlasCore = (function () {
  'use strict';
  // Uniform grid over screen positions: hover lookup visits the 3x3 cells around the cursor instead of all
  // points, so 20,000 points hover at mouse-move rate.
  function buildGrid(px, py, visible, cell) {
    var map = new Map();
    for (var i = 0; i < px.length; i++) {
      if (!visible[i]) continue;
      var key = cellKey(Math.floor(px[i] / cell), Math.floor(py[i] / cell));
      var list = map.get(key);
      if (list) list.push(i); else map.set(key, [i]);
    }
    return { cell: cell, map: map, px: px, py: py };
  }
  function cellKey(gx, gy) { return (gx + 32768) * 65536 + (gy + 32768); }
  // Index of the point nearest to (qx, qy) within radius (<= cell size), or -1. Ties go to the later point,
  // the one drawn on top.
  function nearest(grid, qx, qy, radius) {
    var gx = Math.floor(qx / grid.cell), gy = Math.floor(qy / grid.cell);
    var best = -1, bestD = radius * radius;
    for (var dx = -1; dx <= 1; dx++) {
      for (var dy = -1; dy <= 1; dy++) {
        var list = grid.map.get(cellKey(gx + dx, gy + dy));
        if (!list) continue;
        for (var k = 0; k < list.length; k++) {
          var i = list[k];
          var ex = grid.px[i] - qx, ey = grid.py[i] - qy;
          var d = ex * ex + ey * ey;
          if (d < bestD || (d === bestD && i > best)) { bestD = d; best = i; }
        }
      }
    }
    return best;
  }
  // Rotates (x, y, z) by yaw about the vertical axis, then pitch about the horizontal one, and projects with
  // a pinhole camera at distance dist: returns [screen dx, screen dy (down), depth, perspective factor].
  function project(x, y, z, yaw, pitch, dist, focal) {
    var cy = Math.cos(yaw), sy = Math.sin(yaw), cp = Math.cos(pitch), sp = Math.sin(pitch);
    var x1 = cy * x + sy * z;
    var z1 = -sy * x + cy * z;
    var y2 = cp * y - sp * z1;
    var z2 = sp * y + cp * z1;
    var depth = dist - z2;
    var f = focal / depth;
    return [x1 * f, -y2 * f, depth, f];
  }
  // Indices of visible points ordered far to near (painter's algorithm).
  function depthOrder(depths, visible) {
    var idx = [];
    for (var i = 0; i < depths.length; i++) if (visible[i]) idx.push(i);
    idx.sort(function (a, b) { return depths[b] - depths[a]; });
    return idx;
  }
  function niceTicks(lo, hi, count) {
    if (!(hi > lo)) return [lo];
    var raw = (hi - lo) / count, p = Math.floor(Math.log10(raw)), base = Math.pow(10, p), e = raw / base;
    var step = (e >= Math.sqrt(50) ? 10 : e >= Math.sqrt(10) ? 5 : e >= Math.sqrt(2) ? 2 : 1) * base;
    var out = [];
    for (var k = Math.ceil(lo / step); k * step <= hi + step * 1e-9; k++) out.push(step < 1 ? k / Math.round(1 / step) : k * step);
    return out;
  }
  function formatTick(v, step) {
    var d = Math.max(0, Math.min(10, -Math.floor(Math.log10(step) + 1e-9)));
    var s = v.toFixed(d);
    return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
  }
  return { buildGrid: buildGrid, nearest: nearest, project: project, depthOrder: depthOrder, niceTicks: niceTicks, formatTick: formatTick };
})();
`;

export const SCATTER_UI_JS = String.raw`
var LatentAtlasScatter = LatentAtlasScatter || function (root, data) {
  'use strict';
  var C = LatentAtlasCore;
  var n = data.x.length, is3d = !!data.z;
  var canvas = root.querySelector('canvas'), ctx = canvas.getContext('2d');
  var tip = root.querySelector('.la-tip'), legendEl = root.querySelector('.la-legend');
  var visibleClass = data.classNames.map(function () { return true; });
  var visible = new Uint8Array(n), sx = new Float32Array(n), sy = new Float32Array(n);
  var W = 0, H = 0, dpr = 1, grid = null, hover = -1;
  var M = { left: 56, right: 16, top: 14, bottom: 40 };
  var r0 = data.pointRadius;

  function extent(a) { var lo = Infinity, hi = -Infinity; for (var i = 0; i < a.length; i++) { if (a[i] < lo) lo = a[i]; if (a[i] > hi) hi = a[i]; } if (!(hi > lo)) { lo -= 0.5; hi += 0.5; } return [lo, hi]; }
  var ex = extent(data.x), ey = extent(data.y), ez = is3d ? extent(data.z) : [0, 0];
  // 2D view: data window [vx0, vx1] x [vy0, vy1]; 3D view: yaw, pitch, zoom.
  var view = {};
  function resetView() {
    var px = (ex[1] - ex[0]) * 0.04, py = (ey[1] - ey[0]) * 0.04;
    view = { vx0: ex[0] - px, vx1: ex[1] + px, vy0: ey[0] - py, vy1: ey[1] + py, yaw: 0.6, pitch: 0.35, zoom: 1 };
  }
  resetView();
  // 3D: centre the cloud and scale it into the unit ball so the camera distance means the same for any data.
  var cx = (ex[0] + ex[1]) / 2, cy = (ey[0] + ey[1]) / 2, cz = (ez[0] + ez[1]) / 2, radius = 1e-12;
  if (is3d) for (var i = 0; i < n; i++) { var dx = data.x[i] - cx, dy = data.y[i] - cy, dz = data.z[i] - cz; radius = Math.max(radius, Math.sqrt(dx * dx + dy * dy + dz * dz)); }
  var depth = new Float32Array(n), persp = new Float32Array(n);
  var byClass = data.classNames.map(function () { return []; });
  for (var q = 0; q < n; q++) byClass[data.label[q]].push(q);

  function updateVisible() { for (var i = 0; i < n; i++) visible[i] = visibleClass[data.label[i]] ? 1 : 0; }
  function resize() {
    dpr = window.devicePixelRatio || 1;
    W = Math.max(200, root.querySelector('.la-plot').clientWidth); H = data.height;
    canvas.width = Math.round(W * dpr); canvas.height = Math.round(H * dpr);
    canvas.style.width = W + 'px'; canvas.style.height = H + 'px';
    draw();
  }
  function toX(v) { return M.left + (v - view.vx0) / (view.vx1 - view.vx0) * (W - M.left - M.right); }
  function toY(v) { return H - M.bottom - (v - view.vy0) / (view.vy1 - view.vy0) * (H - M.top - M.bottom); }
  function fromX(p) { return view.vx0 + (p - M.left) / (W - M.left - M.right) * (view.vx1 - view.vx0); }
  function fromY(p) { return view.vy0 + (H - M.bottom - p) / (H - M.top - M.bottom) * (view.vy1 - view.vy0); }

  function drawAxes2d() {
    ctx.strokeStyle = '#e6e6e6'; ctx.fillStyle = '#333'; ctx.lineWidth = 1; ctx.font = '11px sans-serif';
    var xt = C.niceTicks(view.vx0, view.vx1, 6), yt = C.niceTicks(view.vy0, view.vy1, 5);
    var xs = xt.length > 1 ? xt[1] - xt[0] : 1, ys = yt.length > 1 ? yt[1] - yt[0] : 1;
    ctx.beginPath();
    xt.forEach(function (t) { var p = Math.round(toX(t)) + 0.5; ctx.moveTo(p, M.top); ctx.lineTo(p, H - M.bottom); });
    yt.forEach(function (t) { var p = Math.round(toY(t)) + 0.5; ctx.moveTo(M.left, p); ctx.lineTo(W - M.right, p); });
    ctx.stroke();
    ctx.textAlign = 'center'; ctx.textBaseline = 'top';
    xt.forEach(function (t) { ctx.fillText(C.formatTick(t, xs), toX(t), H - M.bottom + 5); });
    ctx.textAlign = 'right'; ctx.textBaseline = 'middle';
    yt.forEach(function (t) { ctx.fillText(C.formatTick(t, ys), M.left - 5, toY(t)); });
    ctx.strokeStyle = '#333'; ctx.strokeRect(M.left + 0.5, M.top + 0.5, W - M.left - M.right, H - M.top - M.bottom);
    ctx.font = '13px sans-serif'; ctx.textAlign = 'center'; ctx.textBaseline = 'bottom';
    if (data.xLabel) ctx.fillText(data.xLabel, (M.left + W - M.right) / 2, H - 4);
    if (data.yLabel) { ctx.save(); ctx.translate(14, (M.top + H - M.bottom) / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = 'middle'; ctx.fillText(data.yLabel, 0, 0); ctx.restore(); }
  }

  function draw2d() {
    drawAxes2d();
    ctx.save(); ctx.beginPath(); ctx.rect(M.left, M.top, W - M.left - M.right, H - M.top - M.bottom); ctx.clip();
    for (var i = 0; i < n; i++) { sx[i] = toX(data.x[i]); sy[i] = toY(data.y[i]); }
    ctx.globalAlpha = data.opacity;
    var squares = n > 5000;
    // One path per class: a fill call per class instead of per point keeps 20,000 points fast.
    for (var c = 0; c < data.classNames.length; c++) {
      if (!visibleClass[c]) continue;
      ctx.fillStyle = data.colors[c]; ctx.beginPath();
      var members = byClass[c];
      for (var m = 0; m < members.length; m++) {
        var j = members[m];
        if (squares) ctx.rect(sx[j] - r0, sy[j] - r0, 2 * r0, 2 * r0);
        else { ctx.moveTo(sx[j] + r0, sy[j]); ctx.arc(sx[j], sy[j], r0, 0, 2 * Math.PI); }
      }
      ctx.fill();
    }
    ctx.globalAlpha = 1; ctx.restore();
  }

  function draw3d() {
    var focal = Math.min(W, H) * 0.9 * view.zoom, dist = 3.2, ox = W / 2, oy = H / 2;
    for (var i = 0; i < n; i++) {
      var p = C.project((data.x[i] - cx) / radius, (data.y[i] - cy) / radius, (data.z[i] - cz) / radius, view.yaw, view.pitch, dist, focal);
      sx[i] = ox + p[0]; sy[i] = oy + p[1]; depth[i] = p[2]; persp[i] = p[3];
    }
    // Orientation axes from the data centre, labelled with the axis names.
    var names = [data.xLabel || 'x', data.yLabel || 'y', data.zLabel || 'z'], axes = [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
    ctx.lineWidth = 1; ctx.font = '11px sans-serif'; ctx.fillStyle = '#666'; ctx.strokeStyle = '#999';
    var o = C.project(0, 0, 0, view.yaw, view.pitch, dist, focal);
    axes.forEach(function (a, k) {
      var q = C.project(a[0] * 0.5, a[1] * 0.5, a[2] * 0.5, view.yaw, view.pitch, dist, focal);
      ctx.beginPath(); ctx.moveTo(ox + o[0], oy + o[1]); ctx.lineTo(ox + q[0], oy + q[1]); ctx.stroke();
      ctx.fillText(names[k], ox + q[0] + 3, oy + q[1] - 3);
    });
    var order = C.depthOrder(depth, visible), f0 = focal / dist, last = '';
    ctx.globalAlpha = data.opacity;
    for (var k = 0; k < order.length; k++) {
      var j = order[k], col = data.colors[data.label[j]];
      if (col !== last) { ctx.fillStyle = col; last = col; }
      var r = Math.max(0.6, r0 * persp[j] / f0);
      ctx.beginPath(); ctx.arc(sx[j], sy[j], r, 0, 2 * Math.PI); ctx.fill();
    }
    ctx.globalAlpha = 1;
  }

  function draw() {
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.fillStyle = '#fff'; ctx.fillRect(0, 0, W, H);
    if (is3d) draw3d(); else draw2d();
    if (hover >= 0 && visible[hover]) {
      ctx.strokeStyle = '#000'; ctx.lineWidth = 2; ctx.beginPath(); ctx.arc(sx[hover], sy[hover], r0 + 3, 0, 2 * Math.PI); ctx.stroke();
    }
    grid = C.buildGrid(sx, sy, visible, 12);
  }

  function showTip(i, mx, my) {
    if (i < 0) { tip.style.display = 'none'; return; }
    tip.textContent = '';
    var head = document.createElement('b'); head.textContent = data.classNames[data.label[i]];
    var body = document.createElement('div'); body.textContent = data.text[i];
    tip.appendChild(head); tip.appendChild(body);
    tip.style.display = 'block';
    var left = mx + 14, top = my + 14;
    if (left + tip.offsetWidth > W) left = Math.max(0, mx - 14 - tip.offsetWidth);
    if (top + tip.offsetHeight > H) top = Math.max(0, my - 14 - tip.offsetHeight);
    tip.style.left = left + 'px'; tip.style.top = top + 'px';
  }

  var drag = null;
  canvas.addEventListener('mousedown', function (e) { drag = { x: e.offsetX, y: e.offsetY, view: Object.assign({}, view) }; });
  window.addEventListener('mouseup', function () { drag = null; });
  canvas.addEventListener('mousemove', function (e) {
    var mx = e.offsetX, my = e.offsetY;
    if (drag) {
      var ddx = mx - drag.x, ddy = my - drag.y;
      if (is3d) {
        view.yaw = drag.view.yaw + ddx * 0.01;
        view.pitch = Math.max(-1.55, Math.min(1.55, drag.view.pitch + ddy * 0.01));
      } else {
        var kx = (drag.view.vx1 - drag.view.vx0) / (W - M.left - M.right), ky = (drag.view.vy1 - drag.view.vy0) / (H - M.top - M.bottom);
        view.vx0 = drag.view.vx0 - ddx * kx; view.vx1 = drag.view.vx1 - ddx * kx;
        view.vy0 = drag.view.vy0 + ddy * ky; view.vy1 = drag.view.vy1 + ddy * ky;
      }
      hover = -1; showTip(-1); requestDraw(); return;
    }
    var h = grid ? C.nearest(grid, mx, my, 10) : -1;
    if (h !== hover) { hover = h; requestDraw(); }
    showTip(h, mx, my);
  });
  canvas.addEventListener('mouseleave', function () { hover = -1; showTip(-1); requestDraw(); });
  canvas.addEventListener('wheel', function (e) {
    e.preventDefault();
    var f = Math.exp(-e.deltaY * 0.0015);
    if (is3d) { view.zoom = Math.max(0.1, Math.min(50, view.zoom * f)); }
    else {
      // Zoom about the cursor: the data point under the mouse stays put.
      var ax = fromX(e.offsetX), ay = fromY(e.offsetY);
      view.vx0 = ax + (view.vx0 - ax) / f; view.vx1 = ax + (view.vx1 - ax) / f;
      view.vy0 = ay + (view.vy0 - ay) / f; view.vy1 = ay + (view.vy1 - ay) / f;
    }
    requestDraw();
  }, { passive: false });
  canvas.addEventListener('dblclick', function () { resetView(); requestDraw(); });

  var pending = false;
  function requestDraw() { if (pending) return; pending = true; requestAnimationFrame(function () { pending = false; draw(); }); }

  var counts = byClass.map(function (a) { return a.length; });
  data.classNames.forEach(function (name, c) {
    var item = document.createElement('div'); item.className = 'la-item'; item.title = 'click: show/hide';
    var sw = document.createElement('span'); sw.className = 'la-swatch'; sw.style.background = data.colors[c];
    var label = document.createElement('span'); label.textContent = name + ' (' + counts[c] + ')';
    item.appendChild(sw); item.appendChild(label);
    item.addEventListener('click', function () {
      visibleClass[c] = !visibleClass[c]; item.classList.toggle('la-off', !visibleClass[c]);
      updateVisible(); hover = -1; requestDraw();
    });
    legendEl.appendChild(item);
  });
  updateVisible();
  window.addEventListener('resize', resize);
  resize();
};
`;

export const SCATTER_CSS = `
.la-scatter{position:relative;font-family:"DejaVu Sans",Verdana,Arial,sans-serif}
.la-scatter .la-plot{position:relative}
.la-scatter canvas{display:block;cursor:crosshair}
.la-scatter .la-tip{position:absolute;display:none;pointer-events:none;background:rgba(255,255,255,.96);border:1px solid #999;border-radius:4px;padding:6px 8px;font-size:12px;max-width:360px;white-space:pre-wrap;word-break:break-word;box-shadow:0 2px 6px rgba(0,0,0,.15)}
.la-scatter .la-legend{display:flex;flex-wrap:wrap;gap:4px 14px;margin:8px 0 0;font-size:12px}
.la-scatter .la-item{cursor:pointer;user-select:none;display:flex;align-items:center;gap:5px}
.la-scatter .la-item.la-off{opacity:.35}
.la-scatter .la-swatch{display:inline-block;width:11px;height:11px;border-radius:50%}
.la-scatter .la-help{color:#666;font-size:11px;margin:4px 0 0}
`;
