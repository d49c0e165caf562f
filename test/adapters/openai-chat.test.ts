import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { OpenAIChatClient, type OpenAIChatOptions } from '../../functions/adapters/openai-chat';
import { ErrorCode } from '../../functions/core/errors';
import type { ModelRequest } from '../../functions/core/ports';
import { valueConfidence } from '../../functions/core/confidence';
import { answerByField, startOpenAITestServer, type LogprobsKnob, type OpenAITestServer } from '../support/openai-test-server';

function aCompletion(overrides: Record<string, unknown> = {}, content: unknown = '{"value": "乙醇"}'): string {
  return JSON.stringify({
    id: 'chatcmpl-1',
    object: 'chat.completion',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 900, completion_tokens: 12, total_tokens: 912 },
    ...overrides,
  });
}

/** A dispatcher that records requests and answers from a script; no sockets (the body is an in-memory stream). */
function aDispatcher(
  respond: (opts: Dispatcher.RequestOptions) => Promise<{ statusCode: number; headers?: Record<string, string>; body: string }>,
): { dispatcher: Dispatcher; requests: Dispatcher.RequestOptions[] } {
  const requests: Dispatcher.RequestOptions[] = [];
  const dispatcher = {
    request: async (opts: Dispatcher.RequestOptions) => {
      requests.push(opts);
      const r = await respond(opts);
      return { statusCode: r.statusCode, headers: r.headers ?? {}, body: Readable.from([Buffer.from(r.body, 'utf8')]) };
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
    expect(json.messages[1].content[0]).toEqual({
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
    expect(json.messages[1].content[1]).toEqual({ type: 'text', text: 'What is the product name?' });
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

    expect(sentBody(requests[0]!).json.messages[1].content[1].text).toBe(prompt);
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

describe('OpenAIChatClient against a loopback server', () => {
  let server: OpenAITestServer | undefined;
  let pool: Pool | undefined;
  afterEach(async () => {
    await pool?.close();
    await server?.close();
    pool = undefined;
    server = undefined;
  });

  async function aLoopbackClient(overrides: Partial<OpenAIChatOptions> = {}): Promise<OpenAIChatClient> {
    server = await startOpenAITestServer({ handler: answerByField({ name: '乙醇' }) });
    pool = new Pool(new URL(server.baseUrl).origin, { connections: 2 });
    return new OpenAIChatClient({ baseUrl: server.baseUrl, model: 'm', dispatcher: pool, ...overrides });
  }

  it('reads an ordinary answer well within the response limit', async () => {
    // Prepare
    const client = await aLoopbackClient({ maxResponseBytes: 64 * 1024 });

    // Act
    const reply = await client.complete(aRequest(), live());

    // Assess
    expect(reply.text).toBe('{"value":"乙醇"}');
  });

  it('stops an endless 200 body at the limit with a final MODEL_RESPONSE_TOO_LARGE and closes the connection', async () => {
    // Prepare
    const client = await aLoopbackClient({ maxResponseBytes: 1024 * 1024 });
    server!.setHandler(() => ({ kind: 'endless' }));

    // Act
    const act = client.complete(aRequest(), live());

    // Assess
    await expect(act).rejects.toMatchObject({ code: ErrorCode.MODEL_RESPONSE_TOO_LARGE, retryable: false, status: 200 });
    // The server stops writing only when the client destroys the stream.
    await vi.waitFor(() => expect(server!.pending).toBe(0));
  });

  it('refuses a body whose content-length is over the limit without reading it', async () => {
    // Prepare: a normal completion, but a limit smaller than it
    const client = await aLoopbackClient({ maxResponseBytes: 16 });

    // Act
    const act = client.complete(aRequest(), live());

    // Assess
    await expect(act).rejects.toMatchObject({ code: ErrorCode.MODEL_RESPONSE_TOO_LARGE });
  });

  it('classifies an error status by its code even when its body never ends', async () => {
    // Prepare
    const client = await aLoopbackClient();
    server!.setHandler(() => ({ kind: 'endless', status: 503 }));

    // Act
    const act = client.complete(aRequest(), live());

    // Assess
    await expect(act).rejects.toMatchObject({ code: ErrorCode.MODEL_SERVER_ERROR, retryable: true, status: 503 });
    await vi.waitFor(() => expect(server!.pending).toBe(0));
  });

  it('refuses a maxResponseBytes that is not a positive integer', () => {
    expect(() => new OpenAIChatClient({ baseUrl: 'http://10.0.0.5/v1', model: 'm', maxResponseBytes: 0 })).toThrow(TypeError);
    expect(() => new OpenAIChatClient({ baseUrl: 'http://10.0.0.5/v1', model: 'm', maxResponseBytes: 1.5 })).toThrow(
      /positive integer/,
    );
  });
});

describe('OpenAIChatClient: log-probabilities, against the loopback server', () => {
  let server: OpenAITestServer | undefined;
  let pool: Pool | undefined;
  afterEach(async () => {
    await pool?.close();
    await server?.close();
    pool = undefined;
    server = undefined;
  });

  async function aLoopbackClient(overrides: Partial<OpenAIChatOptions>, logprobs?: LogprobsKnob): Promise<OpenAIChatClient> {
    server = await startOpenAITestServer({ handler: answerByField({ name: '乙醇' }), ...(logprobs ? { logprobs } : {}) });
    pool = new Pool(new URL(server.baseUrl).origin, { connections: 1 });
    return new OpenAIChatClient({ baseUrl: server.baseUrl, model: 'm', dispatcher: pool, ...overrides });
  }

  it('asks for them with logprobs: true and returns the tokens, which spell the reply', async () => {
    // Prepare: the second character of the value is an unlikely token
    const client = await aLoopbackClient({ logprobs: true }, { tokens: { 醇: -1.2 } });

    // Act
    const reply = await client.complete(aRequest(), live());

    // Assess
    const body = server!.requests[0]!.body;
    expect(body.logprobs).toBe(true);
    expect(body).not.toHaveProperty('top_logprobs');
    expect(reply.logprobs!.map((t) => t.token).join('')).toBe(reply.text);
    expect(reply.logprobs!.every((t) => Array.isArray(t.bytes) && !('top_logprobs' in t))).toBe(true);
    expect(valueConfidence(reply.logprobs)!.confidence).toBeCloseTo(Math.exp(-1.2), 10);
  });

  it('places tokens that split a character in two by their bytes', async () => {
    const client = await aLoopbackClient({ logprobs: true }, { tokens: { 乙: -0.3 }, splitMultibyte: true });

    const reply = await client.complete(aRequest(), live());

    expect(reply.logprobs!.some((t) => t.token.startsWith('bytes:'))).toBe(true);
    expect(valueConfidence(reply.logprobs)!.confidence).toBeCloseTo(Math.exp(-0.3), 10);
  });

  it('does not ask for them by default, and the reply carries none', async () => {
    const client = await aLoopbackClient({});

    const reply = await client.complete(aRequest(), live());

    expect(server!.requests[0]!.body).not.toHaveProperty('logprobs');
    expect(reply).not.toHaveProperty('logprobs');
  });

  it('returns null when it asked and the endpoint sent none', async () => {
    const client = await aLoopbackClient({ logprobs: true }, { omit: true });

    const reply = await client.complete(aRequest(), live());

    expect(server!.requests[0]!.body.logprobs).toBe(true);
    expect(reply.logprobs).toBeNull();
  });
});
