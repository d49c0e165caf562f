import { createHash } from 'node:crypto';
import { connect } from 'node:http2';
import { BedrockRuntimeClient, ConverseCommand, type ContentBlock } from '@aws-sdk/client-bedrock-runtime';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ERROR_STATUS, startBedrockTestServer } from './bedrock-test-server';
import type { BedrockTestServer, BedrockTestServerOptions } from './bedrock-test-server';

const IMAGE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);

let servers: BedrockTestServer[] = [];
let clients: BedrockRuntimeClient[] = [];
afterEach(async () => {
  for (const c of clients) c.destroy();
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
  clients = [];
});

async function start(options?: BedrockTestServerOptions): Promise<{ server: BedrockTestServer; sdk: BedrockRuntimeClient }> {
  const server = await startBedrockTestServer(options);
  const sdk = new BedrockRuntimeClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' },
    maxAttempts: 1,
  });
  servers.push(server);
  clients.push(sdk);
  return { server, sdk };
}

interface Ask {
  prompt?: string;
  image?: Uint8Array;
  cache?: boolean;
  system?: string;
  tool?: boolean;
  followUp?: boolean;
}

/** A Converse request shaped like the fieldlens adapter's. */
function ask(sdk: BedrockRuntimeClient, a: Ask = {}, abortSignal?: AbortSignal) {
  const content: ContentBlock[] = [
    { image: { format: 'png', source: { bytes: a.image ?? IMAGE } } },
    ...(a.cache ? [{ cachePoint: { type: 'default' as const } }] : []),
    { text: a.prompt ?? 'What is it?' },
  ];
  return sdk.send(
    new ConverseCommand({
      modelId: 'us.amazon.nova-lite-v1:0',
      system: [{ text: a.system ?? 'Answer with JSON.' }],
      messages: [
        { role: 'user', content },
        ...(a.followUp
          ? [
              { role: 'assistant' as const, content: [{ text: 'nope' }] },
              { role: 'user' as const, content: [{ text: 'again' }] },
            ]
          : []),
      ],
      inferenceConfig: { temperature: 0, maxTokens: 64 },
      ...(a.tool
        ? {
            toolConfig: {
              tools: [{ toolSpec: { name: 'answer', inputSchema: { json: { type: 'object' } } } }],
              toolChoice: { tool: { name: 'answer' } },
            },
          }
        : {}),
    }),
    abortSignal ? { abortSignal } : {},
  );
}

describe('bedrock test server', () => {
  it('records the layout, the image by hash and the signature, keeping no image bytes', async () => {
    // Prepare
    const { server, sdk } = await start();

    // Act
    await ask(sdk, { cache: true });

    // Assess
    const [req] = server.requests;
    expect(req).toMatchObject({
      index: 0,
      modelId: 'us.amazon.nova-lite-v1:0',
      layout: ['image', 'cachePoint', 'text'],
      system: ['Answer with JSON.'],
      prompt: 'What is it?',
      image: { format: 'png', bytes: IMAGE.length, sha256: createHash('sha256').update(IMAGE).digest('hex') },
      signature: { accessKeyId: 'AKIDTEST', region: 'us-east-1', service: 'bedrock' },
      turns: 1,
      rejectedByCapacity: false,
    });
    expect(req!.body.messages[0].content[0].image.source.bytes).toBe('<image>');
  });

  it('answers as text, or as the forced tool when the request forces one', async () => {
    // Prepare
    const { sdk } = await start({ handler: () => ({ kind: 'answer', value: 'Acme' }) });

    // Act
    const text = await ask(sdk);
    const tool = await ask(sdk, { tool: true });

    // Assess
    expect(text.output?.message?.content).toEqual([{ text: '{"value":"Acme"}' }]);
    expect(text.stopReason).toBe('end_turn');
    expect(tool.output?.message?.content?.[0]?.toolUse).toMatchObject({ name: 'answer', input: { value: 'Acme' } });
    expect(tool.stopReason).toBe('tool_use');
  });

  it('finds the field through the prompts map, numbers attempts per question, and reset starts over', async () => {
    // Prepare
    const { server, sdk } = await start({ prompts: { 'Who made it?': 'supplier' } });

    // Act
    await ask(sdk, { prompt: 'Who made it?' });
    await ask(sdk, { prompt: 'What is it?' });
    await ask(sdk, { prompt: 'Who made it?', followUp: true });

    // Assess
    expect(server.requests.map((r) => [r.field, r.attempt, r.turns])).toEqual([
      ['supplier', 1, 1],
      [undefined, 1, 1],
      ['supplier', 2, 3],
    ]);
    server.reset();
    expect(server.requests).toHaveLength(0);
    await ask(sdk, { prompt: 'Who made it?' });
    expect(server.requests.map((r) => [r.index, r.attempt])).toEqual([[0, 1]]);
  });

  it('imitates a prompt cache: the first request with a prefix writes it, the next ones read it', async () => {
    // Prepare
    const { sdk } = await start({ prefixTokens: 1500 });

    // Act
    const first = await ask(sdk, { cache: true, prompt: 'a?' });
    const second = await ask(sdk, { cache: true, prompt: 'b?' });
    const otherImage = await ask(sdk, { cache: true, image: new Uint8Array([9, 9, 9]) });
    const otherSystem = await ask(sdk, { cache: true, system: 'Something else.' });
    const uncached = await ask(sdk);

    // Assess
    expect(first.usage).toMatchObject({ inputTokens: 100, cacheWriteInputTokens: 1500, cacheReadInputTokens: 0 });
    expect(second.usage).toMatchObject({ inputTokens: 100, cacheWriteInputTokens: 0, cacheReadInputTokens: 1500 });
    expect(otherImage.usage).toMatchObject({ cacheWriteInputTokens: 1500 });
    expect(otherSystem.usage).toMatchObject({ cacheWriteInputTokens: 1500 });
    expect(uncached.usage).toEqual({ inputTokens: 1600, outputTokens: 10, totalTokens: 1610 });
  });

  it('sends errors the way AWS does, so the SDK raises its own exception class', async () => {
    // Prepare
    const { sdk } = await start({ handler: () => ({ kind: 'error', type: 'ModelTimeoutException' }) });

    // Act
    const err = await ask(sdk).catch((e: unknown) => e as { name: string; $metadata: { httpStatusCode: number } });

    // Assess
    expect(err).toMatchObject({ name: 'ModelTimeoutException', $metadata: { httpStatusCode: ERROR_STATUS.ModelTimeoutException } });
  });

  it('throttles beyond capacity with a ThrottlingException and the configured retry-after', async () => {
    // Prepare
    const { server, sdk } = await start({ capacity: 1, retryAfter: '1', defaultLatencyMs: 100 });

    // Act
    const results = await Promise.allSettled([ask(sdk, { prompt: 'a?' }), ask(sdk, { prompt: 'b?' }), ask(sdk, { prompt: 'c?' })]);

    // Assess
    const throttled = results.filter((r) => r.status === 'rejected').map((r) => (r as PromiseRejectedResult).reason);
    expect(throttled.length).toBeGreaterThan(0);
    for (const err of throttled) {
      expect(err).toMatchObject({ name: 'ThrottlingException', $metadata: { httpStatusCode: 429 } });
      expect(err.$response.headers['retry-after']).toBe('1');
    }
    expect(server.rejected).toBe(throttled.length);
    expect(server.maxServing).toBe(1);
    expect(server.requests.filter((r) => r.rejectedByCapacity)).toHaveLength(throttled.length);
  });

  it('answers 404 off the Converse route', async () => {
    // Prepare
    const { server } = await start();
    const session = connect(server.endpoint);

    // Act
    const status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ':method': 'GET', ':path': '/model/x/invoke' });
      stream.on('response', (headers) => resolve(Number(headers[':status'])));
      stream.on('error', reject);
      stream.resume();
    });
    session.close();

    // Assess
    expect(status).toBe(404);
    expect(server.requests).toHaveLength(0);
  });

  it('releases a hanging request on close()', async () => {
    // Prepare
    const { server, sdk } = await start({ handler: () => ({ kind: 'hang' }) });
    const pending = ask(sdk).then(
      () => 'answered',
      () => 'failed',
    );
    await vi.waitFor(() => expect(server.pending).toBe(1));

    // Act
    await server.close();

    // Assess
    expect(await pending).toBe('failed');
    await vi.waitFor(() => expect(server.pending).toBe(0));
  });
});
