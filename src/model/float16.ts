/**
 * Conversions between float32 and the two 16-bit float formats found in checkpoints:
 * IEEE half (F16: 1 sign, 5 exponent, 10 mantissa bits) and bfloat16 (BF16: the top 16 bits of a float32).
 * Widening is exact; narrowing rounds to nearest, ties to even (what PyTorch's `.half()` / `.bfloat16()` do).
 */

let f16Table: Float32Array | null = null;

/** All 65536 half values as float32, built once (256 KiB): widening a tensor is then one lookup per element. */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const bits = new Uint32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = (h & 0x8000) << 16;
    const exp = (h >>> 10) & 0x1f;
    let mant = h & 0x3ff;
    if (exp === 0x1f) {
      bits[h] = sign | 0x7f800000 | (mant << 13); // inf / nan (payload kept)
    } else if (exp !== 0) {
      bits[h] = sign | ((exp + 112) << 23) | (mant << 13);
    } else if (mant === 0) {
      bits[h] = sign; // ±0
    } else {
      // Subnormal half: normalise the mantissa into a float32 normal.
      let e = 113;
      while ((mant & 0x400) === 0) {
        mant <<= 1;
        e--;
      }
      bits[h] = sign | (e << 23) | ((mant & 0x3ff) << 13);
    }
  }
  f16Table = new Float32Array(bits.buffer);
  return f16Table;
}

/**
 * Widens half-precision bit patterns to float32 (exact). `out` defaults to a new array; `src` may alias the
 * upper half of `out`'s bytes (each element is read before its 4 bytes are written, front to back).
 */
export function f16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = halfTable();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

/** Widens bfloat16 bit patterns to float32 (exact: a bf16 is the high half of a float32); aliasing as f16ToF32. */
export function bf16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const o = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) o[i] = src[i] << 16;
  return out;
}

/** Rounds one float32 (given as its bits) to the nearest half, ties to even; overflow gives ±inf, NaN stays NaN. */
export function f32BitsToF16Bits(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  const mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 112; // rebias 127 → 15
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Result is subnormal (or zero): value = m · 2^-24 with m = M · 2^(e-14), M the 24-bit significand.
    const shift = 14 - e;
    if (shift > 24) return sign;
    const M = mant | 0x800000;
    const m = M >>> shift;
    const rem = M & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    return sign | (rem > half || (rem === half && (m & 1)) ? m + 1 : m); // m + 1 may reach 0x400 = smallest normal
  }
  const h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent, and 0x7bff + 1 = 0x7c00 = inf.
  return sign | (rem > 0x1000 || (rem === 0x1000 && (h & 1)) ? h + 1 : h);
}

/** Rounds one float32 (given as its bits) to the nearest bfloat16, ties to even; NaN stays a (quiet) NaN. */
export function f32BitsToBf16Bits(x: number): number {
  if ((x & 0x7f800000) === 0x7f800000 && (x & 0x7fffff) !== 0) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Narrows float32 values to half bit patterns (round to nearest even). */
export function f32ToF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16Bits(bits[i]);
  return out;
}

/** Narrows float32 values to bfloat16 bit patterns (round to nearest even). */
export function f32ToBf16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToBf16Bits(bits[i]);
  return out;
}

/** Rounds float32 values in place as if stored in `dtype` and read back (what a checkpoint round trip does). */
export function roundThrough(values: Float32Array, dtype: 'F32' | 'F16' | 'BF16'): Float32Array {
  if (dtype === 'F16') f16ToF32(f32ToF16(values), values);
  else if (dtype === 'BF16') bf16ToF32(f32ToBf16(values), values);
  return values;
}
