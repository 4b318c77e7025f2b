/**
 * One error body for the API, `{ statusCode, code, message }`: BuildErrors by the code table, fastify's own
 * errors (bad JSON, body limit, validation) with a message a client can act on; 5xx detail only in the log.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { BuildError, errorCodes } from '../builder/errors.js';
import { PayloadTooLarge } from './context-upload.js';

/** An HTTP error with a stable code (401, 403, 404, 409 …). */
export class ApiError extends Error {
  constructor(readonly statusCode: number, readonly code: string, message: string) {
    super(message);
    this.name = 'ApiError';
  }
}

export function errorHandler(maxContextBytes: number) {
  return (err: FastifyError | Error, request: FastifyRequest, reply: FastifyReply): void => {
    const { statusCode, code, message } = describe(err, maxContextBytes);
    if (statusCode >= 500) request.log.error({ err }, 'request failed');
    void reply.code(statusCode).send({ statusCode, code, message: statusCode >= 500 ? 'internal error (see the API log)' : message });
  };
}

function describe(err: FastifyError | Error, maxContextBytes: number): { statusCode: number; code: string; message: string } {
  if (err instanceof ApiError) return { statusCode: err.statusCode, code: err.code, message: err.message };
  if (err instanceof PayloadTooLarge) return { statusCode: 413, code: 'CONTEXT_TOO_LARGE', message: err.message };
  if (err instanceof BuildError) return { statusCode: errorCodes[err.code].httpStatus, code: err.code, message: err.toString() };
  const fastifyError = err as FastifyError;
  if (fastifyError.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return {
      statusCode: 413, code: 'CONTEXT_TOO_LARGE',
      message: `request body is larger than the limit of ${maxContextBytes} bytes ([api] max_context_bytes); shrink the context with .dockerignore`,
    };
  }
  if (fastifyError.validation) {
    return { statusCode: 400, code: 'INVALID_ARGUMENT', message: `invalid ${fastifyError.validationContext ?? 'request'}: ${fastifyError.message}` };
  }
  const status = fastifyError.statusCode ?? 500;
  if (status >= 400 && status < 500) {
    const code = fastifyError.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE' ? 'UNSUPPORTED_MEDIA_TYPE' : 'INVALID_ARGUMENT';
    return { statusCode: status, code, message: fastifyError.message };
  }
  return { statusCode: 500, code: 'INTERNAL', message: err.message };
}
