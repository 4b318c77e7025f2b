/** TypeBox schemas of the API: validation (unknown fields rejected) and the OpenAPI document come from these. */
import { Type, type Static, type TSchema } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { BuildError } from '../builder/errors.js';

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  code: Type.String({ description: 'stable error code, e.g. INVALID_REFERENCE, UNAUTHORIZED, CONTEXT_TOO_LARGE' }),
  message: Type.String(),
});

/** `POST /v1/builds` with a JSON body: a git source. */
export const GitBuildBody = Type.Object({
  git: Type.Object({
    url: Type.String({ minLength: 1, description: 'https://, ssh://, git://, file:// or user@host:path' }),
    ref: Type.Optional(Type.String({ minLength: 1, description: 'branch, tag or full commit sha (default HEAD)' })),
  }, { additionalProperties: false }),
  dockerfile: Type.Optional(Type.String({ description: 'path inside the context (default Dockerfile)' })),
  tags: Type.Optional(Type.Array(Type.String())),
  buildArgs: Type.Optional(Type.Record(Type.String(), Type.String())),
  target: Type.Optional(Type.String()),
  push: Type.Optional(Type.Boolean()),
  noCache: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
export type GitBuildBody = Static<typeof GitBuildBody>;

/** The build options of a tar upload, in the query (Docker Engine API names) or the X-Build-Request header. */
export const UploadOptions = Type.Object({
  t: Type.Optional(Type.Array(Type.String(), { description: 'tag; repeatable' })),
  dockerfile: Type.Optional(Type.String()),
  buildarg: Type.Optional(Type.Array(Type.String(), { description: 'NAME=VALUE; repeatable' })),
  target: Type.Optional(Type.String()),
  push: Type.Optional(Type.Boolean()),
  nocache: Type.Optional(Type.Boolean()),
}, { additionalProperties: false });
export type UploadOptions = Static<typeof UploadOptions>;

export const BuildIdParams = Type.Object({ id: Type.String({ pattern: '^[0-9a-f]{32}$' }) });

export const ListQuery = Type.Object({
  state: Type.Optional(Type.Array(Type.String({ enum: ['queued', 'running', 'succeeded', 'failed', 'cancelled'], description: 'queued|running|succeeded|failed|cancelled; repeatable' }))),
  repository: Type.Optional(Type.String()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 20 })),
  cursor: Type.Optional(Type.Integer({ minimum: 0, description: 'the `next` of the previous page' })),
}, { additionalProperties: false });
export type ListQuery = Static<typeof ListQuery>;

export const LogsQuery = Type.Object({
  format: Type.Optional(Type.String({ enum: ['sse', 'text'], description: 'sse (default) or text: BuildKit plain progress lines' })),
  follow: Type.Optional(Type.Boolean({ default: true, description: 'false: what is logged so far, then end' })),
}, { additionalProperties: false });
export type LogsQuery = Static<typeof LogsQuery>;

export const Accepted = Type.Object({ id: Type.String(), duplicate: Type.Optional(Type.Boolean()) });

const checkers = new Map<TSchema, ReturnType<typeof TypeCompiler.Compile>>();

/** Validates `value` (already parsed JSON) against `schema`; the error names the field and what is wrong. */
export function checkBody<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  let checker = checkers.get(schema);
  if (!checker) {
    checker = TypeCompiler.Compile(schema);
    checkers.set(schema, checker);
  }
  if (checker.Check(value)) return value as Static<T>;
  const first = checker.Errors(value).First();
  const where = first?.path ? first.path : '/';
  throw new BuildError('INVALID_ARGUMENT', `invalid ${what}: ${where}: ${first?.message ?? 'does not match the schema'}`);
}
