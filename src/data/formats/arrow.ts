/**
 * Hugging Face `Dataset.save_to_disk` folders: `state.json` lists the shard files (`data-0000i-of-0000N.arrow`,
 * Arrow IPC *stream* format), `dataset_info.json` holds the features; a ClassLabel feature gives the names of
 * the integer labels. A `DatasetDict` folder (`dataset_dict.json` + one folder per split) is read one split at a time.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { AtlasError } from '../../errors.ts';
import type { RawRecord, RawTable } from './text.ts';

export function isHuggingFaceFolder(dir: string): boolean {
  return ['state.json', 'dataset_info.json', 'dataset_dict.json'].some((f) => existsSync(join(dir, f)));
}

function readJson(path: string): any {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new AtlasError(`cannot read JSON (${(e as Error).message})`, { file: path });
  }
}

/** Reads the needed columns of a save_to_disk folder. `split` picks a DatasetDict split (default 'train', else the first). */
export function readHuggingFaceFolder(dir: string, wanted: string[], split?: string): RawTable {
  const warnings: string[] = [];
  const dictFile = join(dir, 'dataset_dict.json');
  if (existsSync(dictFile)) {
    const splits: string[] = readJson(dictFile).splits ?? [];
    const chosen = split ?? (splits.includes('train') ? 'train' : splits[0]);
    if (!chosen || !splits.includes(chosen)) {
      throw new AtlasError(`split '${split}' not found; available: ${splits.join(', ')}`, { file: dictFile, field: 'split' });
    }
    if (!split && splits.length > 1) warnings.push(`${dir}: using split '${chosen}' of ${splits.join(', ')} (choose with the split option)`);
    const inner = readHuggingFaceFolder(join(dir, chosen), wanted);
    return { ...inner, warnings: [...warnings, ...inner.warnings] };
  }

  const files = shardFiles(dir);
  const classLabels: Record<string, string[]> = {};
  const infoFile = join(dir, 'dataset_info.json');
  let features: Record<string, any> | undefined;
  if (existsSync(infoFile)) features = readJson(infoFile).features;

  const records: RawRecord[] = [];
  let columns: string[] = [];
  let row = 0;
  for (const file of files) {
    let table;
    try {
      table = tableFromIPC(readFileSync(file)); // accepts the stream format (and the file format)
    } catch (e) {
      throw new AtlasError(`cannot read Arrow data (${(e as Error).message})`, { file, hint: 'expected an Arrow IPC stream written by datasets.save_to_disk' });
    }
    const names = table.schema.fields.map((f) => f.name);
    if (columns.length === 0) columns = names;
    if (!features) {
      // Older folders keep the features only in the Arrow schema metadata.
      const meta = table.schema.metadata.get('huggingface');
      if (meta) features = JSON.parse(meta)?.info?.features;
    }
    const vectors = wanted.filter((c) => names.includes(c)).map((c) => [c, table.getChild(c)!] as const);
    for (let i = 0; i < table.numRows; i++, row++) {
      const values: Record<string, unknown> = {};
      for (const [c, v] of vectors) {
        const x = v.get(i);
        values[c] = typeof x === 'bigint' ? Number(x) : x;
      }
      records.push({ where: `row ${row} (0-based)`, values });
    }
  }
  for (const [name, feature] of Object.entries(features ?? {})) {
    if (feature && feature._type === 'ClassLabel' && Array.isArray(feature.names)) classLabels[name] = feature.names.map(String);
  }
  if (records.length === 0) throw new AtlasError('the dataset has no rows', { file: dir });
  return { columns, records, classLabels, warnings };
}

/** Shards in state.json order, or `data-*.arrow` sorted by name when state.json is absent. */
function shardFiles(dir: string): string[] {
  const stateFile = join(dir, 'state.json');
  let names: string[];
  if (existsSync(stateFile)) {
    const state = readJson(stateFile);
    names = (state._data_files ?? []).map((f: { filename: string }) => f.filename);
  } else {
    names = readdirSync(dir).filter((f) => f.endsWith('.arrow')).sort();
  }
  if (names.length === 0) throw new AtlasError('no .arrow data files found', { file: dir, hint: 'expected a folder written by datasets.save_to_disk' });
  return names.map((n) => {
    const path = join(dir, n);
    if (!existsSync(path) || !statSync(path).isFile()) throw new AtlasError(`data file '${n}' listed in state.json is missing`, { file: dir });
    return path;
  });
}

/** A single .arrow file (stream or file format) outside a save_to_disk folder. */
export function readArrowFile(file: string, wanted: string[]): RawTable {
  let table;
  try {
    table = tableFromIPC(readFileSync(file));
  } catch (e) {
    throw new AtlasError(`cannot read Arrow data (${(e as Error).message})`, { file });
  }
  const columns = table.schema.fields.map((f) => f.name);
  const vectors = wanted.filter((c) => columns.includes(c)).map((c) => [c, table.getChild(c)!] as const);
  const records: RawRecord[] = [];
  for (let i = 0; i < table.numRows; i++) {
    const values: Record<string, unknown> = {};
    for (const [c, v] of vectors) {
      const x = v.get(i);
      values[c] = typeof x === 'bigint' ? Number(x) : x;
    }
    records.push({ where: `row ${i} (0-based)`, values });
  }
  if (records.length === 0) throw new AtlasError('the file has no rows', { file });
  return { columns, records, warnings: [] };
}
