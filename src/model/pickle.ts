/**
 * A minimal Python pickle virtual machine (protocols 2–5, the opcodes `torch.save` emits for state dicts)
 * and a matching encoder. Nothing is executed: globals are resolved through an allow-list supplied by the
 * caller, so a malicious pickle can at worst fail to load. Python values map to JS as:
 * dict → Map, list → Array, tuple → Array (frozen), str → string, int → number (bigint beyond 2^53),
 * float → number, bool → boolean, None → null.
 */
import { AtlasError } from '../errors.ts';

/** A callable the pickle may REDUCE/NEWOBJ; `args` is the argument tuple. */
export type PyCallable = (args: unknown[]) => unknown;

export interface UnpickleOptions {
  /** File named in errors. */
  file: string;
  /** Resolves `module.name`; return undefined for names that are not allowed (→ AtlasError naming the global). */
  findClass: (module: string, name: string) => unknown;
  /** Resolves BINPERSID ids (torch: storage references). */
  persistentLoad?: (pid: unknown) => unknown;
  /** Applies BUILD state to an object; default: Maps ignore it, plain objects get the state's entries assigned. */
  build?: (obj: unknown, state: unknown) => unknown;
}

const MARK = Symbol('mark');

/** Runs a pickle and returns the value it builds. */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): unknown {
  return unpickleAt(bytes, 0, opts).value;
}

/** Runs the pickle starting at byte `start`; also returns where it ended (files can hold several pickles in a row). */
export function unpickleAt(bytes: Uint8Array, start: number, opts: UnpickleOptions): { value: unknown; end: number } {
  const { file } = opts;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const utf8 = new TextDecoder('utf-8');
  const latin1 = new TextDecoder('latin1');
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = start;
  const fail = (msg: string): never => {
    throw new AtlasError(`pickle: ${msg} (at byte ${p})`, { file, hint: 'the checkpoint is corrupt or was not written by torch.save' });
  };
  const need = (n: number): void => {
    if (p + n > bytes.length) fail('data ends early');
  };
  const u8 = (): number => { need(1); return bytes[p++]; };
  const u16 = (): number => { need(2); const v = view.getUint16(p, true); p += 2; return v; };
  const u32 = (): number => { need(4); const v = view.getUint32(p, true); p += 4; return v; };
  const i32 = (): number => { need(4); const v = view.getInt32(p, true); p += 4; return v; };
  const u64 = (): number => { need(8); const v = Number(view.getBigUint64(p, true)); p += 8; return v; };
  const take = (n: number): Uint8Array => { need(n); const s = bytes.subarray(p, p + n); p += n; return s; };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) fail('unterminated text line');
    const s = latin1.decode(bytes.subarray(p, end));
    p = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) fail('stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    let i = stack.length - 1;
    while (i >= 0 && stack[i] !== MARK) i--;
    if (i < 0) fail('MARK not found');
    const items = stack.splice(i);
    items.shift();
    return items;
  };
  const resolve = (module: string, name: string): unknown => {
    const v = opts.findClass(module, name);
    if (v === undefined) {
      throw new AtlasError(`unsupported pickle global '${module}.${name}'`, { file, hint: 'only PyTorch state dicts (tensors in (Ordered)Dicts) can be loaded; convert the checkpoint to safetensors' });
    }
    return v;
  };
  const call = (fn: unknown, args: unknown): unknown => {
    if (typeof fn !== 'function') fail(`cannot call ${describe(fn)}`);
    if (!Array.isArray(args)) fail('call arguments are not a tuple');
    return (fn as PyCallable)(args as unknown[]);
  };
  const long = (b: Uint8Array): number | bigint => {
    if (b.length === 0) return 0;
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (!(dict instanceof Map)) fail(`SETITEM(S) on ${describe(dict)}`);
    for (let i = 0; i + 1 < items.length; i += 2) (dict as Map<unknown, unknown>).set(items[i], items[i + 1]);
  };
  const append = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list)) fail(`APPEND(S) on ${describe(list)}`);
    (list as unknown[]).push(...items);
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: u8(); break; // PROTO
      case 0x95: u64(); break; // FRAME (protocol 4 framing hint)
      case 0x2e: return { value: pop(), end: p }; // STOP
      case 0x28: stack.push(MARK); break; // MARK
      case 0x7d: stack.push(new Map()); break; // EMPTY_DICT
      case 0x5d: stack.push([]); break; // EMPTY_LIST
      case 0x29: stack.push(Object.freeze([])); break; // EMPTY_TUPLE
      case 0x74: stack.push(Object.freeze(popMark())); break; // TUPLE
      case 0x85: stack.push(Object.freeze([pop()])); break; // TUPLE1
      case 0x86: { const b = pop(); const a = pop(); stack.push(Object.freeze([a, b])); break; } // TUPLE2
      case 0x87: { const c = pop(); const b = pop(); const a = pop(); stack.push(Object.freeze([a, b, c])); break; } // TUPLE3
      case 0x6c: stack.push(popMark()); break; // LIST
      case 0x64: { const items = popMark(); const d = new Map(); setItems(d, items); stack.push(d); break; } // DICT
      case 0x58: stack.push(utf8.decode(take(u32()))); break; // BINUNICODE
      case 0x8c: stack.push(utf8.decode(take(u8()))); break; // SHORT_BINUNICODE
      case 0x8d: stack.push(utf8.decode(take(u64()))); break; // BINUNICODE8
      case 0x54: stack.push(latin1.decode(take(i32()))); break; // BINSTRING (py2 str)
      case 0x55: stack.push(latin1.decode(take(u8()))); break; // SHORT_BINSTRING
      case 0x42: stack.push(new Uint8Array(take(u32()))); break; // BINBYTES
      case 0x43: stack.push(new Uint8Array(take(u8()))); break; // SHORT_BINBYTES
      case 0x4b: stack.push(u8()); break; // BININT1
      case 0x4d: stack.push(u16()); break; // BININT2
      case 0x4a: stack.push(i32()); break; // BININT
      case 0x8a: stack.push(long(take(u8()))); break; // LONG1
      case 0x8b: stack.push(long(take(i32()))); break; // LONG4
      case 0x47: { need(8); stack.push(view.getFloat64(p, false)); p += 8; break; } // BINFLOAT (big-endian)
      case 0x88: stack.push(true); break; // NEWTRUE
      case 0x89: stack.push(false); break; // NEWFALSE
      case 0x4e: stack.push(null); break; // NONE
      case 0x63: { const module = line(); const name = line(); stack.push(resolve(module, name)); break; } // GLOBAL
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') fail('STACK_GLOBAL needs two strings');
        stack.push(resolve(module as string, name as string));
        break;
      }
      case 0x52: { const args = pop(); const fn = pop(); stack.push(call(fn, args)); break; } // REDUCE
      case 0x81: { const args = pop(); const cls = pop(); stack.push(call(cls, args)); break; } // NEWOBJ
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) fail('persistent id found but no persistent loader');
        stack.push(opts.persistentLoad!(pid));
        break;
      }
      case 0x71: memo.set(u8(), top()); break; // BINPUT
      case 0x72: memo.set(u32(), top()); break; // LONG_BINPUT
      case 0x94: memo.set(memo.size, top()); break; // MEMOIZE
      case 0x68: case 0x6a: { // BINGET, LONG_BINGET
        const k = op === 0x68 ? u8() : u32();
        if (!memo.has(k)) fail(`memo key ${k} missing`);
        stack.push(memo.get(k));
        break;
      }
      case 0x73: { const v = pop(); const k = pop(); setItems(top(), [k, v]); break; } // SETITEM
      case 0x75: { const items = popMark(); setItems(top(), items); break; } // SETITEMS
      case 0x61: { const v = pop(); append(top(), [v]); break; } // APPEND
      case 0x65: { const items = popMark(); append(top(), items); break; } // APPENDS
      case 0x62: { // BUILD
        const state = pop();
        const obj = pop();
        stack.push(opts.build ? opts.build(obj, state) : defaultBuild(obj, state));
        break;
      }
      default:
        fail(`unsupported opcode 0x${op.toString(16).padStart(2, '0')}`);
    }
  }
}

function defaultBuild(obj: unknown, state: unknown): unknown {
  if (obj instanceof Map) return obj; // OrderedDict state (e.g. torch's `_metadata`) carries no tensors
  if (obj && typeof obj === 'object' && state instanceof Map) {
    for (const [k, v] of state) if (typeof k === 'string') (obj as Record<string, unknown>)[k] = v;
  }
  return obj;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (Array.isArray(v)) return 'a tuple/list';
  if (v instanceof Map) return 'a dict';
  return typeof v;
}

// ---------------------------------------------------------------------------------------------------------
// Encoder (protocol 2)

/** `module.name` as a pickle global. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
}
/** `fn(*args)` (REDUCE), optionally followed by dict items (SETITEMS) and a BUILD state, as `__reduce__` produces. */
export class PyCall {
  constructor(readonly fn: PyGlobal, readonly args: PickleValue[], readonly dictItems?: [PickleValue, PickleValue][]) {}
}
/** A persistent id (BINPERSID): torch uses it for storages. */
export class PyPersistentId {
  constructor(readonly pid: PickleValue) {}
}
/** A Python list (plain JS arrays encode as tuples). */
export class PyList {
  constructor(readonly items: PickleValue[]) {}
}
/** A Python float (JS numbers that are integers encode as int). */
export class PyFloat {
  constructor(readonly value: number) {}
}
export type PickleValue =
  | string | number | bigint | boolean | null | PickleValue[] | Map<PickleValue, PickleValue>
  | PyGlobal | PyCall | PyPersistentId | PyList | PyFloat;

/** Encodes a value with pickle protocol 2 the way CPython's pickler does for these types (globals memoised). */
export function pickle(value: PickleValue): Uint8Array {
  const out: number[] = [];
  const memo = new Map<string, number>();
  let memoCount = 0;
  const put = (): number => {
    const k = memoCount++;
    if (k < 256) out.push(0x71, k);
    else out.push(0x72, k & 0xff, (k >>> 8) & 0xff, (k >>> 16) & 0xff, (k >>> 24) & 0xff);
    return k;
  };
  const u32 = (n: number): void => { out.push(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff); };
  const int = (n: number | bigint): void => {
    if (typeof n === 'number' && n >= 0 && n < 256) out.push(0x4b, n);
    else if (typeof n === 'number' && n >= 0 && n < 65536) out.push(0x4d, n & 0xff, n >>> 8);
    else if (typeof n === 'number' && n >= -0x80000000 && n <= 0x7fffffff) { out.push(0x4a); u32(n); }
    else {
      // LONG1: minimal little-endian two's complement.
      let v = BigInt(n);
      const bytes: number[] = [];
      for (;;) {
        bytes.push(Number(v & 0xffn));
        v >>= 8n;
        const sign = bytes[bytes.length - 1] & 0x80;
        if ((v === 0n && !sign) || (v === -1n && sign)) break;
      }
      out.push(0x8a, bytes.length, ...bytes);
    }
  };
  const enc = (v: PickleValue): void => {
    if (v === null) out.push(0x4e);
    else if (v === true) out.push(0x88);
    else if (v === false) out.push(0x89);
    else if (typeof v === 'number' || typeof v === 'bigint') {
      if (typeof v === 'number' && !Number.isInteger(v)) enc(new PyFloat(v));
      else int(v);
    } else if (typeof v === 'string') {
      const b = Buffer.from(v, 'utf8');
      out.push(0x58);
      u32(b.length);
      for (const x of b) out.push(x);
    } else if (v instanceof PyFloat) {
      const b = Buffer.alloc(8);
      b.writeDoubleBE(v.value);
      out.push(0x47, ...b);
    } else if (Array.isArray(v)) {
      if (v.length === 0) out.push(0x29);
      else if (v.length <= 3) { v.forEach(enc); out.push(0x84 + v.length); }
      else { out.push(0x28); v.forEach(enc); out.push(0x74); }
    } else if (v instanceof PyList) {
      out.push(0x5d);
      put();
      if (v.items.length) { out.push(0x28); v.items.forEach(enc); out.push(0x65); }
    } else if (v instanceof Map) {
      out.push(0x7d);
      put();
      setItems([...v.entries()]);
    } else if (v instanceof PyGlobal) {
      const key = `${v.module}\n${v.name}`;
      const k = memo.get(key);
      if (k !== undefined) {
        if (k < 256) out.push(0x68, k);
        else { out.push(0x6a); u32(k); }
      } else {
        out.push(0x63, ...Buffer.from(`${v.module}\n${v.name}\n`, 'utf8'));
        memo.set(key, put());
      }
    } else if (v instanceof PyCall) {
      enc(v.fn);
      enc(v.args);
      out.push(0x52);
      put();
      if (v.dictItems) setItems(v.dictItems);
    } else if (v instanceof PyPersistentId) {
      enc(v.pid);
      out.push(0x51);
    }
  };
  // CPython batches SETITEMS in groups of 1000.
  const setItems = (items: [PickleValue, PickleValue][]): void => {
    for (let i = 0; i < items.length; i += 1000) {
      const batch = items.slice(i, i + 1000);
      if (batch.length === 1) { enc(batch[0][0]); enc(batch[0][1]); out.push(0x73); continue; }
      out.push(0x28);
      for (const [k, val] of batch) { enc(k); enc(val); }
      out.push(0x75);
    }
  };
  out.push(0x80, 2);
  enc(value);
  out.push(0x2e);
  return Uint8Array.from(out);
}
