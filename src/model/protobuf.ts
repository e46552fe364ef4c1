/**
 * A minimal reader of the protobuf wire format (https://protobuf.dev/programming-guides/encoding/), enough to
 * walk a message field by field without a schema: varints, 64-bit, length-delimited and 32-bit values. Used for
 * SentencePiece's tokenizer.model. Malformed input throws ProtobufError; callers turn it into an AtlasError that
 * names their file.
 */

export class ProtobufError extends Error {}

export const WireType = { Varint: 0, I64: 1, Len: 2, I32: 5 } as const;
export type WireType = (typeof WireType)[keyof typeof WireType];

export interface ProtoField {
  field: number;
  wire: WireType;
  /** Varint value (as a number: exact up to 2^53, enough for enums, booleans, sizes and ids). */
  varint: number;
  /** The varint's low 32 bits as a signed int32 (protobuf writes a negative int32 as a 10-byte varint). */
  int32: number;
  /** Length-delimited payload (sub-message, string, bytes, packed repeated). */
  bytes: Uint8Array;
  /** Offset of the value in the buffer (for I32/I64 reads). */
  offset: number;
}

/** Reads an unsigned varint at `pos`; returns [value, next position, low 32 bits as int32]. */
function readVarint(buf: Uint8Array, pos: number): [number, number, number] {
  let value = 0;
  let scale = 1;
  let low = 0;
  for (let i = 0; i < 10; i++) {
    if (pos >= buf.length) throw new ProtobufError(`varint runs past the end of the data at byte ${pos}`);
    const b = buf[pos++]!;
    value += (b & 0x7f) * scale;
    if (i < 5) low |= (b & 0x7f) << (7 * i);
    if ((b & 0x80) === 0) return [value, pos, low | 0];
    scale *= 128;
  }
  throw new ProtobufError(`varint longer than 10 bytes at byte ${pos}`);
}

/** Every field of one message, in wire order (repeated fields appear once per element). */
export function readFields(buf: Uint8Array): ProtoField[] {
  const out: ProtoField[] = [];
  let pos = 0;
  while (pos < buf.length) {
    const [key, afterKey] = readVarint(buf, pos);
    const field = Math.floor(key / 8);
    const wire = (key % 8) as WireType;
    if (field === 0) throw new ProtobufError(`field number 0 at byte ${pos}`);
    pos = afterKey;
    const empty = buf.subarray(0, 0);
    switch (wire) {
      case WireType.Varint: {
        const [v, next, low] = readVarint(buf, pos);
        out.push({ field, wire, varint: v, int32: low, bytes: empty, offset: pos });
        pos = next;
        break;
      }
      case WireType.I64:
        if (pos + 8 > buf.length) throw new ProtobufError(`64-bit field ${field} runs past the end of the data`);
        out.push({ field, wire, varint: 0, int32: 0, bytes: buf.subarray(pos, pos + 8), offset: pos });
        pos += 8;
        break;
      case WireType.Len: {
        const [len, start] = readVarint(buf, pos);
        if (start + len > buf.length) throw new ProtobufError(`field ${field} declares ${len} bytes but only ${buf.length - start} remain`);
        out.push({ field, wire, varint: len, int32: 0, bytes: buf.subarray(start, start + len), offset: start });
        pos = start + len;
        break;
      }
      case WireType.I32:
        if (pos + 4 > buf.length) throw new ProtobufError(`32-bit field ${field} runs past the end of the data`);
        out.push({ field, wire, varint: 0, int32: 0, bytes: buf.subarray(pos, pos + 4), offset: pos });
        pos += 4;
        break;
      default:
        throw new ProtobufError(`unsupported wire type ${wire} (field ${field}) at byte ${pos}`);
    }
  }
  return out;
}

/** Little-endian float32 of an I32 field. */
export function fieldFloat(f: ProtoField): number {
  if (f.wire !== WireType.I32) throw new ProtobufError(`field ${f.field} is not a 32-bit value`);
  return new DataView(f.bytes.buffer, f.bytes.byteOffset, 4).getFloat32(0, true);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** UTF-8 string of a length-delimited field. */
export function fieldString(f: ProtoField): string {
  if (f.wire !== WireType.Len) throw new ProtobufError(`field ${f.field} is not a string`);
  try {
    return utf8.decode(f.bytes);
  } catch {
    throw new ProtobufError(`field ${f.field} is not valid UTF-8`);
  }
}

/** Varint field as a number (bool/enum/uint). */
export function fieldVarint(f: ProtoField): number {
  if (f.wire !== WireType.Varint) throw new ProtobufError(`field ${f.field} is not a varint`);
  return f.varint;
}

/** Varint field as a signed int32. */
export function fieldInt32(f: ProtoField): number {
  if (f.wire !== WireType.Varint) throw new ProtobufError(`field ${f.field} is not a varint`);
  return f.int32;
}
