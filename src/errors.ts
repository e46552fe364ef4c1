/**
 * The one error type users see. Every failure caused by input (a file, a field, an option) is raised as an
 * AtlasError whose message names the file, the field and the fix; the CLI prints the message alone, never a
 * stack trace. Anything else that escapes is a bug and is printed with its stack.
 */
export interface AtlasErrorDetails {
  /** The file (or URL) the problem is in, when there is one. */
  file?: string;
  /** The field, tensor or option at fault. */
  field?: string;
  /** What the user can do about it. */
  hint?: string;
  cause?: unknown;
}

export class AtlasError extends Error {
  readonly file?: string;
  readonly field?: string;
  readonly hint?: string;

  constructor(problem: string, details: AtlasErrorDetails = {}) {
    const parts: string[] = [];
    if (details.file) parts.push(details.file);
    if (details.field) parts.push(`field '${details.field}'`);
    const where = parts.length ? `${parts.join(': ')}: ` : '';
    super(`${where}${problem}${details.hint ? ` (${details.hint})` : ''}`, { cause: details.cause });
    this.name = 'AtlasError';
    this.file = details.file;
    this.field = details.field;
    this.hint = details.hint;
  }
}

export function isAtlasError(e: unknown): e is AtlasError {
  return e instanceof AtlasError;
}
