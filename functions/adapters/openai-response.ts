/**
 * The endpoint's response: its body read within a size limit, and a chat
 * completion turned into a {@link ModelReply}.
 *
 * The limit matters because the body comes from a server fieldlens does
 * not control: a misconfigured proxy, a wrong URL serving a file, or a
 * server stuck in a loop must cost one field an error, not the invocation
 * its memory. A reply that max_tokens bounds is a few kilobytes; the
 * default limit is far above any real answer.
 */
import type { Readable } from 'node:stream';
import { ErrorCode, ModelError } from '../core/errors';
import type { TokenLogprob } from '../core/confidence';
import type { ModelReply } from '../core/ports';
import { firstHeader, type HeaderMap } from './retry-after';
import { truncate } from './transport-errors';

/** Default limit of a successful response's body. */
export const DEFAULT_MAX_RESPONSE_BYTES = 8 * 1024 * 1024;

/** Most bytes of an error response read for its message; the rest is dropped unread. */
export const ERROR_BODY_BYTES = 64 * 1024;

/** A body read up to a limit. */
export interface BoundedBody {
  /** The bytes read, as UTF-8 text (at most the limit). */
  readonly text: string;
  /** The body was longer than the limit: reading stopped there and the stream was destroyed. */
  readonly overflowed: boolean;
}

/**
 * Reads `body` as a stream up to `maxBytes`. At the limit it stops and
 * destroys the stream, which makes undici abort the request and close the
 * socket, so the rest of an endless body is never received. A declared
 * `content-length` above the limit stops it before reading anything.
 *
 * Errors of the stream itself (a reset, a body timeout) are thrown as they
 * are, for the caller to classify.
 */
export async function readBounded(body: Readable, maxBytes: number, declaredBytes?: number): Promise<BoundedBody> {
  if (declaredBytes !== undefined && declaredBytes > maxBytes) {
    // An 'error' listener first: destroying an unread undici body emits one.
    body.on('error', () => {}).destroy();
    return { text: '', overflowed: true };
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    const room = maxBytes - size;
    if (chunk.length > room) {
      chunks.push(chunk.subarray(0, room));
      // Leaving the loop early destroys the stream (the async iterator's
      // return), and the iterator keeps its error listener while it does.
      return { text: Buffer.concat(chunks).toString('utf8'), overflowed: true };
    }
    chunks.push(chunk);
    size += chunk.length;
  }
  return { text: Buffer.concat(chunks, size).toString('utf8'), overflowed: false };
}

/** The `content-length` header as a number, if it is one. */
export function declaredLength(headers: HeaderMap): number | undefined {
  const v = firstHeader(headers, 'content-length');
  const n = Number(v);
  return v !== undefined && v.trim() !== '' && Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

/**
 * The error for a successful response whose body passed the limit. Not
 * retryable: at temperature 0 the same request to the same endpoint sends
 * the same body again, and a body this far above what max_tokens allows
 * means the endpoint is misconfigured, not briefly unwell.
 */
export function responseTooLarge(maxBytes: number, status: number): ModelError {
  return new ModelError(
    ErrorCode.MODEL_RESPONSE_TOO_LARGE,
    `the endpoint's response was larger than ${maxBytes} bytes; reading stopped there`,
    { retryable: false, status },
  );
}

/** What the request asked for, which decides what the reply must carry. */
export interface CompletionOptions {
  /** The request asked for log-probabilities: the reply gets `logprobs` (`null` when the endpoint sent none). */
  readonly logprobs?: boolean;
}

/**
 * Reads the assistant's text, finish reason and usage from a chat
 * completion, and its tokens' log-probabilities when they were asked for.
 */
export function parseCompletion(text: string, options: CompletionOptions = {}): ModelReply {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ModelError(ErrorCode.MODEL_BAD_RESPONSE, `the endpoint's response is not JSON: ${truncate(text, 120)}`, {
      retryable: false,
    });
  }
  const choice = (parsed as { choices?: Array<{ message?: { content?: unknown }; finish_reason?: unknown; logprobs?: unknown }> })
    ?.choices?.[0];
  if (!choice || typeof choice !== 'object') {
    throw new ModelError(ErrorCode.MODEL_BAD_RESPONSE, 'the response has no choices[0]', { retryable: false });
  }
  const content = choice.message?.content;
  const reply =
    typeof content === 'string'
      ? content
      : Array.isArray(content)
        ? content.map((p: { text?: unknown }) => (typeof p?.text === 'string' ? p.text : '')).join('')
        : '';
  const u = (parsed as { usage?: UsageBody }).usage;
  const cached = u ? cachedTokensOf(u) : undefined;
  const usage =
    u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number'
      ? {
          promptTokens: Math.round(u.prompt_tokens),
          completionTokens: Math.round(u.completion_tokens),
          ...(cached !== undefined ? { cachedTokens: Math.min(cached, Math.round(u.prompt_tokens)) } : {}),
        }
      : undefined;
  return {
    text: reply,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
    ...(usage ? { usage } : {}),
    ...(options.logprobs ? { logprobs: tokenLogprobs(choice.logprobs) } : {}),
  };
}

/**
 * `choices[0].logprobs.content` as token log-probabilities, or `null` when
 * it is absent or any entry is malformed: one missing token would shift every
 * later token's place in the reply, so a partial list is worse than none.
 * Only `token`, `logprob` and `bytes` are kept (never the alternatives).
 */
export function tokenLogprobs(logprobs: unknown): TokenLogprob[] | null {
  const content = (logprobs as { content?: unknown } | null | undefined)?.content;
  if (!Array.isArray(content) || content.length === 0) return null;
  const out: TokenLogprob[] = [];
  for (const entry of content as unknown[]) {
    const t = entry as { token?: unknown; logprob?: unknown; bytes?: unknown } | null;
    if (!t || typeof t.token !== 'string' || typeof t.logprob !== 'number' || Number.isNaN(t.logprob)) return null;
    const bytes = Array.isArray(t.bytes) && t.bytes.every((b) => Number.isInteger(b) && b >= 0 && b < 256) ? (t.bytes as number[]) : null;
    out.push({ token: t.token, logprob: t.logprob, bytes });
  }
  return out;
}

/** The usage object of a chat completion, as the servers fieldlens talks to send it. */
interface UsageBody {
  readonly prompt_tokens?: unknown;
  readonly completion_tokens?: unknown;
  /** OpenAI, vLLM (`--enable-prompt-tokens-details`), SGLang, DashScope, Azure: `{ cached_tokens }`. */
  readonly prompt_tokens_details?: { readonly cached_tokens?: unknown } | null;
  /** DeepSeek: prompt tokens found in its context cache. */
  readonly prompt_cache_hit_tokens?: unknown;
  /** Moonshot (Kimi): the same, at the top of `usage`. */
  readonly cached_tokens?: unknown;
}

/**
 * The prompt tokens served from the endpoint's prompt cache, under
 * whichever name the server uses; `undefined` when it sent none. The
 * standard `prompt_tokens_details.cached_tokens` wins over the others.
 */
function cachedTokensOf(u: UsageBody): number | undefined {
  for (const v of [u.prompt_tokens_details?.cached_tokens, u.prompt_cache_hit_tokens, u.cached_tokens]) {
    if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return Math.round(v);
  }
  return undefined;
}
