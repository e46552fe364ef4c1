/**
 * A small WebGL scatter renderer: 2D (pan/zoom) and 3D (drag to rotate, orthographic), per-point class colours,
 * optional line layers (k-NN edges, metric ellipses), hover picking and box/lasso selection. Everything is in
 * one vertex buffer per layer, so 20,000 points redraw in well under a frame; picking is a linear scan over the
 * projected positions cached at each draw (20k distance checks ≈ 0.1 ms).
 *
 * Test hooks: the canvas carries data-points (points drawn), data-layers (drawn layers, comma-separated) and
 * data-renderer (webgl); `screenPosition(i)` gives a point's position in client pixels.
 */

export interface ScatterData {
  n: number;
  dim: 2 | 3;
  /** Row-major n × dim. */
  coords: Float32Array;
  /** Class index per point (-1: unlabelled). */
  labels: Int32Array;
  /** RGB in 0..1 per class. */
  palette: [number, number, number][];
}

export interface Ellipse {
  cx: number;
  cy: number;
  rx: number;
  ry: number;
  angle: number;
}

export interface ScatterLayers {
  /** Flat pairs of point indices. */
  edges?: number[] | null;
  ellipses?: Ellipse[] | null;
  showEdges?: boolean;
  showEllipses?: boolean;
}

export type DragMode = 'pan' | 'box' | 'lasso';

export interface ScatterEvents {
  onHover?(index: number | null, clientX: number, clientY: number): void;
  onSelect?(indices: number[]): void;
}

const VERT = `
attribute vec3 a_pos; attribute vec4 a_color;
uniform mat4 u_mvp; uniform float u_size;
varying vec4 v_color;
void main(){ gl_Position = u_mvp * vec4(a_pos, 1.0); gl_PointSize = u_size; v_color = a_color; }`;
const FRAG = `
precision mediump float; varying vec4 v_color; uniform float u_points;
void main(){
  if (u_points > 0.5) {
    vec2 d = gl_PointCoord * 2.0 - 1.0; float r = dot(d, d);
    if (r > 1.0) discard;
    gl_FragColor = vec4(v_color.rgb * (r > 0.6 ? 0.75 : 1.0), v_color.a);
  } else gl_FragColor = v_color;
}`;

const UNLABELLED: [number, number, number] = [0.45, 0.45, 0.45];
const ELLIPSE_SEGMENTS = 40;

export class ScatterGL {
  readonly canvas: HTMLCanvasElement;
  private gl: WebGLRenderingContext;
  private prog: WebGLProgram;
  private loc: { pos: number; color: number; mvp: WebGLUniformLocation; size: WebGLUniformLocation; points: WebGLUniformLocation };
  private buffers = { points: null as WebGLBuffer | null, edges: null as WebGLBuffer | null, ellipses: null as WebGLBuffer | null };
  private counts = { points: 0, edges: 0, ellipses: 0 };
  private data: ScatterData | null = null;
  private layers: ScatterLayers = {};
  private hidden = new Set<number>();
  private selected: Set<number> | null = null;
  private screen = new Float32Array(0);
  private center = [0, 0, 0];
  private extent = 1;
  /** Half ranges per axis (with a margin). */
  private half = [1, 1, 1];
  private view = { zoom: 1, panX: 0, panY: 0, yaw: 0.6, pitch: 0.35 };
  pointSize = 6;
  mode: DragMode = 'pan';
  private drag: { x: number; y: number; startX: number; startY: number; path: [number, number][] } | null = null;
  private selectionBox: HTMLDivElement;
  private lassoSvg: SVGSVGElement;
  private frame = 0;

  constructor(private host: HTMLElement, private events: ScatterEvents = {}) {
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'scatter-canvas';
    host.appendChild(this.canvas);
    const gl = this.canvas.getContext('webgl', { antialias: true, preserveDrawingBuffer: true, premultipliedAlpha: false });
    if (!gl) throw new Error('WebGL is not available in this browser');
    this.gl = gl;
    this.canvas.dataset.renderer = 'webgl';
    this.prog = this.program(VERT, FRAG);
    this.loc = {
      pos: gl.getAttribLocation(this.prog, 'a_pos'), color: gl.getAttribLocation(this.prog, 'a_color'),
      mvp: gl.getUniformLocation(this.prog, 'u_mvp')!, size: gl.getUniformLocation(this.prog, 'u_size')!, points: gl.getUniformLocation(this.prog, 'u_points')!,
    };
    this.selectionBox = document.createElement('div');
    this.selectionBox.className = 'selection-box';
    host.appendChild(this.selectionBox);
    this.lassoSvg = document.createElementNS('http://www.w3.org/2000/svg', 'svg');
    this.lassoSvg.setAttribute('class', 'lasso');
    host.appendChild(this.lassoSvg);
    this.bindEvents();
    new ResizeObserver(() => this.requestDraw()).observe(host);
  }

  private program(vs: string, fs: string): WebGLProgram {
    const gl = this.gl;
    const compile = (type: number, src: string) => {
      const s = gl.createShader(type)!;
      gl.shaderSource(s, src);
      gl.compileShader(s);
      if (!gl.getShaderParameter(s, gl.COMPILE_STATUS)) throw new Error(`shader: ${gl.getShaderInfoLog(s)}`);
      return s;
    };
    const p = gl.createProgram()!;
    gl.attachShader(p, compile(gl.VERTEX_SHADER, vs));
    gl.attachShader(p, compile(gl.FRAGMENT_SHADER, fs));
    gl.linkProgram(p);
    if (!gl.getProgramParameter(p, gl.LINK_STATUS)) throw new Error(`program: ${gl.getProgramInfoLog(p)}`);
    return p;
  }

  /** Replaces the points (and resets the view when `resetView`). */
  setData(d: ScatterData, resetView = true): void {
    this.data = d;
    this.selected = null;
    this.screen = new Float32Array(d.n * 2);
    if (resetView) this.fit();
    this.uploadPoints();
    this.uploadLayers();
    this.requestDraw();
  }

  setLayers(l: ScatterLayers): void {
    this.layers = { ...this.layers, ...l };
    this.uploadLayers();
    this.requestDraw();
  }

  setHiddenClasses(hidden: Set<number>): void {
    this.hidden = new Set(hidden);
    this.uploadPoints();
    this.uploadLayers();
    this.requestDraw();
  }

  setSelection(indices: number[] | null): void {
    this.selected = indices ? new Set(indices) : null;
    this.uploadPoints();
    this.requestDraw();
  }

  /** Fits the data into the view (zoom 1, centred) and, in 3D, restores the default rotation. */
  fit(): void {
    const d = this.data;
    if (!d) return;
    const lo = [Infinity, Infinity, Infinity];
    const hi = [-Infinity, -Infinity, -Infinity];
    for (let i = 0; i < d.n; i++) for (let a = 0; a < d.dim; a++) {
      const v = d.coords[i * d.dim + a];
      if (!Number.isFinite(v)) continue;
      if (v < lo[a]) lo[a] = v;
      if (v > hi[a]) hi[a] = v;
    }
    for (let a = 0; a < 3; a++) if (!(lo[a] <= hi[a])) lo[a] = hi[a] = 0;
    this.center = lo.map((v, a) => (v + hi[a]) / 2);
    this.half = hi.map((v, a) => Math.max(1e-12, ((v - lo[a]) / 2) * 1.08));
    this.extent = Math.max(...this.half);
    this.view = { zoom: 1, panX: 0, panY: 0, yaw: 0.6, pitch: 0.35 };
    this.requestDraw();
  }

  private colorOf(i: number): [number, number, number] {
    const l = this.data!.labels[i];
    return l >= 0 ? this.data!.palette[l % this.data!.palette.length] : UNLABELLED;
  }

  /** Shown: its class is not hidden and its coordinates are finite (NaN/Inf points are missing, not at 0). */
  private visible(i: number): boolean {
    const d = this.data!;
    for (let a = 0; a < d.dim; a++) if (!Number.isFinite(d.coords[i * d.dim + a])) return false;
    return !this.hidden.has(d.labels[i]);
  }

  /** Points not drawn because a coordinate is NaN/Inf. */
  missingCount(): number {
    const d = this.data;
    if (!d) return 0;
    let m = 0;
    for (let i = 0; i < d.n; i++) for (let a = 0; a < d.dim; a++) if (!Number.isFinite(d.coords[i * d.dim + a])) { m++; break; }
    return m;
  }

  private uploadPoints(): void {
    const d = this.data;
    if (!d) return;
    const buf = new Float32Array(d.n * 7);
    let m = 0;
    for (let i = 0; i < d.n; i++) {
      if (!this.visible(i)) continue;
      const [r, g, b] = this.colorOf(i);
      const o = m * 7;
      buf[o] = d.coords[i * d.dim];
      buf[o + 1] = d.coords[i * d.dim + 1];
      buf[o + 2] = d.dim === 3 ? d.coords[i * d.dim + 2] : 0;
      buf[o + 3] = r; buf[o + 4] = g; buf[o + 5] = b;
      buf[o + 6] = this.selected && !this.selected.has(i) ? 0.18 : 0.9;
      m++;
    }
    this.buffers.points = this.upload(this.buffers.points, buf.subarray(0, m * 7));
    this.counts.points = m;
  }

  private uploadLayers(): void {
    const d = this.data;
    if (!d) return;
    const z = (i: number) => (d.dim === 3 ? d.coords[i * d.dim + 2] : 0);
    const edges = this.layers.edges;
    if (edges && this.layers.showEdges) {
      const buf = new Float32Array(edges.length * 7);
      let m = 0;
      for (let e = 0; e + 1 < edges.length; e += 2) {
        const a = edges[e], b = edges[e + 1];
        if (a >= d.n || b >= d.n || !this.visible(a) || !this.visible(b)) continue;
        for (const i of [a, b]) {
          buf.set([d.coords[i * d.dim], d.coords[i * d.dim + 1], z(i), 0.45, 0.45, 0.45, 0.35], m * 7);
          m++;
        }
      }
      this.buffers.edges = this.upload(this.buffers.edges, buf.subarray(0, m * 7));
      this.counts.edges = m;
    } else this.counts.edges = 0;
    const ell = this.layers.ellipses;
    if (ell && this.layers.showEllipses) {
      const buf = new Float32Array(ell.length * ELLIPSE_SEGMENTS * 2 * 7);
      let m = 0;
      ell.forEach((e, i) => {
        if (i < d.n && !this.visible(i)) return;
        const [r, g, b] = i < d.n ? this.colorOf(i) : UNLABELLED;
        const ca = Math.cos(e.angle), sa = Math.sin(e.angle);
        const at = (t: number) => {
          const u = e.rx * Math.cos(t), v = e.ry * Math.sin(t);
          return [e.cx + u * ca - v * sa, e.cy + u * sa + v * ca];
        };
        for (let s = 0; s < ELLIPSE_SEGMENTS; s++) {
          for (const t of [s, s + 1]) {
            const [x, y] = at((2 * Math.PI * t) / ELLIPSE_SEGMENTS);
            buf.set([x, y, 0, r * 0.8, g * 0.8, b * 0.8, 0.8], m * 7);
            m++;
          }
        }
      });
      this.buffers.ellipses = this.upload(this.buffers.ellipses, buf.subarray(0, m * 7));
      this.counts.ellipses = m;
    } else this.counts.ellipses = 0;
  }

  private upload(buffer: WebGLBuffer | null, data: Float32Array): WebGLBuffer {
    const gl = this.gl;
    const b = buffer ?? gl.createBuffer()!;
    gl.bindBuffer(gl.ARRAY_BUFFER, b);
    gl.bufferData(gl.ARRAY_BUFFER, data, gl.STATIC_DRAW);
    return b;
  }

  /**
   * The affine map data → clip space, as a column-major 4 × 4 matrix: pixels per data unit k (equal aspect;
   * 2D fits both axes, 3D fits the largest), rotation R in 3D, and a pan in pixels.
   */
  private matrix(): Float32Array {
    const d = this.data;
    const w = this.canvas.clientWidth || 1, h = this.canvas.clientHeight || 1;
    const three = d !== null && d.dim === 3;
    const k = this.view.zoom * (three ? Math.min(w, h) / (2 * this.extent * 1.3) : Math.min(w / (2 * this.half[0]), h / (2 * this.half[1])));
    const sx = (2 * k) / w, sy = (2 * k) / h, sz = 0.25 / this.extent;
    // Rotation (3D only): yaw about y, then pitch about x; R = Rx·Ry, row-major.
    let R = [1, 0, 0, 0, 1, 0, 0, 0, 1];
    if (three) {
      const cy = Math.cos(this.view.yaw), syw = Math.sin(this.view.yaw), cp = Math.cos(this.view.pitch), sp = Math.sin(this.view.pitch);
      R = [cy, 0, syw, sp * syw, cp, -sp * cy, -cp * syw, sp, cp * cy];
    }
    const c = this.center;
    const rc = [0, 1, 2].map((r) => R[r * 3] * c[0] + R[r * 3 + 1] * c[1] + R[r * 3 + 2] * c[2]);
    // clip = S (R p − R c) + pan
    return new Float32Array([
      sx * R[0], sy * R[3], sz * R[6], 0,
      sx * R[1], sy * R[4], sz * R[7], 0,
      sx * R[2], sy * R[5], sz * R[8], 0,
      -sx * rc[0] + (2 * this.view.panX) / w, -sy * rc[1] + (2 * this.view.panY) / h, -sz * rc[2], 1,
    ]);
  }

  requestDraw(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.draw();
    });
  }

  /** Draws now (synchronously); also refreshes the cached screen positions used for picking. */
  draw(): void {
    const gl = this.gl;
    const dpr = window.devicePixelRatio || 1;
    const w = this.host.clientWidth, h = this.host.clientHeight;
    if (this.canvas.width !== Math.round(w * dpr) || this.canvas.height !== Math.round(h * dpr)) {
      this.canvas.width = Math.round(w * dpr);
      this.canvas.height = Math.round(h * dpr);
    }
    this.canvas.style.width = `${w}px`;
    this.canvas.style.height = `${h}px`;
    gl.viewport(0, 0, this.canvas.width, this.canvas.height);
    gl.clearColor(1, 1, 1, 1);
    gl.clear(gl.COLOR_BUFFER_BIT);
    gl.enable(gl.BLEND);
    gl.blendFunc(gl.SRC_ALPHA, gl.ONE_MINUS_SRC_ALPHA);
    gl.useProgram(this.prog);
    const mvp = this.matrix();
    gl.uniformMatrix4fv(this.loc.mvp, false, mvp);
    const drawn: string[] = [];
    const layer = (buf: WebGLBuffer | null, count: number, mode: number, points: boolean) => {
      if (!buf || count === 0) return;
      gl.bindBuffer(gl.ARRAY_BUFFER, buf);
      gl.enableVertexAttribArray(this.loc.pos);
      gl.vertexAttribPointer(this.loc.pos, 3, gl.FLOAT, false, 28, 0);
      gl.enableVertexAttribArray(this.loc.color);
      gl.vertexAttribPointer(this.loc.color, 4, gl.FLOAT, false, 28, 12);
      gl.uniform1f(this.loc.points, points ? 1 : 0);
      gl.uniform1f(this.loc.size, this.pointSize * dpr);
      gl.drawArrays(mode, 0, count);
    };
    layer(this.buffers.edges, this.counts.edges, gl.LINES, false);
    if (this.counts.edges) drawn.push('edges');
    layer(this.buffers.ellipses, this.counts.ellipses, gl.LINES, false);
    if (this.counts.ellipses) drawn.push('ellipses');
    layer(this.buffers.points, this.counts.points, gl.POINTS, true);
    if (this.counts.points) drawn.push('points');
    this.canvas.dataset.points = String(this.counts.points);
    this.canvas.dataset.layers = drawn.join(',');
    this.project(mvp, w, h);
  }

  private project(m: Float32Array, w: number, h: number): void {
    const d = this.data;
    if (!d) return;
    for (let i = 0; i < d.n; i++) {
      const x = d.coords[i * d.dim], y = d.coords[i * d.dim + 1], z = d.dim === 3 ? d.coords[i * d.dim + 2] : 0;
      const cx = m[0] * x + m[4] * y + m[8] * z + m[12];
      const cy = m[1] * x + m[5] * y + m[9] * z + m[13];
      this.screen[2 * i] = ((cx + 1) / 2) * w;
      this.screen[2 * i + 1] = ((1 - cy) / 2) * h;
    }
  }

  /** A point's position in client (viewport) pixels, for tests and tooltips. */
  screenPosition(i: number): [number, number] {
    const r = this.canvas.getBoundingClientRect();
    return [r.left + this.screen[2 * i], r.top + this.screen[2 * i + 1]];
  }

  /** The visible point nearest to canvas pixel (x, y) within `radius` px, or null. */
  pick(x: number, y: number, radius = 8): number | null {
    const d = this.data;
    if (!d) return null;
    let best = -1, bestD = radius * radius;
    for (let i = 0; i < d.n; i++) {
      if (!this.visible(i)) continue;
      const dx = this.screen[2 * i] - x, dy = this.screen[2 * i + 1] - y;
      const dd = dx * dx + dy * dy;
      if (dd <= bestD) { bestD = dd; best = i; }
    }
    return best >= 0 ? best : null;
  }

  private inside(test: (x: number, y: number) => boolean): number[] {
    const out: number[] = [];
    for (let i = 0; i < (this.data?.n ?? 0); i++) if (this.visible(i) && test(this.screen[2 * i], this.screen[2 * i + 1])) out.push(i);
    return out;
  }

  private bindEvents(): void {
    const c = this.canvas;
    const local = (e: MouseEvent): [number, number] => {
      const r = c.getBoundingClientRect();
      return [e.clientX - r.left, e.clientY - r.top];
    };
    c.addEventListener('pointerdown', (e) => {
      const [x, y] = local(e);
      this.drag = { x, y, startX: x, startY: y, path: [[x, y]] };
      c.setPointerCapture(e.pointerId);
      this.events.onHover?.(null, 0, 0);
    });
    c.addEventListener('pointermove', (e) => {
      const [x, y] = local(e);
      const dr = this.drag;
      if (!dr) {
        const i = this.pick(x, y);
        this.events.onHover?.(i, e.clientX, e.clientY);
        return;
      }
      const mode = e.shiftKey ? 'box' : this.mode;
      if (mode === 'pan') {
        if (this.data?.dim === 3 && !e.altKey) {
          this.view.yaw += (x - dr.x) * 0.01;
          this.view.pitch = Math.max(-1.5, Math.min(1.5, this.view.pitch + (y - dr.y) * 0.01));
        } else {
          this.view.panX += x - dr.x;
          this.view.panY -= y - dr.y;
        }
        this.requestDraw();
      } else if (mode === 'box') {
        const b = this.selectionBox.style;
        b.display = 'block';
        b.left = `${Math.min(x, dr.startX)}px`; b.top = `${Math.min(y, dr.startY)}px`;
        b.width = `${Math.abs(x - dr.startX)}px`; b.height = `${Math.abs(y - dr.startY)}px`;
      } else {
        dr.path.push([x, y]);
        this.lassoSvg.innerHTML = `<polyline points="${dr.path.map((p) => p.join(',')).join(' ')}"/>`;
      }
      dr.x = x;
      dr.y = y;
    });
    const end = (e: PointerEvent) => {
      const dr = this.drag;
      if (!dr) return;
      this.drag = null;
      const mode = e.shiftKey ? 'box' : this.mode;
      const moved = Math.abs(dr.x - dr.startX) + Math.abs(dr.y - dr.startY) > 3;
      if (mode === 'box' && moved) {
        const [x0, x1] = [Math.min(dr.x, dr.startX), Math.max(dr.x, dr.startX)];
        const [y0, y1] = [Math.min(dr.y, dr.startY), Math.max(dr.y, dr.startY)];
        this.events.onSelect?.(this.inside((x, y) => x >= x0 && x <= x1 && y >= y0 && y <= y1));
      } else if (mode === 'lasso' && dr.path.length > 2) {
        const poly = dr.path;
        this.events.onSelect?.(this.inside((x, y) => pointInPolygon(x, y, poly)));
      } else if (!moved && mode !== 'pan') this.events.onSelect?.([]);
      this.selectionBox.style.display = 'none';
      this.lassoSvg.innerHTML = '';
    };
    c.addEventListener('pointerup', end);
    c.addEventListener('pointercancel', end);
    c.addEventListener('pointerleave', () => { if (!this.drag) this.events.onHover?.(null, 0, 0); });
    c.addEventListener('wheel', (e) => {
      e.preventDefault();
      const [x, y] = local(e);
      // Keep the data point under the cursor fixed: its offset from the centre q = k·u + pan stays put.
      const qx = x - c.clientWidth / 2, qy = c.clientHeight / 2 - y;
      const f = Math.exp(-e.deltaY * 0.0015);
      const zoom = Math.max(0.05, Math.min(500, this.view.zoom * f));
      const g = zoom / this.view.zoom;
      this.view.panX = qx - (qx - this.view.panX) * g;
      this.view.panY = qy - (qy - this.view.panY) * g;
      this.view.zoom = zoom;
      this.requestDraw();
    }, { passive: false });
    c.addEventListener('dblclick', () => this.fit());
  }

  /** The current picture as a PNG data URL (the bare WebGL canvas). */
  toPng(): string {
    this.draw();
    return this.canvas.toDataURL('image/png');
  }

  /**
   * The exported PNG: the SVG export (title, legend, points, edges, ellipses as drawn) rasterised at the
   * screen's pixel ratio, so a saved figure says what it shows — the bare canvas has no title or legend.
   */
  async toPngFigure(title: string, classNames: string[]): Promise<string> {
    const svg = this.toSvg(title, classNames);
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight + 24;
    const img = new Image();
    img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svg)}`;
    await img.decode();
    const scale = window.devicePixelRatio || 1;
    const c = document.createElement('canvas');
    c.width = Math.round(w * scale);
    c.height = Math.round(h * scale);
    const g = c.getContext('2d')!;
    g.scale(scale, scale);
    g.drawImage(img, 0, 0, w, h);
    return c.toDataURL('image/png');
  }

  /** The current picture as an SVG document (points, edges and ellipses as drawn). */
  toSvg(title: string, classNames: string[]): string {
    this.draw();
    const d = this.data;
    const w = this.canvas.clientWidth, h = this.canvas.clientHeight;
    const hex = (c: [number, number, number]) => `#${c.map((v) => Math.round(v * 255).toString(16).padStart(2, '0')).join('')}`;
    const parts: string[] = [`<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h + 24}" viewBox="0 ${-24} ${w} ${h + 24}" font-family="DejaVu Sans, Arial, sans-serif">`,
      `<rect x="0" y="-24" width="${w}" height="${h + 24}" fill="#fff"/>`, `<text x="8" y="-7" font-size="14">${esc(title)}</text>`];
    if (d) {
      const sp = (i: number) => `${this.screen[2 * i].toFixed(1)},${this.screen[2 * i + 1].toFixed(1)}`;
      const e = this.layers.edges;
      if (e && this.layers.showEdges) {
        let path = '';
        for (let k = 0; k + 1 < e.length; k += 2) if (this.visible(e[k]) && this.visible(e[k + 1])) path += `M${sp(e[k])}L${sp(e[k + 1])}`;
        parts.push(`<path d="${path}" stroke="#737373" stroke-opacity="0.35" fill="none"/>`);
      }
      const m = this.matrix();
      const toScreen = (x: number, y: number) => `${(((m[0] * x + m[4] * y + m[12]) + 1) / 2 * w).toFixed(1)},${((1 - (m[1] * x + m[5] * y + m[13])) / 2 * h).toFixed(1)}`;
      const ell = this.layers.ellipses;
      if (ell && this.layers.showEllipses) ell.forEach((el, i) => {
        if (i < d.n && !this.visible(i)) return;
        const pts: string[] = [];
        for (let s = 0; s < ELLIPSE_SEGMENTS; s++) {
          const t = (2 * Math.PI * s) / ELLIPSE_SEGMENTS, u = el.rx * Math.cos(t), v = el.ry * Math.sin(t);
          pts.push(toScreen(el.cx + u * Math.cos(el.angle) - v * Math.sin(el.angle), el.cy + u * Math.sin(el.angle) + v * Math.cos(el.angle)));
        }
        parts.push(`<polygon points="${pts.join(' ')}" fill="none" stroke="${hex(i < d.n ? this.colorOf(i) : UNLABELLED)}" stroke-width="1"/>`);
      });
      for (let i = 0; i < d.n; i++) {
        if (!this.visible(i)) continue;
        parts.push(`<circle cx="${this.screen[2 * i].toFixed(1)}" cy="${this.screen[2 * i + 1].toFixed(1)}" r="${(this.pointSize / 2).toFixed(1)}" fill="${hex(this.colorOf(i))}" fill-opacity="${this.selected && !this.selected.has(i) ? 0.18 : 0.9}"/>`);
      }
      const shown = [...new Set(Array.from(d.labels))].filter((l) => l >= 0 && !this.hidden.has(l)).sort((a, b) => a - b);
      shown.forEach((l, k) => parts.push(`<circle cx="${w - 150}" cy="${16 + k * 18}" r="5" fill="${hex(d.palette[l % d.palette.length])}"/><text x="${w - 140}" y="${20 + k * 18}" font-size="12">${esc(classNames[l] ?? String(l))}</text>`));
    }
    parts.push('</svg>');
    return parts.join('\n');
  }
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
}

/** Even–odd ray casting. */
export function pointInPolygon(x: number, y: number, poly: [number, number][]): boolean {
  let inside = false;
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i], [xj, yj] = poly[j];
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}
