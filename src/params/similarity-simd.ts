/**
 * WebAssembly SIMD version of the similarity kernel (similarity-kernel.ts) for 2-4 models and an even column
 * count: per 2 columns and a run of at most 8 rows, the m squared norms and m(m−1)/2 pair products are summed
 * in float64x2 registers (float32 values widened: a float32 product is exact in float64, so the sums are as
 * exact as the JS loop's, only their order differs), then added into float64 slots in memory. The JS loop
 * converts and bounds-checks every value; this one measured ~3× it on this machine. Rows are read straight
 * into the module's memory (`inputs`), so nothing is copied.
 *
 * Memory: m input blocks of `cap` floats each, then the float64 sums slot-major (slot s, column j at
 * s · cols + j; `addInto` interleaves them into the caller's S · cols accumulator). The module is generated
 * here, byte by byte, for each m (no toolchain needed): one function acc(rows, cols, inBase, stride, accBase),
 * byte addresses.
 */
import { slotsPerColumn } from './similarity-kernel.ts';

const ROWS = 8; // float32 partial sums over at most this many rows, then float64

const u = (n: number): number[] => {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n) b |= 0x80;
    out.push(b);
  } while (n);
  return out;
};
const s32 = (n: number): number[] => {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(b & 0x40)) || (n === -1 && b & 0x40)) return [...out, b];
    out.push(b | 0x80);
  }
};
const vec = (items: number[][]): number[] => [...u(items.length), ...items.flat()];
const section = (id: number, body: number[]): number[] => [id, ...u(body.length), ...body];
const str = (s: string): number[] => [...u(s.length), ...[...s].map((c) => c.charCodeAt(0))];

// opcodes
const get = (i: number) => [0x20, ...u(i)], set = (i: number) => [0x21, ...u(i)];
const i32 = (n: number) => [0x41, ...s32(n)];
const ADD = 0x6a, SUB = 0x6b, MUL = 0x6c, SHL = 0x74, GE_U = 0x4f, GT_U = 0x4b, SELECT = 0x1b, END = 0x0b;
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40];
const brIf = (d: number) => [0x0d, ...u(d)], br = (d: number) => [0x0c, ...u(d)];
const simd = (op: number) => [0xfd, ...u(op)];
const load = (offset: number) => [...simd(0x00), 3, ...u(offset)], store = (offset: number) => [...simd(0x0b), 3, ...u(offset)];
const ZERO = [...simd(0x0c), ...new Array(16).fill(0)];
const F64X2_ADD = simd(0xf0), F64X2_MUL = simd(0xf2), PROMOTE_LOW = simd(0x5f);
const LOAD64_ZERO = [...simd(0x5d), 3, 0];

function moduleBytes(m: number): Uint8Array<ArrayBuffer> {
  const S = slotsPerColumn(m);
  const [ROWS_, COLS, IN, STRIDE, ACC] = [0, 1, 2, 3, 4]; // parameters
  const [R, J, I, P, RB, ROWB, Q] = [5, 6, 7, 8, 9, 10, 11]; // i32 locals
  const OFF = 12; // OFF + k: k · stride
  const SUM = OFF + m; // v128 locals: SUM + s: slot s's float64x2 sums
  const X = SUM + S; // X + k: model k's two values, float64
  const pairs: [number, number][] = [];
  for (let a = 0; a < m; a++) for (let b = a + 1; b < m; b++) pairs.push([a, b]);
  // sums[s] += x_a · x_b (float32 · float32 is exact in float64)
  const slot = (s: number, a: number, b: number): number[] => [...get(SUM + s), ...get(X + a), ...get(X + b), ...F64X2_MUL, ...F64X2_ADD, ...set(SUM + s)];
  const code: number[] = [
    ...get(COLS), ...i32(2), SHL, ...set(ROWB),
    ...Array.from({ length: m }, (_, k) => [...get(STRIDE), ...i32(k), MUL, ...set(OFF + k)]).flat(),
    ...i32(0), ...set(R),
    ...BLOCK, ...LOOP,
    ...get(R), ...get(ROWS_), GE_U, ...brIf(1),
    // rb = min(ROWS, rows − r)
    ...i32(ROWS), ...get(ROWS_), ...get(R), SUB, ...get(ROWS_), ...get(R), SUB, ...i32(ROWS), GT_U, SELECT, ...set(RB),
    ...i32(0), ...set(J),
    ...BLOCK, ...LOOP,
    ...get(J), ...get(COLS), GE_U, ...brIf(1),
    ...Array.from({ length: S }, (_, s) => [...ZERO, ...set(SUM + s)]).flat(),
    ...get(IN), ...get(R), ...get(COLS), MUL, ...get(J), ADD, ...i32(2), SHL, ADD, ...set(P),
    ...i32(0), ...set(I),
    ...BLOCK, ...LOOP,
    ...get(I), ...get(RB), GE_U, ...brIf(1),
    ...Array.from({ length: m }, (_, k) => [...get(P), ...get(OFF + k), ADD, ...LOAD64_ZERO, ...PROMOTE_LOW, ...set(X + k)]).flat(),
    ...Array.from({ length: m }, (_, k) => slot(k, k, k)).flat(),
    ...pairs.map(([a, b], t) => slot(m + t, a, b)).flat(),
    ...get(P), ...get(ROWB), ADD, ...set(P),
    ...get(I), ...i32(1), ADD, ...set(I),
    ...br(0), END, END,
    // slot s, columns j and j + 1 at accBase + (s · cols + j) · 8
    ...Array.from({ length: S }, (_, s) => [
      ...get(ACC), ...i32(s), ...get(COLS), MUL, ...get(J), ADD, ...i32(3), SHL, ADD, ...set(Q),
      ...get(Q), ...get(Q), ...load(0), ...get(SUM + s), ...F64X2_ADD, ...store(0),
    ]).flat(),
    ...get(J), ...i32(2), ADD, ...set(J),
    ...br(0), END, END,
    ...get(R), ...i32(ROWS), ADD, ...set(R),
    ...br(0), END, END,
    END,
  ];
  const locals = vec([[...u(7 + m), 0x7f], [...u(S + m), 0x7b]]);
  const body = [...locals, ...code];
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, vec([[0x60, ...vec([[0x7f], [0x7f], [0x7f], [0x7f], [0x7f]]), 0x00]])), // (i32 × 5) → ()
    ...section(2, vec([[...str('e'), ...str('m'), 0x02, 0x00, 0x01]])), // imported memory e.m, ≥ 1 page
    ...section(3, vec([[0x00]])),
    ...section(7, vec([[...str('acc'), 0x00, 0x00]])),
    ...section(10, vec([[...u(body.length), ...body]])),
  ]);
}

const compiled = new Map<number, WebAssembly.Module | null>();

function moduleFor(m: number): WebAssembly.Module | null {
  if (!compiled.has(m)) {
    const bytes = moduleBytes(m);
    compiled.set(m, WebAssembly.validate(bytes) ? new WebAssembly.Module(bytes) : null);
  }
  return compiled.get(m)!;
}

/** One thread's SIMD kernel for m models (its own memory); null where WebAssembly SIMD is unavailable. */
export class SimdKernel {
  private readonly memory = new WebAssembly.Memory({ initial: 1 });
  private readonly acc: (rows: number, cols: number, inBase: number, stride: number, accBase: number) => void;
  private cap = 0; // floats per input block
  private sumCols = 0;
  private views: Float32Array[] = [];
  private sums = new Float64Array(0);

  private constructor(readonly m: number, mod: WebAssembly.Module) {
    const inst = new WebAssembly.Instance(mod, { e: { m: this.memory } });
    this.acc = inst.exports.acc as SimdKernel['acc'];
  }

  static create(m: number): SimdKernel | null {
    if (m < 2 || m > 4) return null; // more models: more registers than x86 has (the JS loop serves)
    const mod = moduleFor(m);
    return mod ? new SimdKernel(m, mod) : null;
  }

  /** Whether a tensor of `cols` columns can use this kernel. */
  static fits(cols: number): boolean {
    return cols % 2 === 0 && cols > 0;
  }

  /** The m input blocks (each n · cols floats) to read rows into; valid until the next call. */
  inputs(n: number, cols: number): Float32Array[] {
    const need = n * cols;
    if (need > this.cap || cols > this.sumCols) {
      this.cap = Math.max(need, this.cap);
      this.sumCols = Math.max(cols, this.sumCols);
      const bytes = this.m * this.cap * 4 + slotsPerColumn(this.m) * this.sumCols * 8;
      const have = this.memory.buffer.byteLength;
      if (bytes > have) this.memory.grow(Math.ceil((bytes - have) / 65536));
    }
    // views made again only when the shape or the memory changes (not per chunk: less garbage)
    if (this.views.length === 0 || this.views[0].length !== need || this.views[0].buffer !== this.memory.buffer) {
      this.views = Array.from({ length: this.m }, (_, k) => new Float32Array(this.memory.buffer, k * this.cap * 4, need));
    }
    return this.views;
  }

  /** Adds the sums of the n rows in `inputs` to `out` (slotsPerColumn(m) · cols, interleaved per column). */
  addInto(n: number, cols: number, out: Float64Array): void {
    const S = slotsPerColumn(this.m);
    const base = this.m * this.cap * 4;
    if (this.sums.length !== S * cols || this.sums.byteOffset !== base || this.sums.buffer !== this.memory.buffer) {
      this.sums = new Float64Array(this.memory.buffer, base, S * cols);
    }
    const sums = this.sums;
    sums.fill(0);
    this.acc(n, cols, 0, this.cap * 4, base);
    for (let s = 0; s < S; s++) for (let j = 0, o = s * cols; j < cols; j++) out[S * j + s] += sums[o + j];
  }
}

const kernels = new Map<number, SimdKernel | null>();

/** This thread's SIMD kernel for m models (one memory per thread; null: the JS loop serves). */
export function simdKernel(m: number): SimdKernel | null {
  if (!kernels.has(m)) kernels.set(m, SimdKernel.create(m));
  return kernels.get(m)!;
}
