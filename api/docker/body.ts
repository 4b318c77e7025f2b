/** Typed reads of a JSON request body: a wrong type is docker's 400, never a silent default. */
import { badRequest } from './errors.js';

export type JsonObject = Record<string, unknown>;

export function objectBody(body: unknown, what: string): JsonObject {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw badRequest(`invalid ${what}: the body must be a JSON object`);
  return body as JsonObject;
}

export function optString(obj: JsonObject, key: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw badRequest(`json: cannot unmarshal ${typeof value} into field ${key} of type string`);
  return value;
}

export function optBool(obj: JsonObject, key: string): boolean | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw badRequest(`json: cannot unmarshal ${typeof value} into field ${key} of type bool`);
  return value;
}

export function optStringMap(obj: JsonObject, key: string): Record<string, string> | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw badRequest(`json: cannot unmarshal ${Array.isArray(value) ? 'array' : typeof value} into field ${key} of type map[string]string`);
  }
  return value as Record<string, string>;
}
