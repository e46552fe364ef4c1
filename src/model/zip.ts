/**
 * Just enough of the ZIP format for PyTorch checkpoints (`torch.save` writes a zip of uncompressed entries):
 * a reader that parses the central directory (ZIP64 included, for checkpoints over 4 GB) and reads one entry's
 * bytes straight from its offset, and a writer that lays entries out the way PyTorch's writer does
 * (stored, data aligned to 64 bytes through an 'FB' padding extra field).
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';
import { AtlasError } from '../errors.ts';
import { readExactly, writeAll } from './safetensors.ts';

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflate. */
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

const EOCD_SIG = 0x06054b50;
const ZIP64_LOCATOR_SIG = 0x07064b50;
const ZIP64_EOCD_SIG = 0x06064b50;
const CENTRAL_SIG = 0x02014b50;
const LOCAL_SIG = 0x04034b50;

export class ZipReader {
  readonly path: string;
  readonly entries: Map<string, ZipEntry>;
  private fd: number | null;
  private dataOffsets = new Map<string, number>();

  private constructor(path: string, fd: number, entries: Map<string, ZipEntry>) {
    this.path = path;
    this.fd = fd;
    this.entries = entries;
  }

  static open(path: string): ZipReader {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new AtlasError(`cannot open: ${(e as Error).message}`, { file: path, cause: e });
    }
    try {
      return new ZipReader(path, fd, readCentralDirectory(fd, path));
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  private handle(): number {
    if (this.fd === null) throw new Error(`${this.path} is closed`);
    return this.fd;
  }

  entry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new AtlasError(`archive has no entry '${name}'`, { file: this.path, hint: 'the checkpoint is incomplete or corrupt' });
    return e;
  }

  /** Absolute file offset of an entry's (possibly compressed) data; the local header's extra field can differ from the central one. */
  dataOffset(name: string): number {
    const cached = this.dataOffsets.get(name);
    if (cached !== undefined) return cached;
    const e = this.entry(name);
    const h = new Uint8Array(30);
    readExactly(this.handle(), h, e.localHeaderOffset, this.path);
    const v = new DataView(h.buffer);
    if (v.getUint32(0, true) !== LOCAL_SIG) throw new AtlasError(`corrupt zip: no local header for '${name}'`, { file: this.path });
    const off = e.localHeaderOffset + 30 + v.getUint16(26, true) + v.getUint16(28, true);
    this.dataOffsets.set(name, off);
    return off;
  }

  /**
   * Reads `length` uncompressed bytes of an entry starting at byte `start` into a fresh (aligned) buffer.
   * Stored entries are read directly from that range; deflated ones are inflated whole first.
   */
  read(name: string, start = 0, length?: number): Uint8Array {
    const e = this.entry(name);
    const len = length ?? e.size - start;
    if (start < 0 || start + len > e.size) {
      throw new AtlasError(`entry '${name}' holds ${e.size} bytes, cannot read [${start}, ${start + len})`, { file: this.path, hint: 'the checkpoint is corrupt' });
    }
    const at = this.dataOffset(name);
    if (e.method === 0) {
      const out = new Uint8Array(len);
      readExactly(this.handle(), out, at + start, this.path);
      return out;
    }
    if (e.method === 8) {
      const packed = new Uint8Array(e.compressedSize);
      readExactly(this.handle(), packed, at, this.path);
      const full = inflateRawSync(packed);
      if (full.length !== e.size) throw new AtlasError(`entry '${name}' inflated to ${full.length} bytes, expected ${e.size}`, { file: this.path });
      return new Uint8Array(full.subarray(start, start + len)); // copy: Buffer views may be unaligned
    }
    throw new AtlasError(`entry '${name}' uses unsupported compression method ${e.method}`, { file: this.path, hint: 'only stored and deflate entries are supported' });
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}

function readCentralDirectory(fd: number, file: string): Map<string, ZipEntry> {
  const size = fstatSync(fd).size;
  const tailLen = Math.min(size, 22 + 0xffff);
  const tail = new Uint8Array(tailLen);
  readExactly(fd, tail, size - tailLen, file);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new AtlasError('not a zip archive (no end-of-central-directory record)', { file, hint: 'the file is truncated or not a PyTorch checkpoint' });
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // ZIP64: the locator sits right before the EOCD and points at the ZIP64 EOCD record.
    const locAt = eocd - 20;
    if (locAt < 0 || tv.getUint32(locAt, true) !== ZIP64_LOCATOR_SIG) throw new AtlasError('corrupt zip: ZIP64 locator missing', { file });
    const z64At = Number(tv.getBigUint64(locAt + 8, true));
    const rec = new Uint8Array(56);
    readExactly(fd, rec, z64At, file);
    const rv = new DataView(rec.buffer);
    if (rv.getUint32(0, true) !== ZIP64_EOCD_SIG) throw new AtlasError('corrupt zip: ZIP64 end record missing', { file });
    count = Number(rv.getBigUint64(32, true));
    cdSize = Number(rv.getBigUint64(40, true));
    cdOffset = Number(rv.getBigUint64(48, true));
  }
  if (cdOffset + cdSize > size) throw new AtlasError(`corrupt zip: central directory [${cdOffset}, ${cdOffset + cdSize}) runs past the end of the file (${size} bytes)`, { file, hint: 'the file is truncated' });
  const cd = new Uint8Array(cdSize);
  readExactly(fd, cd, cdOffset, file);
  const v = new DataView(cd.buffer);
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  const utf8 = new TextDecoder();
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || v.getUint32(p, true) !== CENTRAL_SIG) throw new AtlasError(`corrupt zip: bad central directory entry ${i}`, { file });
    const method = v.getUint16(p + 10, true);
    let compressedSize = v.getUint32(p + 20, true);
    let uncompressed = v.getUint32(p + 24, true);
    const nameLen = v.getUint16(p + 28, true);
    const extraLen = v.getUint16(p + 30, true);
    const commentLen = v.getUint16(p + 32, true);
    let localHeaderOffset = v.getUint32(p + 42, true);
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
    // ZIP64 extended information: the 64-bit values present are exactly those whose 32-bit field is saturated, in this order.
    let x = p + 46 + nameLen;
    const xEnd = x + extraLen;
    while (x + 4 <= xEnd) {
      const id = v.getUint16(x, true);
      const len = v.getUint16(x + 2, true);
      if (id === 0x0001) {
        let q = x + 4;
        if (uncompressed === 0xffffffff) { uncompressed = Number(v.getBigUint64(q, true)); q += 8; }
        if (compressedSize === 0xffffffff) { compressedSize = Number(v.getBigUint64(q, true)); q += 8; }
        if (localHeaderOffset === 0xffffffff) { localHeaderOffset = Number(v.getBigUint64(q, true)); q += 8; }
      }
      x += 4 + len;
    }
    entries.set(name, { name, method, compressedSize, size: uncompressed, localHeaderOffset });
    p = xEnd + commentLen;
  }
  return entries;
}

export interface ZipWriteEntry {
  name: string;
  data: Uint8Array;
}

export interface ZipWriteOptions {
  /** Deflate entries instead of storing them (torch never does; for testing readers). Default false. */
  deflate?: boolean;
  /** Data alignment PyTorch uses (kFieldAlignment). Default 64. */
  alignment?: number;
}

/**
 * Writes a zip to an open file descriptor the way PyTorch's `PyTorchStreamWriter` does: every local header
 * carries an 'FB' extra field padded with 'Z' so the entry's data starts at a multiple of `alignment`.
 * Entries may be added one at a time so large checkpoints stream to disk. Archives over 4 GB are refused.
 */
export class ZipWriter {
  private fd: number;
  private pos = 0;
  private central: Uint8Array[] = [];
  private count = 0;
  private readonly deflate: boolean;
  private readonly alignment: number;

  constructor(fd: number, opts: ZipWriteOptions = {}) {
    this.fd = fd;
    this.deflate = opts.deflate ?? false;
    this.alignment = opts.alignment ?? 64;
  }

  add(name: string, data: Uint8Array): void {
    const nameBytes = Buffer.from(name, 'utf8');
    const crc = crc32(data) >>> 0;
    const payload = this.deflate ? deflateRawSync(data) : data;
    const method = this.deflate ? 8 : 0;
    const start = this.pos + 30 + nameBytes.length + 4;
    const padding = (this.alignment - (start % this.alignment)) % this.alignment;
    const extra = Buffer.alloc(4 + padding, 'Z');
    extra.write('FB', 0, 'latin1');
    extra.writeUInt16LE(padding, 2);
    if (this.pos + 30 + nameBytes.length + extra.length + payload.length >= 0xffffffff) {
      throw new Error('ZipWriter: archives over 4 GB (ZIP64) are not supported by this writer');
    }
    const local = Buffer.alloc(30);
    local.writeUInt32LE(LOCAL_SIG, 0);
    local.writeUInt16LE(method === 0 ? 10 : 20, 4); // version needed
    local.writeUInt16LE(0x0800, 6); // flags: UTF-8 names
    local.writeUInt16LE(method, 8);
    local.writeUInt16LE(0, 10); // mod time
    local.writeUInt16LE(0x21, 12); // mod date 1980-01-01 (fixed: reproducible files)
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(payload.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(extra.length, 28);
    const headerOffset = this.pos;
    for (const b of [local, nameBytes, extra, payload]) {
      writeAll(this.fd, b);
      this.pos += b.length;
    }
    const c = Buffer.alloc(46);
    c.writeUInt32LE(CENTRAL_SIG, 0);
    c.writeUInt16LE(20, 4); // version made by
    c.writeUInt16LE(method === 0 ? 10 : 20, 6);
    c.writeUInt16LE(0x0800, 8);
    c.writeUInt16LE(method, 10);
    c.writeUInt16LE(0, 12);
    c.writeUInt16LE(0x21, 14);
    c.writeUInt32LE(crc, 16);
    c.writeUInt32LE(payload.length, 20);
    c.writeUInt32LE(data.length, 24);
    c.writeUInt16LE(nameBytes.length, 28);
    c.writeUInt32LE(headerOffset, 42);
    this.central.push(c, nameBytes);
    this.count++;
  }

  /** Writes the central directory and end record. Does not close the descriptor. */
  finish(): void {
    const cdOffset = this.pos;
    let cdSize = 0;
    for (const b of this.central) {
      writeAll(this.fd, b);
      cdSize += b.length;
    }
    const end = Buffer.alloc(22);
    end.writeUInt32LE(EOCD_SIG, 0);
    end.writeUInt16LE(this.count, 8);
    end.writeUInt16LE(this.count, 10);
    end.writeUInt32LE(cdSize, 12);
    end.writeUInt32LE(cdOffset, 16);
    writeAll(this.fd, end);
    this.pos += cdSize + 22;
  }
}
