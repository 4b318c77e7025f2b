/**
 * Docker's error body: `{"message": "..."}` with its status codes (400 bad parameter, 404 no such …, 409 conflict,
 * 500, 501 not supported), which the docker CLI prints as `Error response from daemon: <message>`.
 */
import { BuildError, errorCodes, errorMessage, type ErrorCode } from '../../builder/errors.js';

/** An error with the HTTP status docker would answer; thrown by handlers, turned into `{message}` in one place. */
export class DockerApiError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
    this.name = 'DockerApiError';
    Object.setPrototypeOf(this, new.target.prototype);
  }
}

export const badRequest = (message: string): DockerApiError => new DockerApiError(400, message);
export const notFound = (message: string): DockerApiError => new DockerApiError(404, message);
export const conflict = (message: string): DockerApiError => new DockerApiError(409, message);
export const notSupported = (what: string): DockerApiError =>
  new DockerApiError(501, `${what} is not supported by builder daemon`);

/** Engine codes whose table status is not what docker answers (docker has no 422: a failed step is a 500). */
const DOCKER_STATUS: Partial<Record<ErrorCode, number>> = { RUN_FAILED: 500, LAYER_INVALID: 500, CANCELLED: 500 };

/** Status and user-facing message for anything a handler threw. */
export function toDockerError(err: unknown): { statusCode: number; message: string; internal: boolean } {
  if (err instanceof DockerApiError) return { statusCode: err.statusCode, message: err.message, internal: false };
  if (err instanceof BuildError) {
    const statusCode = DOCKER_STATUS[err.code] ?? errorCodes[err.code].httpStatus;
    return { statusCode, message: err.toString(), internal: err.code === 'INTERNAL' };
  }
  // fastify's own errors (bad JSON, body too large, unsupported media type) carry their status.
  const status = (err as { statusCode?: unknown }).statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500) return { statusCode: status, message: errorMessage(err), internal: false };
  return { statusCode: 500, message: errorMessage(err), internal: true };
}
