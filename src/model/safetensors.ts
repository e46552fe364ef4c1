/**
 * The safetensors format: 8-byte little-endian header length N, N bytes of JSON
 * `{name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?: {string: string}}`, then the byte buffer
 * (offsets are relative to its start). Tensors are read one at a time, straight from the file at their offset,
 * so a multi-GB checkpoint is never held in memory whole.
 */
import { closeSync, fstatSync, openSync, readSync, renameSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { AtlasError } from '../errors.ts';
import { type DType, type F32Tensor, bytesPerElement, numel } from './tensor.ts';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from './float16.ts';
import type { ScratchBuffer } from './scratch.ts';

export interface SafetensorsEntry {
  name: string;
  dtype: DType;
  shape: number[];
  /** Absolute byte range in the file. */
  begin: number;
  end: number;
}

const DTYPES: Record<string, DType> = {
  F64: 'F64', F32: 'F32', F16: 'F16', BF16: 'BF16', I64: 'I64', I32: 'I32', I16: 'I16', I8: 'I8', U8: 'U8', BOOL: 'BOOL',
};

/** The safetensors reference implementation refuses headers above 100 MB; so do we (a corrupt length would otherwise allocate GBs). */
const MAX_HEADER_BYTES = 100_000_000;

/** Reads exactly `length` bytes at `position` into `dst` (readSync may return short counts; reads >2 GiB are split). */
export function readExactly(fd: number, dst: Uint8Array, position: number, file: string): void {
  let done = 0;
  while (done < dst.length) {
    const chunk = Math.min(dst.length - done, 1 << 30);
    const n = readSync(fd, dst, done, chunk, position + done);
    if (n <= 0) throw new AtlasError(`file ended early: wanted ${dst.length} bytes at offset ${position}, got ${done}`, { file, hint: 'the file is truncated; download it again' });
    done += n;
  }
}

/** The stored dtypes readFloatsInto reads. */
export const isFloatDType = (d: DType): d is 'F32' | 'F16' | 'BF16' => d === 'F32' || d === 'F16' || d === 'BF16';

/**
 * Reads out.length elements of `dtype` at `position` into `out` as float32, with no second buffer: F32 bytes
 * go straight into it; F16 / BF16 bytes go into its upper half and are widened in place from the front
 * (element i's 4 bytes never reach a 2-byte source not yet read).
 */
export function readFloatsInto(fd: number, position: number, dtype: 'F32' | 'F16' | 'BF16', out: Float32Array, file: string): void {
  const count = out.length;
  const wide = dtype === 'F32';
  const bytes = new Uint8Array(out.buffer, out.byteOffset + (wide ? 0 : 2 * count), wide ? 4 * count : 2 * count);
  readExactly(fd, bytes, position, file);
  if (wide) return;
  const src = new Uint16Array(bytes.buffer, bytes.byteOffset, count);
  if (dtype === 'BF16') bf16ToF32(src, out);
  else f16ToF32(src, out);
}

/**
 * Decodes little-endian `dtype` bytes into float32. `bytes` must start at an offset aligned to the element size
 * (callers pass freshly allocated buffers).
 */
export function decodeToF32(bytes: Uint8Array, dtype: DType, count: number): Float32Array {
  const buf = bytes.buffer;
  const off = bytes.byteOffset;
  switch (dtype) {
    case 'F32': return new Float32Array(buf, off, count);
    case 'F16': return f16ToF32(new Uint16Array(buf, off, count));
    case 'BF16': return bf16ToF32(new Uint16Array(buf, off, count));
    case 'F64': return Float32Array.from(new Float64Array(buf, off, count));
    case 'I64': return Float32Array.from(new BigInt64Array(buf, off, count), (v) => Number(v));
    case 'I32': return Float32Array.from(new Int32Array(buf, off, count));
    case 'I16': return Float32Array.from(new Int16Array(buf, off, count));
    case 'I8': return Float32Array.from(new Int8Array(buf, off, count));
    case 'U8': case 'BOOL': return Float32Array.from(new Uint8Array(buf, off, count));
  }
}

/** An open safetensors file: header parsed and validated, tensor data read on demand. */
export class SafetensorsFile {
  readonly path: string;
  readonly metadata: Record<string, string>;
  readonly entries: Map<string, SafetensorsEntry>;
  private fd: number | null;

  private constructor(path: string, fd: number, entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>) {
    this.path = path;
    this.fd = fd;
    this.entries = entries;
    this.metadata = metadata;
  }

  /** Opens and validates the header; throws AtlasError naming the file (and tensor) on any inconsistency. */
  static open(path: string): SafetensorsFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new AtlasError(`cannot open: ${(e as Error).message}`, { file: path, cause: e });
    }
    try {
      const { entries, metadata } = parseHeader(fd, path);
      return new SafetensorsFile(path, fd, entries, metadata);
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  entry(name: string): SafetensorsEntry {
    const e = this.entries.get(name);
    if (!e) throw new AtlasError(`no tensor named '${name}'`, { file: this.path, field: name });
    return e;
  }

  /** The stored bytes of one tensor, read from its offset only. */
  readBytes(name: string): Uint8Array {
    const e = this.entry(name);
    if (this.fd === null) throw new Error(`${this.path} is closed`);
    // A fresh ArrayBuffer (not Buffer's shared pool) so typed-array views over it are aligned.
    const bytes = new Uint8Array(e.end - e.begin);
    readExactly(this.fd, bytes, e.begin, this.path);
    return bytes;
  }

  /**
   * One tensor converted to float32. With `scratch` (F32 / F16 / BF16 tensors) the result is a view of the
   * scratch buffer, valid until its next use (readFloatsInto: nothing fresh is allocated per tensor).
   */
  read(name: string, scratch?: ScratchBuffer): F32Tensor {
    const e = this.entry(name);
    const count = numel(e.shape);
    if (scratch && isFloatDType(e.dtype)) {
      if (this.fd === null) throw new Error(`${this.path} is closed`);
      const out = scratch.f32(count);
      readFloatsInto(this.fd, e.begin, e.dtype, out, this.path);
      return { shape: [...e.shape], data: out };
    }
    return { shape: [...e.shape], data: decodeToF32(this.readBytes(name), e.dtype, count) };
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function parseHeader(fd: number, path: string): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string> } {
  const file = path;
  const size = fstatSync(fd).size;
  if (size < 8) throw new AtlasError(`truncated safetensors file: ${size} bytes, too short for the 8-byte header length`, { file });
  const lenBytes = new Uint8Array(8);
  readExactly(fd, lenBytes, 0, file);
  const headerLen = Number(new DataView(lenBytes.buffer).getBigUint64(0, true));
  if (headerLen > size - 8) {
    throw new AtlasError(`header length ${headerLen} is larger than the file (${size} bytes)`, { file, hint: 'the file is truncated or not a safetensors file' });
  }
  if (headerLen > MAX_HEADER_BYTES) throw new AtlasError(`header length ${headerLen} exceeds the 100 MB limit`, { file });
  const headerBytes = new Uint8Array(headerLen);
  readExactly(fd, headerBytes, 8, file);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new AtlasError(`header is not valid JSON: ${(e as Error).message}`, { file, hint: 'the file is corrupt or not a safetensors file' });
  }
  if (!header || typeof header !== 'object' || Array.isArray(header)) throw new AtlasError('header is not a JSON object', { file });
  const dataStart = 8 + headerLen;
  const dataLen = size - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (raw && typeof raw === 'object' && !Array.isArray(raw)) metadata = raw as Record<string, string>;
      continue;
    }
    const bad = (problem: string): AtlasError => new AtlasError(`tensor '${name}': ${problem}`, { file, field: name });
    if (!raw || typeof raw !== 'object') throw bad('header entry is not an object');
    const r = raw as Record<string, unknown>;
    const dtype = typeof r.dtype === 'string' ? DTYPES[r.dtype] : undefined;
    if (!dtype) throw bad(`unsupported dtype ${JSON.stringify(r.dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
    const shape = r.shape;
    if (!Array.isArray(shape) || !shape.every((s) => Number.isInteger(s) && s >= 0)) throw bad(`invalid shape ${JSON.stringify(shape)}`);
    const offs = r.data_offsets;
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((o) => Number.isInteger(o) && o >= 0)) {
      throw bad(`invalid data_offsets ${JSON.stringify(offs)}`);
    }
    const [b, e] = offs as number[];
    if (b > e) throw bad(`data_offsets [${b}, ${e}] are reversed`);
    if (e > dataLen) throw bad(`data_offsets [${b}, ${e}] run past the end of the data (${dataLen} bytes); the file is truncated or corrupt`);
    const want = numel(shape as number[]) * bytesPerElement(dtype);
    if (e - b !== want) throw bad(`data_offsets [${b}, ${e}] hold ${e - b} bytes but shape [${shape.join(', ')}] × ${dtype} needs ${want}`);
    entries.set(name, { name, dtype, shape: shape as number[], begin: dataStart + b, end: dataStart + e });
  }
  const sorted = [...entries.values()].filter((x) => x.end > x.begin).sort((x, y) => x.begin - y.begin);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i].begin < sorted[i - 1].end) {
      throw new AtlasError(`tensors '${sorted[i - 1].name}' and '${sorted[i].name}' have overlapping data_offsets`, { file, field: sorted[i].name, hint: 'the file is corrupt' });
    }
  }
  return { entries, metadata };
}

/** A tensor to write: in memory, or produced on demand so huge checkpoints never exist whole in memory. */
export type TensorSource = F32Tensor | { shape: number[]; produce: () => Float32Array };

export interface WriteSafetensorsOptions {
  /** Storage dtype. Default 'F32'. F16/BF16 round to nearest even. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** String→string pairs stored under `__metadata__` (HF writes {format: 'pt'}). Default {format: 'pt'}. */
  metadata?: Record<string, string>;
}

function produce(src: TensorSource): Float32Array {
  return 'data' in src ? src.data : src.produce();
}

/** Encodes float32 values as `dtype` little-endian bytes (a view, not a copy, for F32). */
export function encodeFromF32(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Uint8Array {
  const out = dtype === 'F32' ? values : dtype === 'F16' ? f32ToF16(values) : f32ToBf16(values);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/**
 * Writes a safetensors file atomically (a temporary file in the same folder, renamed into place), so a crash
 * never leaves a half-written checkpoint behind. Tensors are written in the order given.
 */
export function writeSafetensors(
  path: string,
  tensors: Iterable<[string, TensorSource]> | Record<string, TensorSource>,
  opts: WriteSafetensorsOptions = {},
): void {
  const dtype = opts.dtype ?? 'F32';
  const list: [string, TensorSource][] = Symbol.iterator in tensors ? [...(tensors as Iterable<[string, TensorSource]>)] : Object.entries(tensors);
  const header: Record<string, unknown> = { __metadata__: opts.metadata ?? { format: 'pt' } };
  let offset = 0;
  const elem = bytesPerElement(dtype);
  for (const [name, t] of list) {
    if (name in header) throw new Error(`writeSafetensors: duplicate tensor name '${name}'`);
    const bytes = numel(t.shape) * elem;
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - ((Buffer.byteLength(json) + 8) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const lenBytes = Buffer.alloc(8);
  lenBytes.writeBigUInt64LE(BigInt(headerBytes.length));
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(tmp, 'w');
  try {
    writeAll(fd, lenBytes);
    writeAll(fd, headerBytes);
    for (const [name, t] of list) {
      const values = produce(t);
      if (values.length !== numel(t.shape)) throw new Error(`writeSafetensors: tensor '${name}' has ${values.length} values but shape [${t.shape}]`);
      writeAll(fd, encodeFromF32(values, dtype));
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw e;
  }
}

export function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) done += writeSync(fd, bytes, done, Math.min(bytes.length - done, 1 << 30));
}
