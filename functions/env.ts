/**
 * Shared pieces of environment parsing: every function's config reads its
 * variables the same way and reports a bad one the same way.
 */
import * as z from 'zod';
import { ConfigError } from './core/errors';

/** A key prefix: empty (the bucket's root), or ending in `/`. */
export const keyPrefix = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .refine((p) => p === '' || p.endsWith('/'), 'expected a key prefix ending in "/" (or empty)');

/** Log levels every function accepts in `LOG_LEVEL`. */
export const logLevel = z.enum(['debug', 'info', 'warn', 'error']).default('info');

/**
 * Variables whose empty value is a value, not "unset": an empty prefix is
 * the bucket's root, and the stack passes it as `''`. Reading it as unset
 * would put the default (`incoming/`) in its place, and the function would
 * watch a prefix nothing arrives under.
 */
export const EMPTY_IS_A_VALUE: ReadonlySet<string> = new Set(['INPUT_PREFIX', 'OUTPUT_PREFIX']);

/**
 * Parses `env` with `schema`. Empty strings count as unset (CloudFormation
 * and shells both produce them), except for the variables in
 * {@link EMPTY_IS_A_VALUE}.
 *
 * @throws {ConfigError} naming every bad variable, what it expected and what it got.
 */
export function parseEnvironment<S extends z.ZodType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>>,
): z.infer<S> {
  const cleaned = Object.fromEntries(
    Object.entries(env).filter(([k, v]) => v !== undefined && (v !== '' || EMPTY_IS_A_VALUE.has(k))),
  );
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

/** Where images arrive and where results go, as parsed. */
export interface PrefixVariables {
  readonly INPUT_PREFIX: string;
  readonly OUTPUT_PREFIX: string;
  /** Unset: results go to the bucket each image came from. */
  readonly OUTPUT_BUCKET?: string | undefined;
}

/**
 * Refuses prefixes that overlap in one bucket: both empty, the input prefix
 * under the output prefix (every image would be taken for a result and
 * skipped), or the output prefix under the input prefix (every result
 * would arrive as a new image and start another invocation).
 *
 * Applies only when `OUTPUT_BUCKET` is unset, which means "the source
 * bucket": the stack leaves it unset exactly when the two buckets are one.
 * With `OUTPUT_BUCKET` set, the source bucket is known only from each
 * event, so whether the two are one bucket cannot be told at start-up;
 * the core still never processes a key under the output prefix.
 *
 * @throws {ConfigError} naming both variables, their values and what to change.
 */
export function refuseOverlappingPrefixes(e: PrefixVariables): void {
  if (e.OUTPUT_BUCKET !== undefined) return;
  const reason = overlap(e.INPUT_PREFIX, e.OUTPUT_PREFIX);
  if (reason === undefined) return;
  throw new ConfigError(
    `INPUT_PREFIX ${JSON.stringify(e.INPUT_PREFIX)} and OUTPUT_PREFIX ${JSON.stringify(e.OUTPUT_PREFIX)} overlap in the same bucket ` +
      `(OUTPUT_BUCKET is not set, so results go to the bucket the images arrive in): ${reason}. ` +
      'Change one of them so that neither starts with the other, such as INPUT_PREFIX=incoming/ and OUTPUT_PREFIX=results/, ' +
      'or write the results to another bucket with OUTPUT_BUCKET',
  );
}

function overlap(input: string, output: string): string | undefined {
  const root = (p: string) => (p === '' ? ' (empty: the bucket\'s root)' : '');
  if (input === '' && output === '') return 'both are empty (the bucket\'s root), so every key is under both';
  if (input === output) return 'they are the same prefix, so every image would be taken for a result and skipped';
  if (input.startsWith(output)) {
    return `INPUT_PREFIX is under OUTPUT_PREFIX${root(output)}, so every image would be taken for a result and skipped`;
  }
  if (output.startsWith(input)) {
    return `OUTPUT_PREFIX is under INPUT_PREFIX${root(input)}, so every result would arrive as a new image and start another invocation`;
  }
  return undefined;
}
