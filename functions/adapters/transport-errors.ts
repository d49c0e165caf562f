/**
 * What the model adapters share about failed HTTP calls: which error codes
 * mean the connection could not be made or broke (worth another attempt),
 * and how server text is cut before it goes into a message.
 */

/**
 * Error codes of a connection that could not be made or broke. Only these
 * (and what an adapter adds for its own HTTP stack) are taken for a
 * connection error: a stale pooled socket fails on reuse, and neither undici
 * nor the AWS SDK (with its retries off) replays the request.
 */
export const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/**
 * The connection code of `err`: its own `code`, an AggregateError's (a
 * connect that failed on every address) or one down its `cause` chain (a
 * wrapper around the socket's error). A code in {@link CONNECTION_CODES} wins
 * over one in `extra`, because it says more (ECONNREFUSED rather than "stream
 * cancelled"). `undefined` when there is none: the error is not known to be
 * a connection error.
 */
export function findConnectionCode(err: unknown, extra: ReadonlySet<string> = new Set()): string | undefined {
  const seen: string[] = [];
  const visit = (e: unknown, depth: number): void => {
    if (typeof e !== 'object' || e === null || depth > 5) return;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') seen.push(code);
    if (e instanceof AggregateError) for (const inner of e.errors) visit(inner, depth + 1);
    visit((e as { cause?: unknown }).cause, depth + 1);
  };
  visit(err, 0);
  return seen.find((c) => CONNECTION_CODES.has(c)) ?? seen.find((c) => extra.has(c));
}

/** The `code` of `err` when it is a non-empty string. */
export function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null | undefined)?.code;
  return typeof code === 'string' && code !== '' ? code : undefined;
}

/** `s` cut to `max` characters with an ellipsis, for server text quoted in error messages. */
export function truncate(s: string, max = 300): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}
