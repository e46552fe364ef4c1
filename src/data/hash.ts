/**
 * Content hashes for cache keys. Every key is a sha256 over an unambiguous encoding of what it names, so two
 * different inputs can never share a key by accident (e.g. ['ab','c'] vs ['a','bc']: strings are length-prefixed).
 */
import { createHash, type Hash } from 'node:crypto';

/** Incremental sha256 over typed fields; each field is length- or type-prefixed so concatenations cannot collide. */
export class ContentHasher {
  private readonly h: Hash = createHash('sha256');
  /** Small fields are batched into one string and hashed in 64 KiB pieces: one update per field is ~10× slower. */
  private pending = '';

  private push(s: string): void {
    this.pending += s;
    if (this.pending.length > 65536) this.flush();
  }

  private flush(): void {
    if (this.pending) this.h.update(this.pending, 'utf8');
    this.pending = '';
  }

  /** Adds a string (UTF-8), prefixed by its byte length. */
  string(s: string): this {
    this.push(`s${Buffer.byteLength(s, 'utf8')}:`);
    this.push(s);
    return this;
  }

  /** Adds a number in its shortest round-tripping decimal form (integers stay integers). */
  number(x: number): this {
    this.push(`n${String(x)};`);
    return this;
  }

  /** Adds raw bytes, prefixed by their length. */
  bytes(b: Uint8Array): this {
    this.push(`b${b.byteLength}:`);
    this.flush();
    this.h.update(b);
    return this;
  }

  /** Hex digest; `length` truncates it (16 hex chars = 64 bits is plenty for a cache directory name). */
  hex(length = 64): string {
    this.flush();
    return this.h.digest('hex').slice(0, length);
  }
}

export function sha256Hex(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * JSON with object keys sorted at every level, so equal option objects give equal strings whatever order the
 * keys were written in. `undefined` members are dropped (as JSON.stringify does), so `{a: 1, b: undefined}`
 * and `{a: 1}` hash the same.
 */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object' && !ArrayBuffer.isView(value)) {
    const out: Record<string, unknown> = {};
    for (const key of Object.keys(value).sort()) {
      const v = (value as Record<string, unknown>)[key];
      if (v !== undefined) out[key] = sortKeys(v);
    }
    return out;
  }
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  return value;
}

/** Short hash of a JSON-able value (key order does not matter). */
export function hashJson(value: unknown, length = 16): string {
  return sha256Hex(stableStringify(value)).slice(0, length);
}

/** A file-name-safe version of an arbitrary key (cache folder names). */
export function safeName(s: string): string {
  return s.replace(/[^A-Za-z0-9._@-]+/g, '_').slice(0, 120) || '_';
}
