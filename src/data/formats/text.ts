/**
 * Strict UTF-8 decoding. Node's default decoding silently turns bad bytes into U+FFFD, which would put
 * garbage into activations; we refuse the file instead and name the first bad line.
 */
import { AtlasError } from '../../errors.ts';

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false });

/** Decodes a whole file; on invalid UTF-8 throws an AtlasError naming the 1-based line of the first bad byte. */
export function decodeUtf8Strict(bytes: Uint8Array, file: string, firstLine = 1): string {
  try {
    return strict.decode(bytes); // also drops a leading BOM
  } catch {
    throw invalidUtf8Error(bytes, file, firstLine);
  }
}

/** Finds the line of the first invalid sequence: '\n' (0x0a) never occurs inside a multi-byte UTF-8 sequence. */
export function invalidUtf8Error(bytes: Uint8Array, file: string, firstLine = 1): AtlasError {
  let line = firstLine;
  let start = 0;
  for (let i = 0; i <= bytes.length; i++) {
    if (i === bytes.length || bytes[i] === 0x0a) {
      try {
        strict.decode(bytes.subarray(start, i));
      } catch {
        return new AtlasError(`line ${line}: the text is not valid UTF-8`, {
          file,
          hint: 're-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in > out`',
        });
      }
      line++;
      start = i + 1;
    }
  }
  return new AtlasError('the text is not valid UTF-8', { file, hint: 're-encode the file as UTF-8' });
}

/** One record of a tabular source: where it came from (for messages) and its field values by column name. */
export interface RawRecord {
  /** e.g. 'line 12' or 'row 7'. */
  where: string;
  values: Record<string, unknown>;
}

export interface RawTable {
  /** Columns present in the source, in source order (for "available columns" messages). */
  columns: string[];
  records: RawRecord[];
  /** Class names per column, when the source declares them (Hugging Face ClassLabel features). */
  classLabels?: Record<string, string[]>;
  warnings: string[];
}

/** Plain text: one sample per line, no labels. Blank lines are skipped (with a warning) rather than kept as empty texts. */
export function parsePlainText(text: string, file: string, column: string): RawTable {
  const lines = text.split(/\r?\n/);
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // the final newline ends the last line
  const records: RawRecord[] = [];
  let blank = 0;
  lines.forEach((line, i) => {
    if (line.trim() === '') blank++;
    else records.push({ where: `line ${i + 1}`, values: { [column]: line } });
  });
  const warnings = blank > 0 ? [`${file}: skipped ${blank} blank line(s)`] : [];
  return { columns: [column], records, warnings };
}
