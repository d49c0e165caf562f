import type { Dispatcher } from 'undici';
import { describe, expect, it } from 'vitest';
import {
  classifyStatus,
  OpenAIChatClient,
  parseCompletion,
  parseRetryAfter,
  type OpenAIChatOptions,
} from '../../functions/adapters/openai-chat';
import { ErrorCode, ModelError } from '../../functions/core/errors';
import type { ModelRequest } from '../../functions/core/ports';

/** The ModelError `act` throws. */
function modelError(act: () => unknown): ModelError {
  try {
    act();
  } catch (err) {
    if (err instanceof ModelError) return err;
    throw err;
  }
  throw new Error('no error was thrown');
}

function aCompletion(overrides: Record<string, unknown> = {}, content: unknown = '{"value": "乙醇"}'): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 900, completion_tokens: 12, total_tokens: 912 },
    ...overrides,
  });
}

describe('parseRetryAfter', () => {
  const now = Date.UTC(2026, 0, 2, 3, 4, 5);

  it('reads retry-after-ms as milliseconds', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '1500' }, now)).toBe(1500);
  });

  it('prefers retry-after-ms over Retry-After', () => {
    expect(parseRetryAfter({ 'retry-after-ms': '250', 'retry-after': '9' }, now)).toBe(250);
  });

  it('reads Retry-After in seconds', () => {
    expect(parseRetryAfter({ 'retry-after': '2' }, now)).toBe(2000);
    expect(parseRetryAfter({ 'retry-after': '0.5' }, now)).toBe(500);
  });

  it('reads Retry-After as an HTTP date relative to now', () => {
    // Prepare
    const in30s = new Date(now + 30_000).toUTCString();

    // Act
    const wait = parseRetryAfter({ 'retry-after': in30s }, now);

    // Assess
    expect(wait).toBe(30_000);
  });

  it('waits nothing for an HTTP date in the past', () => {
    expect(parseRetryAfter({ 'retry-after': new Date(now - 10_000).toUTCString() }, now)).toBe(0);
  });

  it('ignores garbage, empty values and absent headers', () => {
    expect(parseRetryAfter({ 'retry-after': 'soon' }, now)).toBeUndefined();
    expect(parseRetryAfter({ 'retry-after': ' ' }, now)).toBeUndefined();
    expect(parseRetryAfter({}, now)).toBeUndefined();
  });

  it('falls back to Retry-After when retry-after-ms is garbage', () => {
    expect(parseRetryAfter({ 'retry-after-ms': 'abc', 'retry-after': '3' }, now)).toBe(3000);
  });

  it('reads the first of repeated headers', () => {
    expect(parseRetryAfter({ 'retry-after': ['4', '8'] }, now)).toBe(4000);
  });
});

describe('classifyStatus', () => {
  it.each([
    [400, ErrorCode.MODEL_BAD_REQUEST, false],
    [401, ErrorCode.MODEL_UNAUTHORIZED, false],
    [403, ErrorCode.MODEL_UNAUTHORIZED, false],
    [404, ErrorCode.MODEL_BAD_REQUEST, false],
    [408, ErrorCode.MODEL_SERVER_ERROR, true],
    [409, ErrorCode.MODEL_SERVER_ERROR, true],
    [413, ErrorCode.MODEL_BAD_REQUEST, false],
    [422, ErrorCode.MODEL_BAD_REQUEST, false],
    [429, ErrorCode.MODEL_RATE_LIMITED, true],
    [500, ErrorCode.MODEL_SERVER_ERROR, true],
    [502, ErrorCode.MODEL_SERVER_ERROR, true],
    [503, ErrorCode.MODEL_SERVER_ERROR, true],
  ])('classifies HTTP %i as %s, retryable %s', (status, code, retryable) => {
    // Act
    const err = classifyStatus(status, {}, '');

    // Assess
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({ code, retryable, status });
    expect(err.message).toBe(`model endpoint answered HTTP ${status}`);
  });

  it('treats 429 insufficient_quota as final, by type or by code', () => {
    // Prepare
    const byType = JSON.stringify({ error: { message: 'You exceeded your current quota', type: 'insufficient_quota' } });
    const byCode = JSON.stringify({ error: { message: 'quota', type: 'requests', code: 'insufficient_quota' } });

    // Act
    const errors = [classifyStatus(429, {}, byType), classifyStatus(429, {}, byCode)];

    // Assess
    for (const err of errors) expect(err).toMatchObject({ code: ErrorCode.MODEL_QUOTA_EXCEEDED, retryable: false });
  });

  it('lets x-should-retry override the classification both ways', () => {
    expect(classifyStatus(400, { 'x-should-retry': 'true' }, '').retryable).toBe(true);
    expect(classifyStatus(503, { 'x-should-retry': 'false' }, '').retryable).toBe(false);
  });

  it('carries the server’s wait hint', () => {
    const err = classifyStatus(429, { 'retry-after': '7' }, '');

    expect(err.retryAfterMs).toBe(7000);
  });

  it('includes the server’s own message from an OpenAI error body', () => {
    const body = JSON.stringify({ error: { message: 'The model `gpt-x` does not exist', type: 'invalid_request_error' } });

    expect(classifyStatus(404, {}, body).message).toBe('model endpoint answered HTTP 404: The model `gpt-x` does not exist');
  });

  it('includes the message of a vLLM-style top-level or FastAPI detail body', () => {
    expect(classifyStatus(400, {}, JSON.stringify({ object: 'error', message: 'too many images' })).message).toContain(
      'too many images',
    );
    expect(classifyStatus(400, {}, JSON.stringify({ detail: 'bad request body' })).message).toContain('bad request body');
  });

  it('includes a plain-text body, trimmed', () => {
    expect(classifyStatus(502, {}, '  Bad Gateway\n').message).toBe('model endpoint answered HTTP 502: Bad Gateway');
  });

  it('truncates a long server message to 300 characters', () => {
    // Prepare
    const long = 'x'.repeat(5000);

    // Act
    const message = classifyStatus(500, {}, JSON.stringify({ error: { message: long } })).message;

    // Assess
    expect(message).toBe(`model endpoint answered HTTP 500: ${'x'.repeat(300)}…`);
  });
});

describe('parseCompletion', () => {
  it('reads string content, the finish reason and usage', () => {
    expect(parseCompletion(aCompletion())).toEqual({
      text: '{"value": "乙醇"}',
      finishReason: 'stop',
      usage: { promptTokens: 900, completionTokens: 12 },
    });
  });

  it('joins the text of a content-parts array', () => {
    const content = [
      { type: 'text', text: '{"value": ' },
      { type: 'image_url', image_url: { url: 'x' } },
      { type: 'text', text: '"Ethanol"}' },
    ];

    expect(parseCompletion(aCompletion({}, content)).text).toBe('{"value": "Ethanol"}');
  });

  it('reads null content as empty text', () => {
    expect(parseCompletion(aCompletion({}, null)).text).toBe('');
  });

  it('passes finish_reason "length" through, and null when absent', () => {
    const cut = JSON.stringify({ choices: [{ message: { content: '{"value": ["a' }, finish_reason: 'length' }] });
    const none = JSON.stringify({ choices: [{ message: { content: 'x' } }] });

    expect(parseCompletion(cut).finishReason).toBe('length');
    expect(parseCompletion(none).finishReason).toBeNull();
  });

  it('leaves usage out when the endpoint sent none or an incomplete one', () => {
    expect(parseCompletion(aCompletion({ usage: undefined })).usage).toBeUndefined();
    expect(parseCompletion(aCompletion({ usage: { prompt_tokens: 5 } })).usage).toBeUndefined();
  });

  it('refuses a response without choices as MODEL_BAD_RESPONSE, not retryable', () => {
    for (const body of [JSON.stringify({ object: 'chat.completion' }), JSON.stringify({ choices: [] }), 'null']) {
      const err = modelError(() => parseCompletion(body));

      expect(err).toMatchObject({ code: ErrorCode.MODEL_BAD_RESPONSE, retryable: false });
    }
  });

  it('refuses a response that is not JSON, quoting its start', () => {
    const err = modelError(() => parseCompletion(`<html>${'a'.repeat(500)}</html>`));

    expect(err.code).toBe(ErrorCode.MODEL_BAD_RESPONSE);
    expect(err.message).toContain('<html>');
    expect(err.message.length).toBeLessThan(200);
  });
});

/** A dispatcher that records requests and answers from a script; no sockets. */
function aDispatcher(
  respond: (opts: Dispatcher.RequestOptions) => Promise<{ statusCode: number; headers?: Record<string, string>; body: string }>,
): { dispatcher: Dispatcher; requests: Dispatcher.RequestOptions[] } {
  const requests: Dispatcher.RequestOptions[] = [];
  const dispatcher = {
    request: async (opts: Dispatcher.RequestOptions) => {
      requests.push(opts);
      const r = await respond(opts);
      return { statusCode: r.statusCode, headers: r.headers ?? {}, body: { text: async () => r.body } };
    },
  } as unknown as Dispatcher;
  return { dispatcher, requests };
}

const IMAGE_BYTES = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5]);

function aRequest(overrides: Partial<ModelRequest> = {}): ModelRequest {
  return {
    image: { mime: 'image/jpeg', bytes: IMAGE_BYTES.length, base64: Buffer.from(IMAGE_BYTES.toString('base64'), 'latin1') },
    system: 'Reply with {"value": …}.',
    prompt: 'What is the product name?',
    followUp: [],
    schemaName: 'name',
    answerSchema: { type: 'object', properties: { value: { type: ['string', 'null'] } }, required: ['value'], additionalProperties: false },
    maxTokens: 512,
    ...overrides,
  };
}

function aClient(dispatcher: Dispatcher, overrides: Partial<OpenAIChatOptions> = {}): OpenAIChatClient {
  return new OpenAIChatClient({ baseUrl: 'http://10.0.0.5:8000/v1/', model: 'qwen2.5-vl-7b', dispatcher, ...overrides });
}

const live = () => ({ signal: new AbortController().signal, timeoutMs: 5_000 });

/** The JSON body the client sent. */
function sentBody(opts: Dispatcher.RequestOptions): { chunks: Buffer[]; json: Record<string, any> } {
  const chunks = opts.body as unknown as Buffer[];
  return { chunks, json: JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, any> };
}

describe('OpenAIChatClient', () => {
  it('refuses a base URL that is not http(s)', () => {
    expect(() => new OpenAIChatClient({ baseUrl: 'ftp://10.0.0.5/v1', model: 'm' })).toThrow(TypeError);
    expect(() => new OpenAIChatClient({ baseUrl: 'not a url', model: 'm' })).toThrow(TypeError);
    expect(() => new OpenAIChatClient({ baseUrl: 'not a url', model: 'm' })).toThrow(/http\(s\) URL/);
  });

  it('posts one chat completion to <baseUrl>/chat/completions and returns the reply', async () => {
    // Prepare
    const { dispatcher, requests } = aDispatcher(async () => ({ statusCode: 200, body: aCompletion() }));
    const client = aClient(dispatcher, { apiKey: 'sk-secret' });

    // Act
    const reply = await client.complete(aRequest(), live());

    // Assess
    expect(reply).toEqual({ text: '{"value": "乙醇"}', finishReason: 'stop', usage: { promptTokens: 900, completionTokens: 12 } });
    expect(requests).toHaveLength(1);
    expect(requests[0]).toMatchObject({ origin: 'http://10.0.0.5:8000', path: '/v1/chat/completions', method: 'POST' });
    expect(requests[0]!.headers).toMatchObject({ authorization: 'Bearer sk-secret', 'content-type': 'application/json' });
    expect(client.modelName).toBe('qwen2.5-vl-7b');
  });

  it('sends no authorization header without a key', async () => {
    const { dispatcher, requests } = aDispatcher(async () => ({ statusCode: 200, body: aCompletion() }));

    await aClient(dispatcher).complete(aRequest(), live());

    expect(requests[0]!.headers).not.toHaveProperty('authorization');
  });

  it('sends the body as prefix, the shared image buffer itself, and suffix, with an exact content-length', async () => {
    // Prepare
    const { dispatcher, requests } = aDispatcher(async () => ({ statusCode: 200, body: aCompletion() }));
    const request = aRequest();

    // Act
    await aClient(dispatcher).complete(request, live());

    // Assess
    const { chunks, json } = sentBody(requests[0]!);
    expect(chunks).toHaveLength(3);
    expect(chunks[1]).toBe(request.image.base64);
    const length = chunks.reduce((n, c) => n + c.byteLength, 0);
    expect((requests[0]!.headers as Record<string, string>)['content-length']).toBe(String(length));
    expect(json.messages[1].content[1]).toEqual({
      type: 'image_url',
      image_url: { url: `data:image/jpeg;base64,${IMAGE_BYTES.toString('base64')}` },
    });
  });

  it('asks deterministically with max_tokens, the system prompt, the question and the follow-up turns', async () => {
    // Prepare
    const { dispatcher, requests } = aDispatcher(async () => ({ statusCode: 200, body: aCompletion() }));
    const followUp = [
      { role: 'assistant' as const, content: 'oops' },
      { role: 'user' as const, content: 'That reply was not valid' },
    ];

    // Act
    await aClient(dispatcher).complete(aRequest({ followUp }), live());

    // Assess
    const { json } = sentBody(requests[0]!);
    expect(json).toMatchObject({ model: 'qwen2.5-vl-7b', temperature: 0, max_tokens: 512 });
    expect(json.messages[0]).toEqual({ role: 'system', content: 'Reply with {"value": …}.' });
    expect(json.messages[1].content[0]).toEqual({ type: 'text', text: 'What is the product name?' });
    expect(json.messages.slice(2)).toEqual(followUp);
  });

  it('sends the answer schema as a strict json_schema response_format by default', async () => {
    const { dispatcher, requests } = aDispatcher(async () => ({ statusCode: 200, body: aCompletion() }));
    const request = aRequest();

    await aClient(dispatcher).complete(request, live());

    expect(sentBody(requests[0]!).json.response_format).toEqual({
      type: 'json_schema',
      json_schema: { name: 'name', schema: request.answerSchema, strict: true },
    });
  });

  it('sends json_object or no response_format when configured so', async () => {
    // Prepare
    const { dispatcher, requests } = aDispatcher(async () => ({ statusCode: 200, body: aCompletion() }));

    // Act
    await aClient(dispatcher, { responseFormat: 'json_object' }).complete(aRequest(), live());
    await aClient(dispatcher, { responseFormat: 'none' }).complete(aRequest(), live());

    // Assess
    expect(sentBody(requests[0]!).json.response_format).toEqual({ type: 'json_object' });
    expect(sentBody(requests[1]!).json).not.toHaveProperty('response_format');
  });

  it('keeps a prompt that looks like JSON or a data URI intact', async () => {
    const { dispatcher, requests } = aDispatcher(async () => ({ statusCode: 200, body: aCompletion() }));
    const prompt = 'Quote "this" and {"value": "data:image/png;base64,AAAA"} \\ 乙醇';

    await aClient(dispatcher).complete(aRequest({ prompt }), live());

    expect(sentBody(requests[0]!).json.messages[1].content[0].text).toBe(prompt);
  });

  it('throws the classified error of a non-2xx response', async () => {
    // Prepare
    const { dispatcher } = aDispatcher(async () => ({
      statusCode: 429,
      headers: { 'retry-after-ms': '800' },
      body: JSON.stringify({ error: { message: 'Rate limit reached' } }),
    }));

    // Act
    const act = aClient(dispatcher).complete(aRequest(), live());

    // Assess
    await expect(act).rejects.toMatchObject({
      code: ErrorCode.MODEL_RATE_LIMITED,
      retryable: true,
      retryAfterMs: 800,
      status: 429,
      message: 'model endpoint answered HTTP 429: Rate limit reached',
    });
  });

  it('classifies a reset connection as a retryable MODEL_CONNECTION', async () => {
    const { dispatcher } = aDispatcher(async () => {
      throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
    });

    await expect(aClient(dispatcher).complete(aRequest(), live())).rejects.toMatchObject({
      code: ErrorCode.MODEL_CONNECTION,
      retryable: true,
    });
  });

  it('classifies an attempt that outlives its timeout as a retryable MODEL_TIMEOUT', async () => {
    // Prepare: a server that never answers
    const { dispatcher } = aDispatcher(
      (opts) =>
        new Promise((_, reject) => {
          (opts.signal as AbortSignal).addEventListener('abort', () => reject((opts.signal as AbortSignal).reason));
        }),
    );

    // Act
    const act = aClient(dispatcher).complete(aRequest(), { signal: new AbortController().signal, timeoutMs: 20 });

    // Assess
    await expect(act).rejects.toMatchObject({ code: ErrorCode.MODEL_TIMEOUT, retryable: true });
  });

  it('classifies a request cut by the invocation deadline as DEADLINE_EXCEEDED, not retryable', async () => {
    // Prepare
    const deadline = new AbortController();
    const { dispatcher } = aDispatcher(
      (opts) =>
        new Promise((_, reject) => {
          (opts.signal as AbortSignal).addEventListener('abort', () => reject(new Error('aborted')));
          deadline.abort();
        }),
    );

    // Act
    const act = aClient(dispatcher).complete(aRequest(), { signal: deadline.signal, timeoutMs: 5_000 });

    // Assess
    await expect(act).rejects.toMatchObject({ code: ErrorCode.DEADLINE_EXCEEDED, retryable: false });
  });

  it('refuses a 200 whose body is not a chat completion', async () => {
    const { dispatcher } = aDispatcher(async () => ({ statusCode: 200, body: '{"ok": true}' }));

    await expect(aClient(dispatcher).complete(aRequest(), live())).rejects.toMatchObject({
      code: ErrorCode.MODEL_BAD_RESPONSE,
    });
  });
});
