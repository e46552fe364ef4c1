/**
 * NumPy .npy files (format v1.0, v2.0 when the header exceeds 65535 bytes), written byte for byte as
 * `numpy.save` writes them (numpy ≥ 1.24, including 2.x): header dict with sorted keys, spare spaces for
 * in-place growth of the first axis, padded with spaces and a final '\n' so the data starts at a multiple of
 * 64 bytes. Little-endian, C order. Writes are atomic.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { AtlasError } from '../errors.ts';
import { writeFileAtomic } from './atomic.ts';
import { f16ToF32, f32ToF16 } from '../model/float16.ts';

export type NpyDType = '<f4' | '<f8' | '<i4' | '<f2';
export type NpyData = Float32Array | Float64Array | Int32Array | Uint16Array;

export interface NpyArray {
  dtype: NpyDType;
  shape: number[];
  /** '<f2' data is returned as the raw half-precision bit patterns (use `readNpyF32` for widened values). */
  data: NpyData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const ARRAY_ALIGN = 64;
/** numpy reserves room for the first axis to grow to this many digits (numpy/lib/format.py). */
const GROWTH_AXIS_MAX_DIGITS = 21;

const BYTES: Record<NpyDType, number> = { '<f4': 4, '<f8': 8, '<i4': 4, '<f2': 2 };

function defaultDType(data: NpyData): NpyDType {
  if (data instanceof Float32Array) return '<f4';
  if (data instanceof Float64Array) return '<f8';
  if (data instanceof Int32Array) return '<i4';
  return '<f2';
}

/** Python's repr of a tuple of ints: (), (3,), (3, 4). */
function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** The full header (magic, version, length, dict, padding) exactly as numpy.save writes it. */
export function npyHeader(dtype: NpyDType, shape: readonly number[]): Uint8Array {
  let dict = `{'descr': '${dtype}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) dict += ' '.repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  const hlen = dict.length + 1; // + the final '\n'
  for (const version of [1, 2]) {
    const lenBytes = version === 1 ? 2 : 4;
    const padlen = ARRAY_ALIGN - ((MAGIC.length + 2 + lenBytes + hlen) % ARRAY_ALIGN); // 64 when already aligned, like numpy
    const total = hlen + padlen;
    if (version === 1 && total > 0xffff) continue;
    const out = new Uint8Array(MAGIC.length + 2 + lenBytes + total);
    out.set(MAGIC, 0);
    out[6] = version;
    out[7] = 0;
    const view = new DataView(out.buffer);
    if (version === 1) view.setUint16(8, total, true);
    else view.setUint32(8, total, true);
    const start = MAGIC.length + 2 + lenBytes;
    for (let i = 0; i < dict.length; i++) out[start + i] = dict.charCodeAt(i); // header is pure ASCII
    out.fill(0x20, start + dict.length, out.length - 1);
    out[out.length - 1] = 0x0a;
    return out;
  }
  throw new Error('unreachable: npy header over 4 GiB');
}

/** Converts `data` to the bytes of `dtype`. Float32 → '<f2' rounds to nearest even; float ↔ float widen/narrow. */
function encode(data: NpyData, dtype: NpyDType, file: string): Uint8Array {
  const src = defaultDType(data);
  let out: NpyData;
  if (src === dtype) out = data;
  else if (dtype === '<f2' && data instanceof Float32Array) out = f32ToF16(data);
  else if (dtype === '<f2' && data instanceof Float64Array) out = f32ToF16(Float32Array.from(data));
  else if (dtype === '<f4' && (data instanceof Float64Array || data instanceof Int32Array)) out = Float32Array.from(data);
  else if (dtype === '<f8' && (data instanceof Float32Array || data instanceof Int32Array)) out = Float64Array.from(data);
  else if (dtype === '<f4' && data instanceof Uint16Array) out = f16ToF32(data);
  else if (dtype === '<f8' && data instanceof Uint16Array) out = Float64Array.from(f16ToF32(data));
  else throw new AtlasError(`cannot store ${data.constructor.name} as dtype ${dtype}`, { file, field: 'dtype' });
  // Typed arrays are in host byte order; every platform Node supports (x64, arm64) is little-endian.
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

export interface WriteNpyOptions {
  /** Stored dtype; default follows the array type (Uint16Array means float16 bit patterns). */
  dtype?: NpyDType;
}

/** Writes an array in C order as .npy, atomically. `shape` must multiply to `data.length`. */
export function writeNpy(path: string, data: NpyData, shape: readonly number[], opts: WriteNpyOptions = {}): void {
  const count = shape.reduce((a, b) => a * b, 1);
  if (shape.some((d) => !Number.isInteger(d) || d < 0) || count !== data.length) {
    throw new AtlasError(`shape (${shape.join(', ')}) does not match ${data.length} values`, { file: path, field: 'shape' });
  }
  const dtype = opts.dtype ?? defaultDType(data);
  writeFileAtomic(path, [npyHeader(dtype, shape), encode(data, dtype, path)]);
}

/** Parses the header dict numpy writes (a Python literal) for the three keys we need. */
function parseHeaderDict(text: string, file: string): { dtype: string; fortran: boolean; shape: number[] } {
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(text);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(text);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text);
  if (!descr || !fortran || !shape) {
    throw new AtlasError('not a valid .npy header (descr, fortran_order and shape expected)', { file, field: 'header' });
  }
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s.length > 0).map((s) => Number(s.replace(/L$/, '')));
  if (dims.some((d) => !Number.isInteger(d) || d < 0)) throw new AtlasError(`bad shape (${shape[1]})`, { file, field: 'shape' });
  return { dtype: descr[1], fortran: fortran[1] === 'True', shape: dims };
}

/** Reads a .npy file of dtype <f4, <f8, <i4 or <f2 (also |f2-style aliases '=' for little-endian hosts). */
export function readNpy(path: string): NpyArray {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new AtlasError('cannot open .npy file', { file: path, hint: (e as Error).message, cause: e });
  }
  try {
    const size = fstatSync(fd).size;
    const pre = new Uint8Array(12);
    const got = readSync(fd, pre, 0, 12, 0);
    if (got < 10 || MAGIC.some((b, i) => pre[i] !== b)) throw new AtlasError('not a .npy file (bad magic bytes)', { file: path });
    const major = pre[6];
    if (major < 1 || major > 3) throw new AtlasError(`unsupported .npy format version ${major}.${pre[7]}`, { file: path });
    const view = new DataView(pre.buffer);
    const lenBytes = major === 1 ? 2 : 4;
    const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
    const dataStart = 8 + lenBytes + hlen;
    const headerBytes = new Uint8Array(hlen);
    readSync(fd, headerBytes, 0, hlen, 8 + lenBytes);
    const { dtype: raw, fortran, shape } = parseHeaderDict(new TextDecoder().decode(headerBytes), path);
    const dtype = (raw.startsWith('=') ? `<${raw.slice(1)}` : raw) as NpyDType;
    if (!(dtype in BYTES)) {
      throw new AtlasError(`unsupported dtype '${raw}'`, { file: path, field: 'descr', hint: 'supported: <f4, <f8, <i4, <f2 (little-endian)' });
    }
    if (fortran) throw new AtlasError('Fortran-order arrays are not supported', { file: path, field: 'fortran_order', hint: 'save with np.ascontiguousarray(x)' });
    const count = shape.reduce((a, b) => a * b, 1);
    const nbytes = count * BYTES[dtype];
    if (size - dataStart < nbytes) {
      throw new AtlasError(`file is truncated: ${size - dataStart} data bytes for ${nbytes} expected`, { file: path });
    }
    const data =
      dtype === '<f4' ? new Float32Array(count) : dtype === '<f8' ? new Float64Array(count) : dtype === '<i4' ? new Int32Array(count) : new Uint16Array(count);
    const bytes = new Uint8Array(data.buffer);
    let off = 0;
    while (off < nbytes) {
      const n = readSync(fd, bytes, off, nbytes - off, dataStart + off);
      if (n === 0) throw new AtlasError('unexpected end of file', { file: path });
      off += n;
    }
    return { dtype, shape, data };
  } finally {
    closeSync(fd);
  }
}

/** Reads a floating-point .npy as float32 (float16 widened exactly, float64 rounded). */
export function readNpyF32(path: string): { shape: number[]; data: Float32Array } {
  const a = readNpy(path);
  if (a.dtype === '<i4') throw new AtlasError('expected a float array, found int32', { file: path, field: 'descr' });
  const data = a.data instanceof Float32Array ? a.data : a.data instanceof Uint16Array ? f16ToF32(a.data) : Float32Array.from(a.data);
  return { shape: a.shape, data };
}
