/** One error type for the whole engine: a stable code, an optional Dockerfile location, a message a user can act on. */
export type ErrorCode =
  | 'DOCKERFILE_PARSE'
  | 'DOCKERFILE_INVALID'
  | 'UNKNOWN_INSTRUCTION'
  | 'NO_FROM'
  | 'UNKNOWN_STAGE'
  | 'COPY_SOURCE_MISSING'
  | 'COPY_OUTSIDE_CONTEXT'
  | 'RUN_FAILED'
  | 'IMAGE_NOT_FOUND'
  | 'INVALID_ARGUMENT'
  | 'INVALID_REFERENCE'
  | 'LAYER_INVALID'
  | 'ARCHIVE_INVALID'
  | 'STORE_CORRUPT'
  | 'RUNC_MISSING'
  | 'NOT_ROOT'
  | 'SANDBOX_FAILED'
  | 'REGISTRY_AUTH'
  | 'REGISTRY_NOT_FOUND'
  | 'REGISTRY_UNAVAILABLE'
  | 'CANCELLED'
  | 'CACHE_BLOB_UNAVAILABLE'
  | 'CONTAINER_NOT_FOUND'
  | 'NETWORK_NOT_FOUND'
  | 'VOLUME_NOT_FOUND'
  | 'PORT_IN_USE'
  | 'CONFLICT'
  | 'NOT_SUPPORTED'
  | 'INTERNAL';

export interface ErrorCodeInfo {
  exitCode: number;
  httpStatus: number;
  retryable: boolean;
}

/** The one code table: CLI exit code, API status, and whether a worker should retry. */
export const errorCodes: Record<ErrorCode, ErrorCodeInfo> = {
  DOCKERFILE_PARSE: { exitCode: 1, httpStatus: 400, retryable: false },
  DOCKERFILE_INVALID: { exitCode: 1, httpStatus: 400, retryable: false },
  UNKNOWN_INSTRUCTION: { exitCode: 1, httpStatus: 400, retryable: false },
  NO_FROM: { exitCode: 1, httpStatus: 400, retryable: false },
  UNKNOWN_STAGE: { exitCode: 1, httpStatus: 400, retryable: false },
  COPY_SOURCE_MISSING: { exitCode: 1, httpStatus: 400, retryable: false },
  COPY_OUTSIDE_CONTEXT: { exitCode: 1, httpStatus: 400, retryable: false },
  RUN_FAILED: { exitCode: 1, httpStatus: 422, retryable: false },
  IMAGE_NOT_FOUND: { exitCode: 1, httpStatus: 404, retryable: false },
  INVALID_ARGUMENT: { exitCode: 2, httpStatus: 400, retryable: false },
  INVALID_REFERENCE: { exitCode: 2, httpStatus: 400, retryable: false },
  LAYER_INVALID: { exitCode: 1, httpStatus: 422, retryable: false },
  ARCHIVE_INVALID: { exitCode: 1, httpStatus: 400, retryable: false },
  STORE_CORRUPT: { exitCode: 1, httpStatus: 500, retryable: true },
  RUNC_MISSING: { exitCode: 1, httpStatus: 500, retryable: false },
  NOT_ROOT: { exitCode: 1, httpStatus: 500, retryable: false },
  SANDBOX_FAILED: { exitCode: 1, httpStatus: 500, retryable: true },
  REGISTRY_AUTH: { exitCode: 1, httpStatus: 401, retryable: false },
  REGISTRY_NOT_FOUND: { exitCode: 1, httpStatus: 404, retryable: false },
  REGISTRY_UNAVAILABLE: { exitCode: 1, httpStatus: 503, retryable: true },
  CANCELLED: { exitCode: 130, httpStatus: 409, retryable: false },
  // A cached layer's blob could not be fetched from where the cache said it lives; the engine re-runs the step.
  CACHE_BLOB_UNAVAILABLE: { exitCode: 1, httpStatus: 503, retryable: true },
  // The run side: docker's statuses (404 no such …, 409 name in use / container running / volume in use).
  CONTAINER_NOT_FOUND: { exitCode: 1, httpStatus: 404, retryable: false },
  NETWORK_NOT_FOUND: { exitCode: 1, httpStatus: 404, retryable: false },
  VOLUME_NOT_FOUND: { exitCode: 1, httpStatus: 404, retryable: false },
  PORT_IN_USE: { exitCode: 125, httpStatus: 500, retryable: false },
  CONFLICT: { exitCode: 1, httpStatus: 409, retryable: false },
  NOT_SUPPORTED: { exitCode: 1, httpStatus: 501, retryable: false },
  INTERNAL: { exitCode: 1, httpStatus: 500, retryable: true },
};

export interface BuildErrorOptions {
  file?: string;
  line?: number;
  cause?: unknown;
  /** Extra lines shown after the message (e.g. the last lines of a failed RUN's output). */
  detail?: string;
}

export class BuildError extends Error {
  readonly code: ErrorCode;
  file?: string;
  line?: number;
  detail?: string;

  constructor(code: ErrorCode, message: string, options: BuildErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'BuildError';
    Object.setPrototypeOf(this, new.target.prototype);
    this.code = code;
    this.file = options.file;
    this.line = options.line;
    this.detail = options.detail;
  }

  /** `Dockerfile:7: COPY failed: ...` when a location is known, else the bare message. */
  override toString(): string {
    return this.file && this.line ? `${this.file}:${this.line}: ${this.message}` : this.message;
  }
}

/** Adds a Dockerfile location to an error (the solver's one place for this); keeps an existing location. */
export function withLocation(err: unknown, file: string, line: number): BuildError {
  const buildError = err instanceof BuildError ? err : new BuildError('INTERNAL', errorMessage(err), { cause: err });
  if (buildError.line === undefined) {
    buildError.file = file;
    buildError.line = line;
  }
  return buildError;
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Several Dockerfile problems reported together before anything runs. */
export class BuildErrors extends BuildError {
  readonly errors: BuildError[];
  constructor(errors: BuildError[]) {
    super(errors[0]!.code, errors.map((e) => e.toString()).join('\n'), { file: errors[0]!.file, line: errors[0]!.line });
    this.name = 'BuildErrors';
    Object.setPrototypeOf(this, new.target.prototype);
    this.errors = errors;
  }
  override toString(): string {
    return this.message;
  }
}
