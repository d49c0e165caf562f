import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { answerByField, startOpenAITestServer } from './openai-test-server';
import type { OpenAITestServer, TestServerOptions } from './openai-test-server';

const IMAGE_BASE64 = Buffer.from('not really a png, but bytes all the same').toString('base64');

let servers: OpenAITestServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function start(options?: TestServerOptions): Promise<OpenAITestServer> {
  const server = await startOpenAITestServer(options);
  servers.push(server);
  return server;
}

interface ChatArgs {
  field?: string;
  prompt?: string;
  responseFormat?: unknown;
  extraTurns?: unknown[];
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

/** Sends a request shaped like the fieldlens client's. */
function chat(server: OpenAITestServer, args: ChatArgs = {}): Promise<Response> {
  const body = {
    model: 'm',
    temperature: 0,
    max_tokens: 1024,
    messages: [
      { role: 'system', content: 'Answer with a JSON object {"value": …}.' },
      {
        role: 'user',
        content: [
          { type: 'text', text: args.prompt ?? 'What is it?' },
          { type: 'image_url', image_url: { url: `data:image/png;base64,${IMAGE_BASE64}` } },
        ],
      },
      ...(args.extraTurns ?? []),
    ],
    ...(args.responseFormat !== undefined
      ? { response_format: args.responseFormat }
      : args.field !== undefined
        ? { response_format: { type: 'json_schema', json_schema: { name: args.field, schema: {}, strict: true } } }
        : {}),
  };
  return fetch(`${server.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...args.headers },
    body: JSON.stringify(body),
    signal: args.signal,
  });
}

async function until(check: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
}

function activeTimeouts(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('openai test server', () => {
  it('answers with a real chat completion and records the request without the image', async () => {
    const server = await start({ handler: answerByField({ product_name: 'Acme Degreaser' }) });
    const res = await chat(server, { field: 'product_name', prompt: 'Name of the product?' });

    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    const json = (await res.json()) as any;
    expect(json).toMatchObject({
      object: 'chat.completion',
      model: 'm',
      choices: [
        { index: 0, message: { role: 'assistant', content: '{"value":"Acme Degreaser"}' }, finish_reason: 'stop' },
      ],
      usage: { prompt_tokens: 100, completion_tokens: 10, total_tokens: 110 },
    });
    expect(json.id).toMatch(/^chatcmpl-/);
    expect(typeof json.created).toBe('number');

    const [rec] = server.requests;
    expect(rec).toMatchObject({
      index: 0,
      field: 'product_name',
      prompt: 'Name of the product?',
      imageBase64Length: IMAGE_BASE64.length,
      imageSha256: createHash('sha256').update(IMAGE_BASE64).digest('hex'),
      contentLengthOk: true,
      attempt: 1,
      turns: 2,
      rejectedByCapacity: false,
    });
    expect(rec?.body.messages[1].content[1].image_url.url).toBe('<image>');
    expect(rec?.headers['content-type']).toBe('application/json');
  });

  it('gives fields not in the answer map null, and accepts custom usage', async () => {
    const server = await start({ handler: answerByField({}, { usage: { prompt_tokens: 7, completion_tokens: 3 } }) });
    const json = (await (await chat(server, { field: 'tags' })).json()) as any;
    expect(json.choices[0].message.content).toBe('{"value":null}');
    expect(json.usage).toEqual({ prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 });
  });

  it('sends raw text with its finish reason and can omit usage', async () => {
    const server = await start({
      handler: () => ({ kind: 'text', content: '{"value": "cut', finishReason: 'length', usage: null }),
    });
    const json = (await (await chat(server, { field: 'x' })).json()) as any;
    expect(json.choices[0]).toMatchObject({ message: { content: '{"value": "cut' }, finish_reason: 'length' });
    expect(json.usage).toBeUndefined();
  });

  it('detects the field by schema name, by the prompts map, or not at all', async () => {
    const server = await start({ prompts: { 'Who supplies it?': 'supplier' } });
    await chat(server, { field: 'hazards', prompt: 'Who supplies it?' });
    await chat(server, { prompt: 'Who supplies it?', responseFormat: { type: 'json_object' } });
    await chat(server, { prompt: 'Who supplies it?' });
    await chat(server, { prompt: 'Something else?' });
    expect(server.requests.map((r) => r.field)).toEqual(['hazards', 'supplier', 'supplier', undefined]);
  });

  it('numbers attempts per field and counts turns; reset starts over', async () => {
    const server = await start();
    await chat(server, { field: 'a' });
    await chat(server, { field: 'b' });
    await chat(server, {
      field: 'a',
      extraTurns: [
        { role: 'assistant', content: 'not json' },
        { role: 'user', content: 'Answer with JSON only.' },
      ],
    });
    expect(server.requests.map((r) => [r.field, r.attempt, r.turns])).toEqual([
      ['a', 1, 2],
      ['b', 1, 2],
      ['a', 2, 4],
    ]);

    server.reset();
    expect(server.requests).toHaveLength(0);
    await chat(server, { field: 'a' });
    expect(server.requests.map((r) => [r.index, r.attempt])).toEqual([[0, 1]]);
  });

  it('sends a status with its headers and an OpenAI error body', async () => {
    const server = await start({
      handler: (req) =>
        req.field === 'limited'
          ? { kind: 'status', status: 429, headers: { 'retry-after': '2' } }
          : { kind: 'status', status: 503, body: '<html>upstream down</html>' },
    });
    const limited = await chat(server, { field: 'limited' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(((await limited.json()) as any).error).toMatchObject({ type: 'rate_limit_exceeded' });

    const down = await chat(server, { field: 'other' });
    expect(down.status).toBe(503);
    expect(down.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(await down.text()).toBe('<html>upstream down</html>');
  });

  it('resets the connection without a response', async () => {
    const server = await start({ handler: () => ({ kind: 'reset' }) });
    await expect(chat(server, { field: 'x' })).rejects.toThrow();
    expect(server.requests).toHaveLength(1);
  });

  it('sends an endless body until the client goes away', async () => {
    // Prepare
    const server = await start({ handler: () => ({ kind: 'endless' }) });
    const client = new AbortController();
    const res = await chat(server, { signal: client.signal });
    const reader = res.body!.getReader();

    // Act: read well past any real answer, then leave
    let received = 0;
    while (received < 2 * 1024 * 1024) received += (await reader.read()).value?.byteLength ?? 0;
    client.abort();

    // Assess
    expect(res.status).toBe(200);
    await vi.waitFor(() => expect(server.pending).toBe(0));
  });

  it('queues beyond capacity in FIFO order', async () => {
    const started: string[] = [];
    const server = await start({
      capacity: 2,
      handler: (req) => {
        started.push(req.field ?? '?');
        return { kind: 'answer', value: req.field, latencyMs: 200 };
      },
    });
    const t0 = performance.now();
    const first = Promise.all([chat(server, { field: 'f1' }), chat(server, { field: 'f2' })]);
    await until(() => server.inFlight === 2);
    const rest = [chat(server, { field: 'f3' }), chat(server, { field: 'f4' })];
    await until(() => server.queued === 2);
    expect(started).toHaveLength(2);

    const responses = [...(await first), ...(await Promise.all(rest))];
    const elapsed = performance.now() - t0;

    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    expect(started.slice(2)).toEqual(['f3', 'f4']);
    expect(server.maxServing).toBe(2);
    expect(server.maxInFlight).toBe(4);
    expect(server.rejected).toBe(0);
    expect(elapsed).toBeGreaterThanOrEqual(380);
    await until(() => server.inFlight === 0 && server.pending === 0 && server.queued === 0);
  });

  it('rejects beyond capacity with 429 and Retry-After', async () => {
    const server = await start({
      capacity: 1,
      overCapacity: 'reject',
      retryAfterMs: 1500,
      handler: () => ({ kind: 'answer', value: 1, latencyMs: 300 }),
    });
    const served = chat(server, { field: 'a' });
    await until(() => server.inFlight === 1);
    const turnedAway = await Promise.all([chat(server, { field: 'b' }), chat(server, { field: 'c' })]);

    for (const res of turnedAway) {
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after-ms')).toBe('1500');
      expect(res.headers.get('retry-after')).toBe('2');
      expect(((await res.json()) as any).error.type).toBe('rate_limit_exceeded');
    }
    expect((await served).status).toBe(200);
    expect(server.rejected).toBe(2);
    expect(server.maxServing).toBe(1);
    expect(server.requests.filter((r) => r.rejectedByCapacity).map((r) => r.field).sort()).toEqual(['b', 'c']);
  });

  it('counts concurrent requests in maxInFlight', async () => {
    const server = await start({ defaultLatencyMs: 150, jitterMs: 20 });
    const responses = await Promise.all(Array.from({ length: 5 }, (_, i) => chat(server, { field: `f${i}` })));
    expect(responses.every((r) => r.status === 200)).toBe(true);
    expect(server.maxInFlight).toBe(5);
    expect(server.maxServing).toBe(5);
  });

  it('refuses a missing or wrong API key with 401', async () => {
    const server = await start({ apiKey: 'sk-test' });
    const missing = await chat(server, { field: 'a' });
    const wrong = await chat(server, { field: 'a', headers: { authorization: 'Bearer nope' } });
    const right = await chat(server, { field: 'a', headers: { authorization: 'Bearer sk-test' } });
    expect([missing.status, wrong.status, right.status]).toEqual([401, 401, 200]);
    expect(((await missing.json()) as any).error.code).toBe('invalid_api_key');
    expect(server.requests).toHaveLength(1);
  });

  it('answers 404 off the route and 400 to a body that is not JSON', async () => {
    const server = await start();
    expect((await fetch(`${server.baseUrl}/models`)).status).toBe(404);
    expect((await fetch(`${server.baseUrl}/chat/completions`)).status).toBe(404);
    const bad = await fetch(`${server.baseUrl}/chat/completions`, { method: 'POST', body: '{"messages": [' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as any).error.type).toBe('invalid_request_error');
    expect(server.requests).toHaveLength(0);
  });

  it('cancels the latency wait when the client disconnects', async () => {
    const server = await start({ handler: () => ({ kind: 'answer', value: 1, latencyMs: 60_000 }) });
    const before = activeTimeouts();
    const abort = new AbortController();
    const pending = chat(server, { field: 'a', signal: abort.signal });
    await until(() => server.requests.length === 1);
    expect(activeTimeouts()).toBeGreaterThan(before);

    abort.abort();
    await expect(pending).rejects.toThrow();
    await until(() => server.pending === 0 && server.inFlight === 0);
    expect(activeTimeouts()).toBe(before);
  });

  it('drops a queued request whose client went away', async () => {
    const server = await start({ capacity: 1, handler: () => ({ kind: 'hang' }) });
    const first = chat(server, { field: 'a' }).catch(() => 'closed');
    await until(() => server.inFlight === 1);
    const abort = new AbortController();
    const queued = chat(server, { field: 'b', signal: abort.signal });
    await until(() => server.queued === 1);
    abort.abort();
    await expect(queued).rejects.toThrow();
    await until(() => server.queued === 0);
    expect(server.inFlight).toBe(1);
    await server.close();
    expect(await first).toBe('closed');
  });

  it('releases a hanging request on close()', async () => {
    const server = await start({ handler: () => ({ kind: 'hang' }) });
    const hanging = chat(server, { field: 'a' });
    await until(() => server.requests.length === 1);
    const t0 = performance.now();
    await server.close();
    expect(performance.now() - t0).toBeLessThan(1000);
    await expect(hanging).rejects.toThrow();
  });
});
