/**
 * Shared pieces of environment parsing: every function's config reads its
 * variables the same way and reports a bad one the same way.
 */
import * as z from 'zod';
import { ConfigError } from './core/errors';

/** A key prefix: empty, or ending in `/`. */
export const keyPrefix = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((p) => p === '' || p.endsWith('/'), 'expected a key prefix ending in "/" (or empty)');

/** Log levels every function accepts in `LOG_LEVEL`. */
export const logLevel = z.enum(['debug', 'info', 'warn', 'error']).default('info');

/**
 * Parses `env` with `schema`. Empty strings count as unset (CloudFormation
 * and shells both produce them).
 *
 * @throws {ConfigError} naming every bad variable, what it expected and what it got.
 */
export function parseEnvironment<S extends z.ZodType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<S> {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = schema.safeParse(cleaned);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const name = String(i.path[0] ?? 'environment');
      const got = cleaned[name] === undefined ? 'it is not set' : `got ${JSON.stringify(cleaned[name])}`;
      return `${name}: ${i.message} (${got})`;
    });
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return parsed.data;
}
