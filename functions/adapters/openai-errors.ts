/**
 * How a failed request to an OpenAI-compatible endpoint becomes a
 * {@link ModelError}: a non-2xx status by its code, headers and error body;
 * a transport failure by what undici or the socket reported. The retry
 * decision in the core reads only `code`, `retryable` and `retryAfterMs`.
 */
import { errors as undiciErrors } from 'undici';
import { ErrorCode, ModelError } from '../core/errors';
import { firstHeader, parseRetryAfter, type HeaderMap } from './retry-after';
import { codeOf, findConnectionCode, truncate } from './transport-errors';

/** What the client knew about the attempt when it failed. */
export interface AttemptSignals {
  /** The invocation's deadline. */
  readonly deadline: AbortSignal;
  /** This attempt's own timeout. */
  readonly attemptTimeout: AbortSignal;
  readonly timeoutMs: number;
  /** `Date.now()` when the attempt started. */
  readonly startedAt: number;
}

/**
 * Classifies an error thrown while sending the request or reading the
 * response. Only a deadline, a timeout or a known connection failure is
 * named as such; anything else (a bug, a bad argument, an error nobody
 * expected) is a final `INTERNAL` error naming the original, never a
 * connection error that would be retried.
 */
export function classifyTransportError(err: unknown, attempt: AttemptSignals, now = Date.now()): ModelError {
  if (attempt.deadline.aborted) {
    return new ModelError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed while waiting for the model', {
      retryable: false,
      cause: err,
    });
  }
  if (
    attempt.attemptTimeout.aborted ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError
  ) {
    return new ModelError(
      ErrorCode.MODEL_TIMEOUT,
      `no answer within the attempt timeout of ${attempt.timeoutMs} ms (waited ${now - attempt.startedAt} ms)`,
      { retryable: true, cause: err },
    );
  }
  const code = findConnectionCode(err);
  if (code !== undefined || err instanceof undiciErrors.SocketError) {
    const shown = code ?? (err as Error).message;
    return new ModelError(ErrorCode.MODEL_CONNECTION, `connection to the model endpoint failed: ${shown}`, {
      retryable: true,
      cause: err,
      context: { code: code ?? 'UND_ERR_SOCKET' },
    });
  }
  return new ModelError(ErrorCode.INTERNAL, `the request to the model endpoint failed unexpectedly: ${describe(err)}`, {
    retryable: false,
    cause: err,
    ...(codeOf(err) !== undefined ? { context: { code: codeOf(err) } } : {}),
  });
}

/** `Name: message (CODE)` of anything thrown. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return `a thrown ${err === null ? 'null' : typeof err} ${truncate(String(err), 120)}`;
  const code = codeOf(err);
  return `${err.name}: ${truncate(err.message, 200)}${code ? ` (${code})` : ''}`;
}

/** Turns a non-2xx response into a classified error. */
export function classifyStatus(status: number, headers: HeaderMap, bodyText: string): ModelError {
  const detail = errorDetail(bodyText);
  const message = `model endpoint answered HTTP ${status}${detail.message ? `: ${detail.message}` : ''}`;
  const retryAfterMs = parseRetryAfter(headers);
  const shouldRetry = firstHeader(headers, 'x-should-retry');
  const base = { status, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };

  let code: ErrorCode;
  let retryable: boolean;
  if (status === 429 && (detail.type === 'insufficient_quota' || detail.code === 'insufficient_quota')) {
    // Out of credit is not a rate limit: waiting will not help.
    code = ErrorCode.MODEL_QUOTA_EXCEEDED;
    retryable = false;
  } else if (status === 429) {
    code = ErrorCode.MODEL_RATE_LIMITED;
    retryable = true;
  } else if (status === 401 || status === 403) {
    code = ErrorCode.MODEL_UNAUTHORIZED;
    retryable = false;
  } else if (status === 408 || status === 409 || status >= 500) {
    code = ErrorCode.MODEL_SERVER_ERROR;
    retryable = true;
  } else {
    code = ErrorCode.MODEL_BAD_REQUEST;
    retryable = false;
  }
  if (shouldRetry === 'true') retryable = true;
  if (shouldRetry === 'false') retryable = false;
  return new ModelError(code, message, { ...base, retryable });
}

function errorDetail(bodyText: string): { message?: string; type?: string; code?: string } {
  try {
    const parsed = JSON.parse(bodyText) as { error?: unknown; message?: unknown; detail?: unknown };
    const e = (typeof parsed.error === 'object' && parsed.error !== null ? parsed.error : parsed) as {
      message?: unknown;
      type?: unknown;
      code?: unknown;
      detail?: unknown;
    };
    const message = typeof e.message === 'string' ? e.message : typeof e.detail === 'string' ? e.detail : undefined;
    return {
      ...(message ? { message: truncate(message) } : {}),
      ...(typeof e.type === 'string' ? { type: e.type } : {}),
      ...(typeof e.code === 'string' ? { code: e.code } : {}),
    };
  } catch {
    const t = bodyText.trim();
    return t ? { message: truncate(t) } : {};
  }
}
