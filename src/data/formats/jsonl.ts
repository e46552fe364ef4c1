/** JSON Lines (one object per line; blank lines skipped) and, for convenience, a JSON array of objects. */
import { AtlasError } from '../../errors.ts';
import type { RawRecord, RawTable } from './text.ts';

export function parseJsonLines(text: string, file: string): RawTable {
  const records: RawRecord[] = [];
  const columns: string[] = [];
  const known = new Set<string>();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      throw new AtlasError(`line ${i + 1}: not valid JSON (${(e as Error).message})`, { file, hint: 'each line must be one JSON object' });
    }
    records.push(toRecord(value, `line ${i + 1}`, file, columns, known));
  }
  if (records.length === 0) throw new AtlasError('the file is empty', { file, hint: 'expected one JSON object per line' });
  return { columns, records, warnings: [] };
}

export function parseJsonArray(text: string, file: string): RawTable {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new AtlasError(`not valid JSON (${(e as Error).message})`, { file, hint: 'use a JSON array of objects or JSON Lines (.jsonl)' });
  }
  if (!Array.isArray(value)) throw new AtlasError('expected a JSON array of objects', { file, hint: 'or use JSON Lines (.jsonl)' });
  if (value.length === 0) throw new AtlasError('the file is empty (an empty array)', { file });
  const columns: string[] = [];
  const known = new Set<string>();
  const records = value.map((v, i) => toRecord(v, `element ${i}`, file, columns, known));
  return { columns, records, warnings: [] };
}

function toRecord(value: unknown, where: string, file: string, columns: string[], known: Set<string>): RawRecord {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new AtlasError(`${where}: expected a JSON object, found ${Array.isArray(value) ? 'an array' : typeof value}`, { file });
  }
  for (const key of Object.keys(value)) {
    if (!known.has(key)) {
      known.add(key);
      columns.push(key);
    }
  }
  return { where, values: value as Record<string, unknown> };
}
