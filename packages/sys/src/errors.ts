/** What went wrong, as data. */
export type SysErrorCode = 'unprotected-secret-file' | 'not-a-file';

/** The error of @flotilla/sys: a `code`, the `path` concerned, and a message that says how to fix it. */
export class SysError extends Error {
  override readonly name = 'SysError';
  readonly code: SysErrorCode;
  readonly path: string;
  constructor(code: SysErrorCode, path: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.path = path;
  }
}

/** True for a {@link SysError} (also from another copy of this module: `instanceof` is not used). */
export function isSysError(e: unknown): e is SysError {
  return e instanceof Error && e.name === 'SysError' && typeof (e as { code?: unknown }).code === 'string';
}
