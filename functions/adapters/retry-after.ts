/**
 * The server's own wait hint, read from HTTP response headers. Shared by
 * every model adapter, so an OpenAI-compatible endpoint and Bedrock are
 * waited for by the same rules.
 */

/** Response headers as Node and undici give them: lower-case names, repeated ones as arrays. */
export type HeaderMap = Readonly<Record<string, string | string[] | undefined>>;

/** The first value of header `name` (lower-case), if any. */
export function firstHeader(headers: HeaderMap, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The server's wait hint in milliseconds: `retry-after-ms`, then
 * `Retry-After` as seconds or an HTTP date. `undefined` when there is no
 * usable hint.
 *
 * @example
 * ```ts
 * parseRetryAfter({ 'retry-after': '2' }) // 2000
 * ```
 */
export function parseRetryAfter(headers: HeaderMap, now = Date.now()): number | undefined {
  const ms = firstHeader(headers, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = firstHeader(headers, 'retry-after');
  if (ra === undefined || ra.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(ra.trim())) return Math.max(0, Number(ra) * 1000);
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}
