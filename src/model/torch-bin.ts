/**
 * PyTorch `torch.save` checkpoints (pytorch_model.bin). The zip format of PyTorch ≥ 1.6 is a zip holding
 * `<archive>/data.pkl` (the pickled state dict, tensors as `_rebuild_tensor_v2` calls whose storages are
 * persistent ids) and `<archive>/data/<key>` (raw little-endian storage bytes). Opening parses only the pickle;
 * each tensor's bytes are read from its storage on demand. The legacy format (PyTorch < 1.6, still found in
 * older hub checkpoints) is read too.
 */
import { closeSync, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync } from 'node:fs';
import { AtlasError } from '../errors.ts';
import { type DType, type F32Tensor, bytesPerElement, numel } from './tensor.ts';
import { decodeToF32, encodeFromF32, readExactly, type TensorSource } from './safetensors.ts';
import { PyCall, PyGlobal, PyPersistentId, type PickleValue, type PyCallable, pickle, unpickle, unpickleAt } from './pickle.ts';
import { ZipReader, ZipWriter } from './zip.ts';

const STORAGE_DTYPES: Record<string, DType> = {
  FloatStorage: 'F32', HalfStorage: 'F16', BFloat16Storage: 'BF16', DoubleStorage: 'F64', LongStorage: 'I64',
  IntStorage: 'I32', ShortStorage: 'I16', CharStorage: 'I8', ByteStorage: 'U8', BoolStorage: 'BOOL',
};

class StorageType {
  constructor(readonly dtype: DType) {}
}

export interface TorchStorageRef {
  key: string;
  dtype: DType;
  numel: number;
}

/** A tensor as the pickle describes it: a strided view into a storage. */
export interface TorchTensorRef {
  storage: TorchStorageRef;
  /** In elements. */
  offset: number;
  shape: number[];
  stride: number[];
}

function isTensorRef(v: unknown): v is TorchTensorRef {
  return !!v && typeof v === 'object' && 'storage' in v && 'stride' in v;
}

function intList(v: unknown, what: string, file: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw new AtlasError(`pickle: ${what} is not a tuple of non-negative ints: ${String(v)}`, { file });
  }
  return v as number[];
}

/** The allow-list of globals a state dict may reference. */
function torchGlobals(file: string): (module: string, name: string) => unknown {
  const rebuildTensor: PyCallable = (args) => {
    const [storage, offset, size, stride] = args;
    if (!storage || typeof storage !== 'object' || !('key' in storage)) throw new AtlasError('pickle: _rebuild_tensor without a storage', { file });
    if (typeof offset !== 'number') throw new AtlasError('pickle: tensor storage offset is not an int', { file });
    const shape = intList(size, 'tensor size', file);
    const strides = intList(stride, 'tensor stride', file);
    if (shape.length !== strides.length) throw new AtlasError(`pickle: tensor size [${shape}] and stride [${strides}] differ in length`, { file });
    return { storage: storage as TorchStorageRef, offset, shape: [...shape], stride: [...strides] } satisfies TorchTensorRef;
  };
  const newDict: PyCallable = () => new Map();
  const identity: PyCallable = (args) => args[0];
  return (module, name) => {
    if (module === 'collections' && name === 'OrderedDict') return newDict;
    if (module === 'builtins' && name === 'dict') return newDict;
    if (module === 'torch._utils' && (name === '_rebuild_tensor_v2' || name === '_rebuild_tensor')) return rebuildTensor;
    // Parameters wrap a tensor: (data, requires_grad, backward_hooks[, state]).
    if (module === 'torch._utils' && name === '_rebuild_parameter') return identity;
    if (module === 'torch._utils' && name === '_rebuild_parameter_with_state') return identity;
    // Tensor subclasses: (func, new_type, args, state) → func(*args).
    if (module === 'torch._tensor' && name === '_rebuild_from_type_v2') {
      return ((args) => (args[0] as PyCallable)(args[2] as unknown[])) satisfies PyCallable;
    }
    if (module === 'torch.nn.parameter' && name === 'Parameter') return identity;
    if (module === 'torch' && name === 'Tensor') return identity;
    if (module === 'torch' && name in STORAGE_DTYPES) return new StorageType(STORAGE_DTYPES[name]);
    return undefined;
  };
}

/** Maps dotted names to tensors; nested dicts ({'state_dict': {...}}) flatten with dots, non-tensor values are skipped. */
function collectTensors(v: unknown, prefix: string, out: Map<string, TorchTensorRef>): void {
  if (!(v instanceof Map)) return;
  for (const [k, x] of v) {
    const name = prefix + String(k);
    if (isTensorRef(x)) out.set(name, x);
    else if (x instanceof Map) collectTensors(x, `${name}.`, out);
  }
}

/** Reads `length` bytes of a storage starting at byte `start`. */
type StorageReader = (s: TorchStorageRef, start: number, length: number) => Uint8Array;

/** torch.save's legacy (pre-1.6) format starts with this pickled magic number. */
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/** An open pytorch_model.bin (zip format, or the legacy pickle-stream format of PyTorch < 1.6). */
export class TorchBinFile {
  readonly path: string;
  /** The zip's top-level folder (`archive` in current PyTorch, the file stem in 1.6–2.0); '' for legacy files. */
  readonly prefix: string;
  readonly tensors: Map<string, TorchTensorRef>;
  readonly layout: 'zip' | 'legacy';
  private readStorage: StorageReader;
  private closeFile: () => void;

  private constructor(path: string, layout: 'zip' | 'legacy', prefix: string, tensors: Map<string, TorchTensorRef>, readStorage: StorageReader, closeFile: () => void) {
    this.path = path;
    this.layout = layout;
    this.prefix = prefix;
    this.tensors = tensors;
    this.readStorage = readStorage;
    this.closeFile = closeFile;
  }

  static open(path: string): TorchBinFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new AtlasError(`cannot open: ${(e as Error).message}`, { file: path, cause: e });
    }
    const head = new Uint8Array(2);
    const n = readSync(fd, head, 0, 2, 0);
    if (n === 2 && head[0] === 0x80) {
      try {
        return TorchBinFile.openLegacy(path, fd);
      } catch (e) {
        closeSync(fd);
        throw e;
      }
    }
    closeSync(fd);
    return TorchBinFile.openZip(path);
  }

  private static openZip(path: string): TorchBinFile {
    const zip = ZipReader.open(path);
    try {
      const pkl = [...zip.entries.keys()].find((n) => /^[^/]+\/data\.pkl$/.test(n));
      if (!pkl) throw new AtlasError('zip archive has no <archive>/data.pkl', { file: path, hint: 'not a torch.save checkpoint' });
      const prefix = pkl.slice(0, pkl.indexOf('/'));
      const storages = new Map<string, TorchStorageRef>();
      const root = unpickle(zip.read(pkl), { file: path, findClass: torchGlobals(path), persistentLoad: storageLoader(path, storages) });
      const tensors = stateDictTensors(root, path);
      const entryOf = (s: TorchStorageRef): string => `${prefix}/data/${s.key}`;
      for (const s of storages.values()) {
        const entry = zip.entries.get(entryOf(s));
        if (!entry) throw new AtlasError(`storage '${s.key}' is missing (no entry '${entryOf(s)}')`, { file: path, hint: 'the checkpoint is incomplete or corrupt' });
        checkStorageSize(s, entry.size, path);
      }
      return new TorchBinFile(path, 'zip', prefix, tensors, (s, start, length) => zip.read(entryOf(s), start, length), () => zip.close());
    } catch (e) {
      zip.close();
      throw e;
    }
  }

  /**
   * Legacy layout: pickles of the magic number, protocol version and sys info, then the state dict, then the
   * sorted list of storage keys; then, per key in that order, an int64 element count and the raw bytes.
   */
  private static openLegacy(path: string, fd: number): TorchBinFile {
    const size = fstatSync(fd).size;
    const opts = (storages: Map<string, TorchStorageRef>) => ({ file: path, findClass: torchGlobals(path), persistentLoad: storageLoader(path, storages) });
    // The pickles are small but of unknown length: parse from a prefix of the file, growing it if they run past.
    for (let window = Math.min(size, 1 << 20); ; window = Math.min(size, window * 8)) {
      const bytes = new Uint8Array(window);
      readExactly(fd, bytes, 0, path);
      const storages = new Map<string, TorchStorageRef>();
      try {
        let at = 0;
        const magic = unpickleAt(bytes, at, opts(storages));
        if (BigInt(magic.value as number | bigint) !== LEGACY_MAGIC) throw new AtlasError('not a torch.save file (bad magic number)', { file: path });
        at = unpickleAt(bytes, magic.end, opts(storages)).end; // protocol version
        at = unpickleAt(bytes, at, opts(storages)).end; // sys info
        const rootPickle = unpickleAt(bytes, at, opts(storages));
        const keys = unpickleAt(bytes, rootPickle.end, opts(storages));
        if (!Array.isArray(keys.value)) throw new AtlasError('legacy torch file: storage key list missing', { file: path });
        const tensors = stateDictTensors(rootPickle.value, path);
        const offsets = new Map<string, number>();
        let pos = keys.end;
        const count = new Uint8Array(8);
        for (const key of keys.value as unknown[]) {
          const s = storages.get(String(key));
          if (pos + 8 > size) throw new AtlasError(`file ends before storage '${String(key)}'`, { file: path, hint: 'the file is truncated' });
          readExactly(fd, count, pos, path);
          const numel = Number(new DataView(count.buffer).getBigInt64(0, true));
          const bytesLen = numel * (s ? bytesPerElement(s.dtype) : 0);
          if (s) {
            checkStorageSize(s, bytesLen, path);
            offsets.set(s.key, pos + 8);
          }
          pos += 8 + bytesLen;
          if (pos > size) throw new AtlasError(`file ends inside storage '${String(key)}'`, { file: path, hint: 'the file is truncated' });
        }
        for (const s of storages.values()) if (!offsets.has(s.key)) throw new AtlasError(`storage '${s.key}' is missing`, { file: path });
        const read: StorageReader = (s, start, length) => {
          const out = new Uint8Array(length);
          readExactly(fd, out, offsets.get(s.key)! + start, path);
          return out;
        };
        return new TorchBinFile(path, 'legacy', '', tensors, read, () => closeSync(fd));
      } catch (e) {
        const ranPast = e instanceof AtlasError && e.message.includes('data ends early');
        if (!ranPast || window >= size) throw e;
      }
    }
  }

  names(): string[] {
    return [...this.tensors.keys()];
  }

  ref(name: string): TorchTensorRef {
    const t = this.tensors.get(name);
    if (!t) throw new AtlasError(`no tensor named '${name}'`, { file: this.path, field: name });
    return t;
  }

  /** One tensor as float32: reads only the storage range it spans, then materialises non-contiguous views. */
  read(name: string): F32Tensor {
    const t = this.ref(name);
    const n = numel(t.shape);
    if (n === 0) return { shape: [...t.shape], data: new Float32Array(0) };
    let extent = 1;
    for (let i = 0; i < t.shape.length; i++) extent += (t.shape[i] - 1) * t.stride[i];
    if (t.offset < 0 || t.offset + extent > t.storage.numel) {
      throw new AtlasError(`tensor '${name}' (offset ${t.offset}, size [${t.shape}], stride [${t.stride}]) runs past its storage of ${t.storage.numel} elements`, { file: this.path, field: name });
    }
    const es = bytesPerElement(t.storage.dtype);
    const bytes = this.readStorage(t.storage, t.offset * es, extent * es);
    const flat = decodeToF32(bytes, t.storage.dtype, extent);
    return { shape: [...t.shape], data: isContiguous(t.shape, t.stride) ? flat : gather(flat, t.shape, t.stride) };
  }

  close(): void {
    this.closeFile();
    this.closeFile = () => {};
  }
}

/** persistent_load for torch storages: ('storage', storage_type, key, location, numel[, view_metadata]). */
function storageLoader(file: string, storages: Map<string, TorchStorageRef>): (pid: unknown) => unknown {
  return (pid) => {
    if (!Array.isArray(pid) || pid[0] !== 'storage' || !(pid[1] instanceof StorageType)) {
      throw new AtlasError(`pickle: unsupported persistent id ${JSON.stringify(pid, (_, v) => (typeof v === 'bigint' ? String(v) : v))}`, { file });
    }
    if (pid.length > 5 && pid[5] !== null) throw new AtlasError('pickle: legacy storage views are not supported', { file, hint: 'resave the checkpoint with a current PyTorch' });
    const key = String(pid[2]);
    let s = storages.get(key);
    if (!s) {
      s = { key, dtype: (pid[1] as StorageType).dtype, numel: Number(pid[4]) };
      storages.set(key, s);
    }
    return s;
  };
}

function stateDictTensors(root: unknown, file: string): Map<string, TorchTensorRef> {
  if (!(root instanceof Map)) throw new AtlasError('pickle does not hold a dict of tensors', { file, hint: 'expected a state dict saved with torch.save(model.state_dict())' });
  const tensors = new Map<string, TorchTensorRef>();
  collectTensors(root, '', tensors);
  return tensors;
}

function checkStorageSize(s: TorchStorageRef, bytes: number, file: string): void {
  const need = s.numel * bytesPerElement(s.dtype);
  if (bytes < need) throw new AtlasError(`storage '${s.key}' holds ${bytes} bytes but ${s.numel} × ${s.dtype} need ${need}`, { file });
}

function isContiguous(shape: number[], stride: number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && stride[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/** Copies a strided view (offset already applied) into a dense row-major array. */
function gather(src: Float32Array, shape: number[], stride: number[]): Float32Array {
  const n = numel(shape);
  const out = new Float32Array(n);
  const rank = shape.length;
  const idx = new Array<number>(rank).fill(0);
  let at = 0;
  for (let i = 0; i < n; i++) {
    out[i] = src[at];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      at += stride[d];
      if (idx[d] < shape[d]) break;
      at -= stride[d] * shape[d];
      idx[d] = 0;
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// Writer

/** A strided view into a shared storage, to write non-contiguous or storage-sharing tensors (tests). */
export interface TorchTensorView {
  storage: Float32Array;
  /** In elements. Default 0. */
  offset?: number;
  shape: number[];
  /** Default: row-major contiguous. */
  stride?: number[];
}

export interface WriteTorchBinOptions {
  /** Storage dtype. Default 'F32'. */
  dtype?: 'F32' | 'F16' | 'BF16';
  /** Archive folder inside the zip. Default 'archive' (PyTorch ≥ 2.0). */
  archiveName?: string;
  /** Deflate the entries (torch never does; for testing the reader). Default false. */
  deflate?: boolean;
}

const STORAGE_CLASS = { F32: 'FloatStorage', F16: 'HalfStorage', BF16: 'BFloat16Storage' } as const;

function rowMajorStride(shape: number[]): number[] {
  const s = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/**
 * Writes a state dict exactly as `torch.save(state_dict, path)` does (zip with `<archive>/data.pkl`,
 * `byteorder`, `data/<key>`, `version` = "3\n"; pickle protocol 2; entries stored and 64-byte aligned), atomically.
 * Tensors whose data (or view storage, or lazy source object) is the same object share one storage, as tied
 * weights do in a real state dict.
 */
export function writeTorchBin(
  path: string,
  tensors: Iterable<[string, TensorSource | TorchTensorView]>,
  opts: WriteTorchBinOptions = {},
): void {
  const dtype = opts.dtype ?? 'F32';
  const archive = opts.archiveName ?? 'archive';
  const storageKeys = new Map<object, { key: string; numel: number; produce: () => Float32Array }>();
  const items: [PickleValue, PickleValue][] = [];
  const rebuild = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
  const storageClass = new PyGlobal('torch', STORAGE_CLASS[dtype]);
  for (const [name, t] of tensors) {
    let identity: object;
    let storageNumel: number;
    let produce: () => Float32Array;
    let offset = 0;
    let stride = rowMajorStride(t.shape);
    if ('storage' in t) {
      identity = t.storage;
      storageNumel = t.storage.length;
      produce = () => t.storage;
      offset = t.offset ?? 0;
      stride = t.stride ?? stride;
    } else if ('data' in t) {
      identity = t.data;
      storageNumel = t.data.length;
      produce = () => t.data;
    } else {
      identity = t;
      storageNumel = numel(t.shape);
      produce = t.produce;
    }
    let s = storageKeys.get(identity);
    if (!s) {
      s = { key: String(storageKeys.size), numel: storageNumel, produce };
      storageKeys.set(identity, s);
    }
    const pid = new PyPersistentId(['storage', storageClass, s.key, 'cpu', s.numel]);
    const backwardHooks = new PyCall(new PyGlobal('collections', 'OrderedDict'), []);
    items.push([name, new PyCall(rebuild, [pid, offset, t.shape, stride, false, backwardHooks])]);
  }
  const pkl = pickle(new PyCall(new PyGlobal('collections', 'OrderedDict'), [], items));
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  const fd = openSync(tmp, 'w');
  try {
    const zip = new ZipWriter(fd, { deflate: opts.deflate });
    zip.add(`${archive}/data.pkl`, pkl);
    zip.add(`${archive}/byteorder`, Buffer.from('little'));
    for (const s of storageKeys.values()) {
      const values = s.produce();
      if (values.length !== s.numel) throw new Error(`writeTorchBin: storage ${s.key} produced ${values.length} values, expected ${s.numel}`);
      zip.add(`${archive}/data/${s.key}`, encodeFromF32(values, dtype));
    }
    zip.add(`${archive}/version`, Buffer.from('3\n'));
    zip.finish();
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, path);
  } catch (e) {
    try { closeSync(fd); } catch { /* already closed */ }
    try { unlinkSync(tmp); } catch { /* never created */ }
    throw e;
  }
}
