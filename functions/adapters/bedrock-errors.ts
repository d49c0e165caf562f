/**
 * How a failed Bedrock Converse call becomes a {@link ModelError}. The SDK
 * raises its own exception classes (read from the `x-amzn-errortype`
 * header); they are told apart by `name`, not `instanceof`, so a second copy
 * of the SDK in the bundle cannot break the mapping.
 *
 * Retryable: throttling and unavailability (`MODEL_RATE_LIMITED`, which the
 * core waits out until the deadline), model timeouts and server faults, and
 * connection failures. Final: access, validation, unknown model, quota, and
 * anything nobody expected (`INTERNAL`).
 */
import { ErrorCode, ModelError } from '../core/errors';
import { parseRetryAfter, type HeaderMap } from './retry-after';
import { findConnectionCode, truncate } from './transport-errors';

/**
 * Node's HTTP/2 error codes of a stream or session that broke. The SDK
 * sends Bedrock Runtime requests over HTTP/2, so a reset or a closed
 * connection arrives as one of these rather than as ECONNRESET.
 */
const HTTP2_CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ERR_HTTP2_STREAM_ERROR',
  'ERR_HTTP2_STREAM_CANCEL',
  'ERR_HTTP2_SESSION_ERROR',
  'ERR_HTTP2_GOAWAY_SESSION',
  'ERR_HTTP2_INVALID_SESSION',
  'ERR_HTTP2_ERROR',
]);

/** What the client knew when the call failed. */
export interface BedrockCallContext {
  readonly modelId: string;
  readonly region: string;
  readonly deadline: AbortSignal;
  readonly attemptTimeout: AbortSignal;
  readonly timeoutMs: number;
  /** `Date.now()` when the call started. */
  readonly startedAt: number;
}

/** The parts of an SDK error this module reads. */
interface SdkErrorShape {
  readonly name?: unknown;
  readonly message?: unknown;
  readonly code?: unknown;
  readonly cause?: unknown;
  readonly $fault?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: unknown };
  readonly $response?: { readonly headers?: HeaderMap };
}

/**
 * Classifies anything `BedrockRuntimeClient.send(new ConverseCommand(…))`
 * threw.
 *
 * @example
 * ```ts
 * try { await client.send(command, { abortSignal }); }
 * catch (err) { throw classifyBedrockError(err, { modelId, region, deadline, attemptTimeout, timeoutMs, startedAt }); }
 * ```
 */
export function classifyBedrockError(err: unknown, call: BedrockCallContext, now = Date.now()): ModelError {
  if (call.deadline.aborted) {
    return new ModelError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed while waiting for Bedrock', {
      retryable: false,
      cause: err,
    });
  }
  if (call.attemptTimeout.aborted) {
    return new ModelError(
      ErrorCode.MODEL_TIMEOUT,
      `no answer from Bedrock within the attempt timeout of ${call.timeoutMs} ms (waited ${now - call.startedAt} ms)`,
      { retryable: true, cause: err },
    );
  }

  const e = (typeof err === 'object' && err !== null ? err : {}) as SdkErrorShape;
  // The SDK names an error whose type it could not read `Unknown`, and its message `UnknownError`.
  const name = typeof e.name === 'string' && e.name !== 'Unknown' ? e.name : '';
  const status = typeof e.$metadata?.httpStatusCode === 'number' ? e.$metadata.httpStatusCode : undefined;
  const serverMessage =
    typeof e.message === 'string' && e.message !== 'UnknownError' ? truncate(firstLine(e.message)) : '';
  const retryAfterMs = e.$response?.headers ? parseRetryAfter(e.$response.headers) : undefined;
  const base = {
    cause: err,
    ...(status !== undefined ? { status } : {}),
    ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    context: { modelId: call.modelId, region: call.region, ...(name ? { exception: name } : {}) },
  };
  const said = (what: string): string => `${what}${serverMessage ? `: ${serverMessage}` : ''}`;
  const where = `${call.modelId} in ${call.region}`;

  switch (name) {
    case 'ThrottlingException':
    case 'ServiceUnavailableException':
      return new ModelError(ErrorCode.MODEL_RATE_LIMITED, said(`Bedrock throttled the request (${name})`), {
        ...base,
        retryable: true,
      });
    case 'ModelTimeoutException':
      return new ModelError(ErrorCode.MODEL_TIMEOUT, said('the model timed out in Bedrock'), { ...base, retryable: true });
    case 'ModelNotReadyException':
    case 'ModelErrorException':
    case 'InternalServerException':
      return new ModelError(ErrorCode.MODEL_SERVER_ERROR, said(`Bedrock failed (${name})`), { ...base, retryable: true });
    case 'AccessDeniedException':
      return new ModelError(
        ErrorCode.MODEL_UNAUTHORIZED,
        said(`model access not enabled for ${where}, or the role lacks bedrock:InvokeModel on it`),
        { ...base, retryable: false },
      );
    case 'ValidationException':
      return new ModelError(ErrorCode.MODEL_BAD_REQUEST, said(`Bedrock refused the request for ${call.modelId}`), {
        ...base,
        retryable: false,
      });
    case 'ResourceNotFoundException':
      return new ModelError(ErrorCode.MODEL_BAD_REQUEST, said(`no model ${where}`), { ...base, retryable: false });
    case 'ServiceQuotaExceededException':
      return new ModelError(ErrorCode.MODEL_QUOTA_EXCEEDED, said(`the account's Bedrock quota for ${where} is used up`), {
        ...base,
        retryable: false,
      });
    case 'CredentialsProviderError':
      return new ModelError(ErrorCode.MODEL_UNAUTHORIZED, said('no AWS credentials to sign the Bedrock request'), {
        ...base,
        retryable: false,
      });
  }

  if (status !== undefined) return byStatus(status, name, serverMessage, base);

  const code = findConnectionCode(err, HTTP2_CONNECTION_CODES);
  // The SDK's HTTP handlers name socket and stream timeouts, and a stream
  // that closed without a response, `TimeoutError` (our own timers were
  // checked above): the connection failed, another may not.
  if (code !== undefined || name === 'TimeoutError') {
    return new ModelError(ErrorCode.MODEL_CONNECTION, `connection to Bedrock failed: ${code ?? serverMessage}`, {
      ...base,
      retryable: true,
      context: { ...base.context, ...(code ? { code } : {}) },
    });
  }
  return new ModelError(
    ErrorCode.INTERNAL,
    `the Bedrock call failed unexpectedly: ${name || typeof err}${serverMessage ? `: ${serverMessage}` : ''}`,
    { ...base, retryable: false },
  );
}

/** An error with a status but no exception we know: a proxy's page, a body the SDK could not read. */
function byStatus(
  status: number,
  name: string,
  serverMessage: string,
  base: { cause: unknown; status?: number; retryAfterMs?: number; context: Record<string, unknown> },
): ModelError {
  const message = `Bedrock answered HTTP ${status}${name ? ` (${name})` : ''}${serverMessage ? `: ${serverMessage}` : ''}`;
  if (status >= 200 && status < 300) {
    // A 200 whose body the SDK could not deserialise.
    return new ModelError(ErrorCode.MODEL_BAD_RESPONSE, message, { ...base, retryable: false });
  }
  if (status === 429 || status === 503) return new ModelError(ErrorCode.MODEL_RATE_LIMITED, message, { ...base, retryable: true });
  if (status === 408 || status >= 500) return new ModelError(ErrorCode.MODEL_SERVER_ERROR, message, { ...base, retryable: true });
  if (status === 401 || status === 403) return new ModelError(ErrorCode.MODEL_UNAUTHORIZED, message, { ...base, retryable: false });
  return new ModelError(ErrorCode.MODEL_BAD_REQUEST, message, { ...base, retryable: false });
}

/** The SDK appends a hint on a second line to deserialisation errors; the first line is the error. */
function firstLine(s: string): string {
  const at = s.indexOf('\n');
  return at < 0 ? s : s.slice(0, at);
}
