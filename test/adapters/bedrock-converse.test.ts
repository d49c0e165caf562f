import { createHash } from 'node:crypto';
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ANSWER_TOOL,
  BedrockConverseClient,
  createBedrockRuntimeClient,
  imageBytes,
  type BedrockConverseOptions,
} from '../../functions/adapters/bedrock-converse';
import { answerJsonSchema, SYSTEM_PROMPT } from '../../functions/core/answer';
import { systemClock } from '../../functions/core/clock';
import { ErrorCode, type ModelError } from '../../functions/core/errors';
import { extractFields } from '../../functions/core/extract';
import { prepareImage } from '../../functions/core/image';
import { createLimit } from '../../functions/core/limit';
import type { CompleteOptions, ImagePayload, ModelRequest } from '../../functions/core/ports';
import { aField, memoryLogger, stringFields } from '../core/fakes';
import {
  answerByField,
  startBedrockTestServer,
  type BedrockTestServer,
  type ConverseErrorType,
} from '../support/bedrock-test-server';

const REGION = 'eu-west-1';
const MODEL_ID = 'eu.anthropic.claude-3-5-sonnet-20240620-v1:0';
const IMAGE_BYTES = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 1, 2, 3, 4, 5, 6, 7, 8]);

let server: BedrockTestServer;
let sdk: BedrockRuntimeClient;

beforeAll(async () => {
  server = await startBedrockTestServer();
  sdk = await createBedrockRuntimeClient({
    region: REGION,
    endpoint: server.endpoint,
    // Static fake credentials: the SDK signs with them; nothing leaves loopback.
    credentials: { accessKeyId: 'AKIDFIELDLENSTEST', secretAccessKey: 'fieldlens-test-secret' },
  });
});
afterAll(async () => {
  sdk.destroy();
  await server.close();
});
beforeEach(() => {
  server.reset();
  server.setHandler(() => ({ kind: 'answer', value: '乙醇' }));
});

function anImage(bytes: Buffer = IMAGE_BYTES): ImagePayload {
  return prepareImage(bytes, 'image/png');
}

function aRequest(overrides: Partial<ModelRequest> = {}): ModelRequest {
  const field = aField({ name: 'name' });
  return {
    image: anImage(),
    system: SYSTEM_PROMPT,
    prompt: 'What is the product name?',
    followUp: [],
    schemaName: 'name',
    answerSchema: answerJsonSchema(field),
    maxTokens: 512,
    ...overrides,
  };
}

function aClient(overrides: Partial<BedrockConverseOptions> = {}): BedrockConverseClient {
  return new BedrockConverseClient({ modelId: MODEL_ID, region: REGION, client: sdk, ...overrides });
}

const live = (): CompleteOptions => ({ signal: new AbortController().signal, timeoutMs: 5_000 });

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** The ModelError `act` rejects with. */
async function failure(act: Promise<unknown>): Promise<ModelError> {
  try {
    await act;
  } catch (err) {
    return err as ModelError;
  }
  throw new Error('the call did not fail');
}

describe('BedrockConverseClient request', () => {
  it('sends system, then the image, then the question, deterministically, signed for bedrock in the region', async () => {
    // Act
    await aClient({ structuredOutput: 'prompt' }).complete(aRequest(), live());

    // Assess
    const [req] = server.requests;
    expect(req!.modelId).toBe(MODEL_ID);
    expect(req!.system).toEqual([SYSTEM_PROMPT]);
    expect(req!.layout).toEqual(['image', 'text']);
    expect(req!.body.messages[0].content[1]).toEqual({ text: 'What is the product name?' });
    expect(req!.image).toEqual({ format: 'png', bytes: IMAGE_BYTES.length, sha256: sha256(IMAGE_BYTES) });
    expect(req!.body.inferenceConfig).toEqual({ temperature: 0, maxTokens: 512 });
    expect(req!.signature).toEqual({ accessKeyId: 'AKIDFIELDLENSTEST', region: REGION, service: 'bedrock' });
    // The SDK's own retries are off: retries are the core's.
    expect(req!.headers['amz-sdk-request']).toBe('attempt=1; max=1');
  });

  it('sends a model ARN intact in the path', async () => {
    // Prepare
    const arn = `arn:aws:bedrock:${REGION}:123456789012:inference-profile/${MODEL_ID}`;

    // Act
    await aClient({ modelId: arn }).complete(aRequest(), live());

    // Assess
    expect(server.requests[0]!.modelId).toBe(arn);
  });

  it('decodes an image once and shares the bytes with every field', async () => {
    // Prepare
    const image = anImage();
    const client = aClient();

    // Act
    await Promise.all(
      ['a?', 'b?', 'c?'].map((prompt) => client.complete(aRequest({ image, prompt }), live())),
    );

    // Assess
    expect(imageBytes(image)).toBe(imageBytes(image));
    expect(Buffer.from(imageBytes(image)).equals(IMAGE_BYTES)).toBe(true);
    expect(new Set(server.requests.map((r) => r.image?.sha256))).toEqual(new Set([sha256(IMAGE_BYTES)]));
    expect(imageBytes(anImage(Buffer.from([0xff, 0xd8, 0xff, 9])))).not.toBe(imageBytes(image));
  });

  it('puts a cache point between the image and the question only when promptCache is on', async () => {
    // Act
    await aClient({ promptCache: true }).complete(aRequest(), live());
    await aClient({ promptCache: false }).complete(aRequest(), live());

    // Assess
    expect(server.requests[0]!.layout).toEqual(['image', 'cachePoint', 'text']);
    expect(server.requests[0]!.body.messages[0].content[1]).toEqual({ cachePoint: { type: 'default' } });
    expect(server.requests[1]!.layout).toEqual(['image', 'text']);
  });

  it('sends the follow-up turns as further messages, a blank reply as a placeholder', async () => {
    // Prepare
    const followUp = [
      { role: 'assistant' as const, content: '  ' },
      { role: 'user' as const, content: 'That reply was not valid: the reply was empty.' },
    ];

    // Act
    await aClient().complete(aRequest({ followUp }), live());

    // Assess
    expect(server.requests[0]!.body.messages.slice(1)).toEqual([
      { role: 'assistant', content: [{ text: '(empty reply)' }] },
      { role: 'user', content: [{ text: 'That reply was not valid: the reply was empty.' }] },
    ]);
  });
});

describe('BedrockConverseClient structured output', () => {
  it('in tool mode forces one tool whose input schema is the answer schema, and reads its input', async () => {
    // Prepare
    const request = aRequest();

    // Act
    const reply = await aClient({ structuredOutput: 'tool' }).complete(request, live());

    // Assess
    expect(server.requests[0]!.body.toolConfig).toEqual({
      tools: [
        {
          toolSpec: {
            name: ANSWER_TOOL,
            description: expect.any(String),
            inputSchema: { json: request.answerSchema },
          },
        },
      ],
      toolChoice: { tool: { name: ANSWER_TOOL } },
    });
    expect(reply).toMatchObject({ text: '{"value":"乙醇"}', finishReason: 'stop' });
  });

  it('uses the same tool for every field, so fields with one schema share the prefix', async () => {
    // Act
    const client = aClient({ promptCache: true });
    await client.complete(aRequest({ prompt: 'a?', schemaName: 'a' }), live());
    await client.complete(aRequest({ prompt: 'b?', schemaName: 'b' }), live());

    // Assess
    expect(server.requests[0]!.cacheKey).toBeDefined();
    expect(server.requests[1]!.cacheKey).toBe(server.requests[0]!.cacheKey);
  });

  it('in tool mode passes a tool input without a value on as it is, for the core to reject', async () => {
    // Prepare
    server.setHandler(() => ({ kind: 'raw', status: 200, body: converse([{ toolUse: { toolUseId: 't1', name: ANSWER_TOOL, input: { name: 'x' } } }], 'tool_use') }));

    // Act
    const reply = await aClient().complete(aRequest(), live());

    // Assess
    expect(reply.text).toBe('{"name":"x"}');
  });

  it('in tool mode falls back to the text when the model did not use the tool', async () => {
    server.setHandler(() => ({ kind: 'text', text: '{"value": "Ethanol"}' }));

    const reply = await aClient({ structuredOutput: 'tool' }).complete(aRequest(), live());

    expect(reply.text).toBe('{"value": "Ethanol"}');
  });

  it('in prompt mode sends no tool and returns the text blocks joined', async () => {
    // Prepare
    server.setHandler(() => ({
      kind: 'raw',
      status: 200,
      body: converse([{ text: '{"value": ' }, { text: '"乙醇"}' }], 'end_turn'),
    }));

    // Act
    const reply = await aClient({ structuredOutput: 'prompt' }).complete(aRequest(), live());

    // Assess
    expect(server.requests[0]!.body).not.toHaveProperty('toolConfig');
    expect(reply).toMatchObject({ text: '{"value": "乙醇"}', finishReason: 'stop' });
  });
});

describe('BedrockConverseClient reply', () => {
  it('reports usage, and the cache written by the first field and read by the next', async () => {
    // Prepare
    const client = aClient({ promptCache: true, structuredOutput: 'prompt' });

    // Act
    const first = await client.complete(aRequest({ prompt: 'a?' }), live());
    const second = await client.complete(aRequest({ prompt: 'b?' }), live());

    // Assess
    expect(first.usage).toEqual({ promptTokens: 100, completionTokens: 10 });
    expect(first.cache).toEqual({ readTokens: 0, writeTokens: 1000 });
    expect(second.cache).toEqual({ readTokens: 1000, writeTokens: 0 });
  });

  it('reports no cache figures when the response has none, and no usage when it has none', async () => {
    // Act
    const plain = await aClient().complete(aRequest(), live());
    server.setHandler(() => ({ kind: 'answer', value: 'x', usage: null }));
    const bare = await aClient().complete(aRequest(), live());

    // Assess
    expect(plain.usage).toEqual({ promptTokens: 1100, completionTokens: 10 });
    expect(plain).not.toHaveProperty('cache');
    expect(bare).not.toHaveProperty('usage');
  });

  it.each([
    ['max_tokens', 'length'],
    ['model_context_window_exceeded', 'length'],
    ['end_turn', 'stop'],
    ['stop_sequence', 'stop'],
  ])('reads stopReason %s as finish reason %s', async (stopReason, finishReason) => {
    server.setHandler(() => ({ kind: 'text', text: '{"value": ["a', stopReason }));

    const reply = await aClient().complete(aRequest(), live());

    expect(reply.finishReason).toBe(finishReason);
  });

  it.each(['guardrail_intervened', 'content_filtered'])('refuses an answer withheld by %s', async (stopReason) => {
    server.setHandler(() => ({ kind: 'text', text: 'Sorry, the model cannot answer.', stopReason }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err).toMatchObject({ code: ErrorCode.MODEL_BAD_RESPONSE, retryable: false });
  });

  it('refuses a response without an output message', async () => {
    server.setHandler(() => ({ kind: 'raw', status: 200, body: JSON.stringify({ stopReason: 'end_turn' }) }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err).toMatchObject({ code: ErrorCode.MODEL_BAD_RESPONSE, retryable: false });
  });

  it('refuses a 200 whose body is not JSON', async () => {
    server.setHandler(() => ({ kind: 'raw', status: 200, body: '{"output": ' }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err).toMatchObject({ code: ErrorCode.MODEL_BAD_RESPONSE, retryable: false, status: 200 });
  });
});

describe('BedrockConverseClient errors', () => {
  it.each<[ConverseErrorType, ErrorCode, boolean]>([
    ['ThrottlingException', ErrorCode.MODEL_RATE_LIMITED, true],
    ['ServiceUnavailableException', ErrorCode.MODEL_RATE_LIMITED, true],
    ['ModelTimeoutException', ErrorCode.MODEL_TIMEOUT, true],
    ['ModelNotReadyException', ErrorCode.MODEL_SERVER_ERROR, true],
    ['ModelErrorException', ErrorCode.MODEL_SERVER_ERROR, true],
    ['InternalServerException', ErrorCode.MODEL_SERVER_ERROR, true],
    ['AccessDeniedException', ErrorCode.MODEL_UNAUTHORIZED, false],
    ['ValidationException', ErrorCode.MODEL_BAD_REQUEST, false],
    ['ResourceNotFoundException', ErrorCode.MODEL_BAD_REQUEST, false],
    ['ServiceQuotaExceededException', ErrorCode.MODEL_QUOTA_EXCEEDED, false],
  ])('maps %s to %s, retryable %s', async (type, code, retryable) => {
    // Prepare
    server.setHandler(() => ({ kind: 'error', type }));

    // Act
    const err = await failure(aClient().complete(aRequest(), live()));

    // Assess
    expect(err).toMatchObject({ name: 'ModelError', code, retryable, context: { exception: type, modelId: MODEL_ID } });
  });

  it('says what to check when access is denied', async () => {
    server.setHandler(() => ({ kind: 'error', type: 'AccessDeniedException' }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err.message).toContain(`model access not enabled for ${MODEL_ID} in ${REGION}`);
    expect(err.message).toContain('bedrock:InvokeModel');
    expect(err.status).toBe(403);
  });

  it('names the model and region when there is no such model, and keeps the server message', async () => {
    server.setHandler(() => ({ kind: 'error', type: 'ResourceNotFoundException' }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err.message).toBe(`no model ${MODEL_ID} in ${REGION}: The provided model identifier is invalid.`);
  });

  it.each([
    [429, ErrorCode.MODEL_RATE_LIMITED, true],
    [503, ErrorCode.MODEL_RATE_LIMITED, true],
    [502, ErrorCode.MODEL_SERVER_ERROR, true],
    [403, ErrorCode.MODEL_UNAUTHORIZED, false],
    [413, ErrorCode.MODEL_BAD_REQUEST, false],
  ])('classifies HTTP %i without a known exception by its status as %s', async (status, code, retryable) => {
    server.setHandler(() => ({ kind: 'raw', status, body: '<html>proxy error</html>', headers: { 'content-type': 'text/html' } }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err).toMatchObject({ code, retryable, status });
  });

  it('carries a retry-after hint on a throttle', async () => {
    server.setHandler(() => ({ kind: 'error', type: 'ThrottlingException', headers: { 'retry-after': '2' } }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err).toMatchObject({ code: ErrorCode.MODEL_RATE_LIMITED, retryAfterMs: 2000, status: 429 });
  });

  it('leaves the wait to the core when a throttle has no hint', async () => {
    server.setHandler(() => ({ kind: 'error', type: 'ThrottlingException' }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err.retryAfterMs).toBeUndefined();
  });

  it.each(['stream', 'connection'] as const)('classifies a %s reset as a retryable MODEL_CONNECTION', async (scope) => {
    server.setHandler(() => ({ kind: 'reset', scope }));

    const err = await failure(aClient().complete(aRequest(), live()));

    expect(err).toMatchObject({ code: ErrorCode.MODEL_CONNECTION, retryable: true });
  });

  it('classifies a refused connection as a retryable MODEL_CONNECTION', async () => {
    // Prepare: a server that is gone
    const gone = await startBedrockTestServer();
    await gone.close();
    const client = await createBedrockRuntimeClient({
      region: REGION,
      endpoint: gone.endpoint,
      credentials: { accessKeyId: 'AKIDFIELDLENSTEST', secretAccessKey: 'fieldlens-test-secret' },
    });

    // Act
    const err = await failure(aClient({ client }).complete(aRequest(), live()));
    client.destroy();

    // Assess
    expect(err).toMatchObject({ code: ErrorCode.MODEL_CONNECTION, retryable: true, context: { code: 'ECONNREFUSED' } });
  });

  it('fails an attempt that outlives its timeout as a retryable MODEL_TIMEOUT', async () => {
    server.setHandler(() => ({ kind: 'hang' }));

    const err = await failure(aClient().complete(aRequest(), { signal: new AbortController().signal, timeoutMs: 50 }));

    expect(err).toMatchObject({ code: ErrorCode.MODEL_TIMEOUT, retryable: true });
    expect(err.message).toContain('attempt timeout of 50 ms');
  });

  it('fails a call cut by the invocation deadline as DEADLINE_EXCEEDED, not retryable', async () => {
    // Prepare
    const deadline = new AbortController();
    server.setHandler(() => {
      deadline.abort();
      return { kind: 'hang' };
    });

    // Act
    const err = await failure(aClient().complete(aRequest(), { signal: deadline.signal, timeoutMs: 5_000 }));

    // Assess
    expect(err).toMatchObject({ code: ErrorCode.DEADLINE_EXCEEDED, retryable: false });
  });
});

describe('BedrockConverseClient options', () => {
  it.each<[string, Partial<BedrockConverseOptions>, RegExp]>([
    ['an empty modelId', { modelId: ' ' }, /modelId/],
    ['a region that is not one', { region: 'Frankfurt' }, /region/],
    ['an unknown structured output mode', { structuredOutput: 'json' as never }, /structuredOutput/],
  ])('refuses %s with a TypeError', (_, overrides, message) => {
    expect(() => aClient(overrides)).toThrow(TypeError);
    expect(() => aClient(overrides)).toThrow(message);
  });

  it('records the model id as the model name', () => {
    expect(aClient().modelName).toBe(MODEL_ID);
  });
});

describe('extractFields over Bedrock', () => {
  it('ends every field ok when the model throttles beyond its capacity', async () => {
    // Prepare
    const fields = stringFields(6);
    const throttled = await startBedrockTestServer({
      capacity: 2,
      retryAfter: '0.05',
      defaultLatencyMs: 30,
      prompts: Object.fromEntries(fields.map((f) => [f.prompt, f.name])),
      handler: answerByField(Object.fromEntries(fields.map((f) => [f.name, `value of ${f.name}`]))),
    });
    const client = await createBedrockRuntimeClient({
      region: REGION,
      endpoint: throttled.endpoint,
      credentials: { accessKeyId: 'AKIDFIELDLENSTEST', secretAccessKey: 'fieldlens-test-secret' },
    });
    const deadline = new AbortController();

    // Act
    const outcomes = await extractFields({
      image: anImage(),
      fields,
      model: aClient({ client, promptCache: true }),
      deadline: deadline.signal,
      deadlineAt: Date.now() + 20_000,
      limit: createLimit(Infinity),
      timeoutMs: 5_000,
      maxRetries: 2,
      maxTokens: 256,
      clock: systemClock,
      logger: memoryLogger(),
    });
    client.destroy();
    await throttled.close();

    // Assess
    expect(outcomes.map((o) => [o.name, o.result.status, o.value])).toEqual(
      fields.map((f) => [f.name, 'ok', `value of ${f.name}`]),
    );
    expect(throttled.rejected).toBeGreaterThan(0);
    expect(throttled.maxServing).toBeLessThanOrEqual(2);
    expect(outcomes.some((o) => o.result.attempts > 1)).toBe(true);
  });

  it('re-asks an invalid answer through Converse and makes a max_tokens cut MODEL_TRUNCATED', async () => {
    // Prepare
    const fields = stringFields(2).map((f, i) => (i === 0 ? { ...f, type: 'string[]' as const } : f));
    const listField = fields[0];
    server.setHandler((req) =>
      req.prompt === listField!.prompt
        ? req.turns === 1
          ? { kind: 'text', text: 'The tags are A and B.' }
          : { kind: 'answer', value: ['A', 'B'] }
        : { kind: 'text', text: '{"value": "cut o', stopReason: 'max_tokens' },
    );

    // Act
    const outcomes = await extractFields({
      image: anImage(),
      fields,
      model: aClient({ structuredOutput: 'prompt' }),
      deadline: new AbortController().signal,
      deadlineAt: Date.now() + 20_000,
      limit: createLimit(Infinity),
      timeoutMs: 5_000,
      maxRetries: 0,
      maxTokens: 256,
      clock: systemClock,
      logger: memoryLogger(),
    });

    // Assess
    expect(outcomes[0]).toMatchObject({ name: listField!.name, value: ['A', 'B'], result: { status: 'ok', attempts: 2 } });
    expect(outcomes[1]!.result).toMatchObject({ status: 'error', error: { code: ErrorCode.MODEL_TRUNCATED } });
    const reask = server.requests.find((r) => r.turns === 3)!;
    expect(reask.body.messages.map((m: { role: string }) => m.role)).toEqual(['user', 'assistant', 'user']);
  });
});

/** A Converse response body with `content` and `stopReason`. */
function converse(content: unknown[], stopReason: string): string {
  return JSON.stringify({
    output: { message: { role: 'assistant', content } },
    stopReason,
    usage: { inputTokens: 10, outputTokens: 2, totalTokens: 12 },
    metrics: { latencyMs: 1 },
  });
}
