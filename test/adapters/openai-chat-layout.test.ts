/**
 * The request layout prefix-caching servers need: every request of one
 * image starts with the same bytes through the end of the image, and only
 * the field's question (and, for a re-ask, its turns) comes after.
 */
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { Pool } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { OpenAIChatClient, type PromptLayout } from '../../functions/adapters/openai-chat';
import { answerJsonSchema, reaskTurns, SYSTEM_PROMPT } from '../../functions/core/answer';
import { systemClock } from '../../functions/core/clock';
import { extractFields } from '../../functions/core/extract';
import { createLimit } from '../../functions/core/limit';
import type { ModelRequest } from '../../functions/core/ports';
import { anImage, memoryLogger, stringFields } from '../core/fakes';
import { startOpenAITestServer, type OpenAITestServer } from '../support/openai-test-server';

/** A transport that keeps each request body's exact chunks and answers at once. */
function capturing(): { dispatcher: Dispatcher; bodies: Buffer[] } {
  const bodies: Buffer[] = [];
  const dispatcher = {
    request: async (opts: Dispatcher.RequestOptions) => {
      bodies.push(Buffer.concat(opts.body as unknown as Buffer[]));
      const body = JSON.stringify({ choices: [{ message: { content: '{"value": null}' }, finish_reason: 'stop' }] });
      return { statusCode: 200, headers: {}, body: Readable.from([Buffer.from(body)]) };
    },
  } as unknown as Dispatcher;
  return { dispatcher, bodies };
}

function commonPrefix(bodies: readonly Buffer[]): number {
  const first = bodies[0]!;
  let n = first.length;
  for (const b of bodies.slice(1)) {
    let i = 0;
    while (i < n && i < b.length && b[i] === first[i]) i++;
    n = i;
  }
  return n;
}

/** The system prompt as it appears inside a JSON body. */
const SYSTEM_IN_JSON = JSON.stringify(SYSTEM_PROMPT).slice(1, -1);
const IMAGE = anImage(Buffer.alloc(3_000, 7));
const FIELDS = stringFields(5);
const live = () => ({ signal: new AbortController().signal, timeoutMs: 5_000 });

function requestFor(i: number, overrides: Partial<ModelRequest> = {}): ModelRequest {
  const field = FIELDS[i]!;
  return {
    image: IMAGE,
    system: SYSTEM_PROMPT,
    prompt: field.prompt,
    followUp: [],
    schemaName: field.name,
    answerSchema: answerJsonSchema(field),
    maxTokens: 1024,
    ...overrides,
  };
}

async function bodiesOf(layout: PromptLayout, requests: readonly ModelRequest[]): Promise<Buffer[]> {
  const { dispatcher, bodies } = capturing();
  const client = new OpenAIChatClient({ baseUrl: 'http://10.0.0.5:8000/v1', model: 'qwen2.5-vl-7b', dispatcher, promptLayout: layout });
  for (const r of requests) await client.complete(r, live());
  return bodies;
}

/** Where the image's base64 ends in a body. */
function imageEnd(body: Buffer): number {
  const base64 = IMAGE.base64.toString('latin1');
  return body.indexOf(base64, 0, 'latin1') + base64.length;
}

describe('OpenAIChatClient request layout', () => {
  it('gives the requests of every field of one image the same bytes through the end of the image', async () => {
    // Act
    const bodies = await bodiesOf('image-first', FIELDS.map((_, i) => requestFor(i)));

    // Assess: the shared prefix covers the system prompt and the whole image, and is nearly all of a body
    const shared = commonPrefix(bodies);
    expect(shared).toBeGreaterThanOrEqual(imageEnd(bodies[0]!));
    expect(bodies[0]!.subarray(0, shared).toString('utf8')).toContain(SYSTEM_IN_JSON);
    expect(bodies[0]!.subarray(0, shared).toString('utf8')).not.toContain(FIELDS[0]!.prompt);
    expect(shared / bodies[0]!.length).toBeGreaterThan(0.9);
  });

  it('keeps that prefix in a re-ask, whose turns come after it', async () => {
    // Prepare
    const reask = requestFor(0, { followUp: reaskTurns('not json {', 'the reply was not JSON', FIELDS[0]!) });

    // Act
    const bodies = await bodiesOf('image-first', [requestFor(0), requestFor(1), reask]);

    // Assess
    expect(commonPrefix(bodies)).toBeGreaterThanOrEqual(imageEnd(bodies[0]!));
  });

  it('shares nothing past the system prompt with the question first, the layout kept for comparison', async () => {
    // Act
    const bodies = await bodiesOf('question-first', FIELDS.map((_, i) => requestFor(i)));

    // Assess
    const shared = commonPrefix(bodies);
    const image = bodies[0]!.indexOf(IMAGE.base64.toString('latin1'), 0, 'latin1');
    expect(shared).toBeLessThan(image);
    expect(bodies[0]!.subarray(0, shared).toString('utf8')).toContain(SYSTEM_IN_JSON);
  });

  it('refuses an unknown layout', () => {
    expect(() => new OpenAIChatClient({ baseUrl: 'http://x/v1', model: 'm', promptLayout: 'sideways' as PromptLayout })).toThrow(
      /image-first/,
    );
  });
});

describe('OpenAIChatClient request layout against the test server', () => {
  let server: OpenAITestServer | undefined;
  let pool: Pool | undefined;
  afterEach(async () => {
    await pool?.close();
    await server?.close();
  });

  it('sends every field of one image, re-ask included, with one prefix through the image and the question after it', async () => {
    // Prepare: f2 answers with broken JSON first, so it is re-asked
    server = await startOpenAITestServer({
      handler: (req) =>
        req.field === 'f2' && req.attempt === 1 ? { kind: 'text', content: '{"value": ' } : { kind: 'answer', value: `v ${req.field}` },
    });
    pool = new Pool(new URL(server.baseUrl).origin, { connections: 5 });
    const model = new OpenAIChatClient({ baseUrl: server.baseUrl, model: 'test-model', dispatcher: pool });
    const deadline = new AbortController();

    // Act
    const outcomes = await extractFields({
      image: IMAGE,
      fields: FIELDS,
      model,
      deadline: deadline.signal,
      deadlineAt: Date.now() + 30_000,
      limit: createLimit(5),
      timeoutMs: 10_000,
      maxRetries: 1,
      maxTokens: 256,
      clock: systemClock,
      logger: memoryLogger(),
    });

    // Assess: six requests (five fields, one re-ask), one image, one prefix through the image part
    expect(outcomes.every((o) => o.result.status === 'ok')).toBe(true);
    expect(server.requests).toHaveLength(6);
    expect(new Set(server.requests.map((r) => r.imageSha256)).size).toBe(1);
    const marker = '"<image>"}}';
    const prefixes = server.requests.map((r) => {
      const json = JSON.stringify(r.body);
      return json.slice(0, json.indexOf(marker) + marker.length);
    });
    expect(new Set(prefixes).size).toBe(1);
    expect(prefixes[0]).toContain(SYSTEM_IN_JSON);
    for (const r of server.requests) {
      expect(prefixes[0]).not.toContain(r.prompt);
      expect(r.body.messages[1].content).toEqual([
        { type: 'image_url', image_url: { url: '<image>' } },
        { type: 'text', text: r.prompt },
      ]);
    }
    expect(server.requests.filter((r) => r.turns === 4).map((r) => r.field)).toEqual(['f2']);
  });
});
