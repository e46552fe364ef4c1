/**
 * A grow-only float32 buffer reused from one tensor to the next while a big model's weights are read,
 * converted and written to a session file (GraphBuilder.save). Why: on the machines measured here first-touch
 * memory costs ~14 ns per float32 element (page faults and zeroing), ten times the bf16 → float32 conversion
 * itself, so reading every tensor into fresh arrays made loading a 1B model's weights page-fault bound.
 *
 * A view handed out is valid only until the next `f32` call: producers that take a ScratchBuffer write (emit)
 * each part before reading the next.
 */
export class ScratchBuffer {
  private buf = new ArrayBuffer(0);

  /** A Float32Array of exactly `count` elements over the reused storage (contents unspecified). */
  f32(count: number): Float32Array {
    if (this.buf.byteLength < count * 4) this.buf = new ArrayBuffer(count * 4);
    return new Float32Array(this.buf, 0, count);
  }

  /** Whether `a` is a view of this buffer's current storage. */
  owns(a: ArrayBufferView): boolean {
    return a.buffer === this.buf;
  }

  /** Drops the storage (the next `f32` allocates afresh). */
  release(): void {
    this.buf = new ArrayBuffer(0);
  }
}
