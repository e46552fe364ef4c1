import { test } from 'node:test';
import assert from 'node:assert/strict';
import { bf16ToF32, f16ToF32, f32ToBf16, f32ToF16 } from '../src/model/float16.ts';
import { mulberry32 } from '../src/model/tiny-checkpoint.ts';

/** Independent decoding of a binary16/bfloat16 pattern from the IEEE definition, in float64. */
function decode(bits: number, expBits: number, mantBits: number): number {
  const sign = bits >>> (expBits + mantBits) ? -1 : 1;
  const exp = (bits >>> mantBits) & ((1 << expBits) - 1);
  const mant = bits & ((1 << mantBits) - 1);
  const bias = (1 << (expBits - 1)) - 1;
  if (exp === (1 << expBits) - 1) return mant ? NaN : sign * Infinity;
  if (exp === 0) return sign * mant * 2 ** (1 - bias - mantBits);
  return sign * (1 + mant / 2 ** mantBits) * 2 ** (exp - bias);
}

const allPatterns = Uint16Array.from({ length: 65536 }, (_, i) => i);

function sameValue(got: number, want: number, msg: string): void {
  if (Number.isNaN(want)) assert.ok(Number.isNaN(got), msg);
  else assert.ok(Object.is(got, want), `${msg}: got ${got}, want ${want}`); // Object.is separates +0 / -0
}

test('f16 → f32 matches the IEEE formula on all 65536 patterns (subnormals, ±0, ±inf, NaN)', () => {
  const out = f16ToF32(allPatterns);
  for (let h = 0; h < 65536; h++) sameValue(out[h], decode(h, 5, 10), `f16 0x${h.toString(16)}`);
});

test('bf16 → f32 matches the formula on all 65536 patterns', () => {
  const out = bf16ToF32(allPatterns);
  for (let h = 0; h < 65536; h++) sameValue(out[h], Math.fround(decode(h, 8, 7)), `bf16 0x${h.toString(16)}`);
});

/** Reference rounding: nearest representable value by exhaustive search over the sorted finite values, ties to even mantissa. */
function referenceRounder(expBits: number, mantBits: number): (x: number) => number {
  const maxExp = (1 << expBits) - 1;
  const positives: { v: number; bits: number }[] = [];
  for (let b = 0; b < maxExp << mantBits; b++) positives.push({ v: decode(b, expBits, mantBits), bits: b });
  const maxFinite = positives[positives.length - 1].v;
  const ulpAtMax = 2 ** (maxExp - 1 - ((1 << (expBits - 1)) - 1) - mantBits);
  const signBit = 1 << (expBits + mantBits);
  return (x: number): number => {
    const s = x < 0 || Object.is(x, -0) ? signBit : 0;
    const a = Math.abs(x);
    // Beyond maxFinite + ulp/2 rounds to infinity (IEEE overflow under round-to-nearest).
    if (a >= maxFinite + ulpAtMax / 2) return s | (maxExp << mantBits);
    let lo = 0;
    let hi = positives.length - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (positives[mid].v <= a) lo = mid;
      else hi = mid;
    }
    if (a >= maxFinite) return s | positives[positives.length - 1].bits;
    const dl = a - positives[lo].v;
    const dh = positives[hi].v - a;
    const pick = dl < dh ? lo : dh < dl ? hi : positives[lo].bits % 2 === 0 ? lo : hi;
    return s | positives[pick].bits;
  };
}

/** Test inputs: every representable value, the midpoints between neighbours (ties), ±1 float32 ulp around them, and randoms. */
function probeValues(expBits: number, mantBits: number): Float32Array {
  const vals: number[] = [];
  const finite = (1 << expBits) - 1;
  for (let b = 0; b < finite << mantBits; b++) {
    const v = decode(b, expBits, mantBits);
    const next = decode(b + 1, expBits, mantBits);
    const mid = Math.fround((v + (Number.isFinite(next) ? next : 2 * v - decode(b - 1, expBits, mantBits))) / 2);
    for (const x of [v, mid, nextUp(mid), nextDown(mid)]) vals.push(x, -x);
  }
  const rand = mulberry32(7);
  const u32 = new Uint32Array(1);
  const f32 = new Float32Array(u32.buffer);
  for (let i = 0; i < 200_000; i++) {
    u32[0] = Math.floor(rand() * 4294967296);
    if (Number.isFinite(f32[0])) vals.push(f32[0]);
  }
  vals.push(Infinity, -Infinity, 3.4e38, 1e-45, 0, -0);
  return Float32Array.from(vals);
}

function nextUp(x: number): number {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  u[0] += x >= 0 ? 1 : -1;
  return f[0];
}
function nextDown(x: number): number {
  const f = new Float32Array([x]);
  const u = new Int32Array(f.buffer);
  u[0] -= x > 0 ? 1 : x === 0 ? 0 : -1;
  return f[0];
}

test('f32 → f16 rounds to nearest, ties to even, like an exhaustive nearest-value search', () => {
  const ref = referenceRounder(5, 10);
  const xs = probeValues(5, 10);
  const got = f32ToF16(xs);
  for (let i = 0; i < xs.length; i++) assert.equal(got[i], ref(xs[i]), `x = ${xs[i]}`);
  // NaN stays NaN
  assert.ok(Number.isNaN(f16ToF32(f32ToF16(Float32Array.of(NaN)))[0]));
});

test('f32 → bf16 rounds to nearest, ties to even, like an exhaustive nearest-value search', () => {
  const ref = referenceRounder(8, 7);
  const xs = probeValues(8, 7);
  const got = f32ToBf16(xs);
  for (let i = 0; i < xs.length; i++) assert.equal(got[i], ref(xs[i]), `x = ${xs[i]}`);
  assert.ok(Number.isNaN(bf16ToF32(f32ToBf16(Float32Array.of(NaN)))[0]));
});
