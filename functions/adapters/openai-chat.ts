/**
 * An OpenAI-compatible Chat Completions client over undici: OpenAI, vLLM,
 * Ollama, LM Studio, DashScope compatible mode, or any server that speaks
 * the protocol.
 *
 * Two things matter for fieldlens's speed and memory:
 * - one keep-alive connection pool per origin per process, reused across
 *   invocations of a warm Lambda;
 * - the request body is sent as three buffers, `prefix + image + suffix`,
 *   where the image is the one base64 buffer shared by every field, so N
 *   fields never hold N copies of the image.
 *
 * `complete` makes exactly one HTTP request and classifies any failure as a
 * retryable or final {@link ModelError}; the retry loop lives in the core.
 */
import { randomUUID } from 'node:crypto';
import { Pool, errors as undiciErrors, type Dispatcher } from 'undici';
import { ErrorCode, ModelError } from '../core/errors';
import type { CompleteOptions, ModelClient, ModelReply, ModelRequest } from '../core/ports';

export type ResponseFormatMode = 'json_schema' | 'json_object' | 'none';

export interface OpenAIChatOptions {
  /** Base URL including the API version path, e.g. `http://10.0.0.5:8000/v1`. */
  readonly baseUrl: string;
  /** The `model` sent in every request. */
  readonly model: string;
  /** Sent as `Authorization: Bearer …`; never logged. */
  readonly apiKey?: string;
  /** @default 'json_schema' */
  readonly responseFormat?: ResponseFormatMode;
  /** Most connections to the endpoint; match the invocation's concurrency cap. @default 10 */
  readonly connections?: number;
  /** A dispatcher to use instead of the shared pool (tests, proxies). */
  readonly dispatcher?: Dispatcher;
}

const pools = new Map<string, Pool>();

/**
 * The process-wide pool for `origin`, created on first use. A warm Lambda
 * keeps its connections between invocations; a frozen environment's stale
 * sockets fail fast and are retried as connection errors.
 */
function sharedPool(origin: string, connections: number): Pool {
  const key = `${origin}#${connections}`;
  let pool = pools.get(key);
  if (!pool) {
    pool = new Pool(origin, {
      connections,
      // A non-streaming model sends headers only when it has finished, so
      // undici's 300 s defaults must not be the limit; each request sets its
      // own from the attempt timeout.
      keepAliveTimeout: 30_000,
    });
    pools.set(key, pool);
  }
  return pool;
}

/** Closes every shared pool (local runs and tests; Lambda never needs to). */
export async function closeSharedPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.close()));
}

/**
 * @example
 * ```ts
 * const model = new OpenAIChatClient({ baseUrl: 'http://10.0.0.5:8000/v1', model: 'qwen2.5-vl-7b', connections: 5 });
 * const reply = await model.complete(request, { signal: deadline.signal, timeoutMs: 60_000 });
 * ```
 */
export class OpenAIChatClient implements ModelClient {
  readonly modelName: string;
  readonly #origin: string;
  readonly #path: string;
  readonly #dispatcher: Dispatcher;
  readonly #headers: Record<string, string>;
  readonly #responseFormat: ResponseFormatMode;
  // Stands in for the image while the rest of the body is serialised; random
  // so no prompt text can ever collide with it.
  readonly #marker = `fieldlens-image-${randomUUID()}`;

  constructor(options: OpenAIChatOptions) {
    let url: URL;
    try {
      url = new URL(options.baseUrl);
    } catch {
      throw new TypeError(`Expected baseUrl to be an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError(`Expected baseUrl to be an http(s) URL, got ${JSON.stringify(options.baseUrl)}`);
    }
    this.modelName = options.model;
    this.#origin = url.origin;
    this.#path = `${url.pathname.replace(/\/+$/, '')}/chat/completions`;
    this.#dispatcher = options.dispatcher ?? sharedPool(url.origin, options.connections ?? 10);
    this.#responseFormat = options.responseFormat ?? 'json_schema';
    this.#headers = {
      'content-type': 'application/json',
      accept: 'application/json',
      ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    };
  }

  async complete(request: ModelRequest, options: CompleteOptions): Promise<ModelReply> {
    const body = this.#body(request);
    const length = body.reduce((n, b) => n + b.byteLength, 0);
    const attemptTimeout = AbortSignal.timeout(Math.max(1, options.timeoutMs));
    const signal = AbortSignal.any([options.signal, attemptTimeout]);
    const started = Date.now();

    let res: Dispatcher.ResponseData;
    try {
      res = await this.#dispatcher.request({
        origin: this.#origin,
        path: this.#path,
        method: 'POST',
        headers: { ...this.#headers, 'content-length': String(length) },
        // undici writes any iterable of chunks straight to the socket
        // (client-h1 writeIterable), so the shared image is never copied;
        // its types only list single-chunk bodies.
        body: body as unknown as Uint8Array,
        signal,
        // undici's own 300 s timers start only once the request is on a
        // socket; the signal above is the real limit, these are a backstop.
        headersTimeout: options.timeoutMs + 1_000,
        bodyTimeout: options.timeoutMs + 1_000,
      });
    } catch (err) {
      throw classifyTransportError(err, options, attemptTimeout, started);
    }

    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw classifyTransportError(err, options, attemptTimeout, started);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) throw classifyStatus(res.statusCode, res.headers, text);
    return parseCompletion(text);
  }

  /** The request body as `[prefix, shared image, suffix]`. */
  #body(request: ModelRequest): Buffer[] {
    const payload: Record<string, unknown> = {
      model: this.modelName,
      temperature: 0,
      // Some servers (Ollama's compatibility layer) default top_p to 1.0 only
      // when it is sent; send it so every server decodes the same way.
      top_p: 1,
      max_tokens: request.maxTokens,
      messages: [
        { role: 'system', content: request.system },
        {
          role: 'user',
          content: [
            { type: 'text', text: request.prompt },
            { type: 'image_url', image_url: { url: this.#marker } },
          ],
        },
        ...request.followUp.map((t) => ({ role: t.role, content: t.content })),
      ],
    };
    if (this.#responseFormat === 'json_schema') {
      payload.response_format = {
        type: 'json_schema',
        json_schema: { name: request.schemaName, schema: request.answerSchema, strict: true },
      };
    } else if (this.#responseFormat === 'json_object') {
      payload.response_format = { type: 'json_object' };
    }
    const json = JSON.stringify(payload);
    const at = json.indexOf(this.#marker);
    return [
      Buffer.from(`${json.slice(0, at)}data:${request.image.mime};base64,`, 'utf8'),
      request.image.base64,
      Buffer.from(json.slice(at + this.#marker.length), 'utf8'),
    ];
  }
}

const CONNECTION_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function classifyTransportError(
  err: unknown,
  options: CompleteOptions,
  attemptTimeout: AbortSignal,
  started: number,
): ModelError {
  if (options.signal.aborted) {
    return new ModelError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed while waiting for the model', {
      retryable: false,
      cause: err,
    });
  }
  const code = (err as { code?: string })?.code ?? '';
  if (
    attemptTimeout.aborted ||
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError
  ) {
    return new ModelError(
      ErrorCode.MODEL_TIMEOUT,
      `no answer within the attempt timeout of ${options.timeoutMs} ms (waited ${Date.now() - started} ms)`,
      { retryable: true, cause: err },
    );
  }
  const message = err instanceof Error ? err.message : String(err);
  // A pooled socket the server closed fails on reuse; POSTs are not replayed
  // by undici, so these are ours to retry.
  return new ModelError(ErrorCode.MODEL_CONNECTION, `connection to the model endpoint failed: ${code || message}`, {
    retryable: CONNECTION_CODES.has(code) || err instanceof undiciErrors.SocketError || code === '',
    cause: err,
    context: { code },
  });
}

type Headers = Record<string, string | string[] | undefined>;

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The server's wait hint in milliseconds: `retry-after-ms`, then
 * `Retry-After` as seconds or an HTTP date.
 */
export function parseRetryAfter(headers: Headers, now = Date.now()): number | undefined {
  const ms = header(headers, 'retry-after-ms');
  if (ms !== undefined && ms.trim() !== '' && Number.isFinite(Number(ms))) return Math.max(0, Number(ms));
  const ra = header(headers, 'retry-after');
  if (ra === undefined || ra.trim() === '') return undefined;
  if (/^\d+(\.\d+)?$/.test(ra.trim())) return Math.max(0, Number(ra) * 1000);
  const date = Date.parse(ra);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Turns a non-2xx response into a classified error. */
export function classifyStatus(status: number, headers: Headers, bodyText: string): ModelError {
  const detail = errorDetail(bodyText);
  const message = `model endpoint answered HTTP ${status}${detail.message ? `: ${detail.message}` : ''}`;
  const retryAfterMs = parseRetryAfter(headers);
  const shouldRetry = header(headers, 'x-should-retry');
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

function truncate(s: string, max = 300): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

/** Reads the assistant's text, finish reason and usage from a chat completion. */
export function parseCompletion(text: string): ModelReply {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new ModelError(ErrorCode.MODEL_BAD_RESPONSE, `the endpoint's response is not JSON: ${truncate(text, 120)}`, {
      retryable: false,
    });
  }
  const choice = (parsed as { choices?: Array<{ message?: { content?: unknown }; finish_reason?: unknown }> })
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
  const u = (parsed as { usage?: { prompt_tokens?: unknown; completion_tokens?: unknown } }).usage;
  const usage =
    u && typeof u.prompt_tokens === 'number' && typeof u.completion_tokens === 'number'
      ? { promptTokens: Math.round(u.prompt_tokens), completionTokens: Math.round(u.completion_tokens) }
      : undefined;
  return {
    text: reply,
    finishReason: typeof choice.finish_reason === 'string' ? choice.finish_reason : null,
    ...(usage ? { usage } : {}),
  };
}
