// The one error type of the certificate library: a code to branch on, the file it concerns, and a message that names the fix.

export type CertErrorCode =
  | 'BAD_PASSWORD'
  | 'CORRUPT'
  | 'NO_KEY'
  | 'KEY_MISMATCH'
  | 'NOT_EXPORTABLE'
  | 'KEY_ACCESS_DENIED'
  | 'NOT_FOUND'
  | 'NO_EXTENSION'
  | 'WRONG_EXTENSION'
  | 'EXPIRED'
  | 'BAD_CHAIN'
  | 'UNSUPPORTED';

export class CertError extends Error {
  override name = 'CertError';
  readonly code: CertErrorCode;
  readonly file?: string;

  // Build an error with its code and, when it concerns a file, the file.
  constructor(code: CertErrorCode, message: string, opts?: { file?: string; cause?: unknown }) {
    super(message, opts?.cause === undefined ? undefined : { cause: opts.cause });
    this.code = code;
    if (opts?.file !== undefined) this.file = opts.file;
  }
}
