/**
 * The local model server's protocol, over real HTTP on loopback, with a
 * stand-in OCR engine (real OCR is exercised in model-server.e2e.test.ts).
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { answerJsonSchema, SYSTEM_PROMPT } from '../../functions/core/answer';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import type { FieldSpec } from '../../functions/core/fields';
import type { OcrLine } from '../../local/model-server/lines';
import type { OcrEngine } from '../../local/model-server/ocr';
import { startLocalModelServer } from '../../local/model-server/server';
import type { LocalModelServer } from '../../local/model-server/server';

const LABEL: OcrLine[] = [
  { text: 'Acetone', box: { x: 400, y: 60, width: 250, height: 60 } },
  { text: 'DANGER', box: { x: 420, y: 300, width: 200, height: 40 } },
  { text: 'Hazard statements', box: { x: 60, y: 400, width: 300, height: 30 } },
  { text: 'H225 Highly flammable liquid and vapour.', box: { x: 60, y: 450, width: 500, height: 26 } },
  { text: 'Precautionary statements', box: { x: 60, y: 500, width: 400, height: 30 } },
  { text: 'P233 Keep container tightly closed.', box: { x: 60, y: 550, width: 500, height: 26 } },
  { text: 'Supplier: Northfield Example Chemicals Ltd', box: { x: 60, y: 600, width: 500, height: 26 } },
  { text: 'Tel: +44 113 496 0123', box: { x: 60, y: 640, width: 300, height: 26 } },
];

// A real PNG, so the server's image header parsing and token estimate see real bytes.
const PNG = readFileSync(new URL('../../samples/en-acetone.png', import.meta.url));
const dataUri = (bytes: Buffer) => `data:image/png;base64,${bytes.toString('base64')}`;

let ocrDelayMs = 0;
let ocrCalls = 0;
const engine: OcrEngine = {
  async recognize(image) {
    ocrCalls++;
    if (image.subarray(0, 4).toString() === 'junk') throw new Error('Input buffer contains unsupported image format');
    await new Promise((r) => setTimeout(r, ocrDelayMs));
    return LABEL;
  },
};

let server: LocalModelServer;
beforeAll(async () => {
  server = await startLocalModelServer({ ocr: engine });
});
afterAll(async () => {
  await server?.close();
});

function chatBody(field: FieldSpec, options: { format?: 'json_schema' | 'json_object' | 'none'; image?: Buffer; maxTokens?: number } = {}) {
  const format = options.format ?? 'json_schema';
  return {
    model: 'whatever-the-user-configured',
    temperature: 0,
    max_tokens: options.maxTokens ?? 1024,
    messages: [
      { role: 'system', content: SYSTEM_PROMPT },
      {
        role: 'user',
        content: [
          { type: 'text', text: field.prompt },
          { type: 'image_url', image_url: { url: dataUri(options.image ?? PNG) } },
        ],
      },
    ],
    ...(format === 'json_schema'
      ? { response_format: { type: 'json_schema', json_schema: { name: field.name, schema: answerJsonSchema(field), strict: true } } }
      : format === 'json_object'
        ? { response_format: { type: 'json_object' } }
        : {}),
  };
}

async function post(body: unknown, path = '/chat/completions') {
  const res = await fetch(`${server.baseUrl}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.status, json: (await res.json()) as any };
}

const value = (completion: any): unknown => JSON.parse(completion.choices[0].message.content).value;

const EXPECTED = {
  name: 'Acetone',
  tag: ['DANGER', 'GHS02'],
  risk_notice: ['H225 Highly flammable liquid and vapour.'],
  pre_notice: ['P233 Keep container tightly closed.'],
  suppliers: { name: 'Northfield Example Chemicals Ltd', address: null, phone: '+44 113 496 0123', emergency_phone: null },
};

describe('POST /v1/chat/completions', () => {
  for (const format of ['json_schema', 'json_object', 'none'] as const) {
    it(`answers every default field as a chat completion (response format ${format})`, async () => {
      const answers: Record<string, unknown> = {};
      for (const field of DEFAULT_LABEL_FIELDS) {
        const { status, json } = await post(chatBody(field, { format }));
        expect(status).toBe(200);
        expect(json).toMatchObject({
          object: 'chat.completion',
          model: 'whatever-the-user-configured',
          choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }],
        });
        answers[field.name] = value(json);
      }
      expect(answers).toEqual(EXPECTED);
    });
  }

  it('reports plausible usage: the image and the question in, the answer out', async () => {
    const { json } = await post(chatBody(DEFAULT_LABEL_FIELDS[0]!));
    const { prompt_tokens, completion_tokens, total_tokens } = json.usage;
    // A 1000-pixel-wide label is several 512-pixel tiles plus the text.
    expect(prompt_tokens).toBeGreaterThan(85 + 170 * 4);
    expect(prompt_tokens).toBeLessThan(3000);
    expect(completion_tokens).toBe(Math.ceil(JSON.stringify({ value: 'Acetone' }).length / 4));
    expect(total_tokens).toBe(prompt_tokens + completion_tokens);
  });

  it('answers {"value": null} for a question it has no rule for', async () => {
    const field: FieldSpec = { name: 'cap_colour', type: 'string', prompt: 'What colour is the cap?' };
    const { status, json } = await post(chatBody(field));
    expect(status).toBe(200);
    expect(json.choices[0].message.content).toBe('{"value":null}');
    expect(json.choices[0].finish_reason).toBe('stop');
  });

  it('answers the original question again on a re-ask with more turns', async () => {
    const field = DEFAULT_LABEL_FIELDS[0]!;
    const body = chatBody(field);
    body.messages.push(
      { role: 'assistant', content: 'Acetone, I think' },
      { role: 'user', content: 'That was not valid JSON. Reply with only {"value": …}.' },
    );
    expect(value((await post(body)).json)).toBe('Acetone');
  });

  it('cuts an answer longer than max_tokens off, as a real endpoint does', async () => {
    const { json } = await post(chatBody(DEFAULT_LABEL_FIELDS[3]!, { maxTokens: 5 }));
    expect(json.choices[0].finish_reason).toBe('length');
    expect(json.usage.completion_tokens).toBe(5);
    expect(() => JSON.parse(json.choices[0].message.content)).toThrow();
  });

  it('runs OCR once for all fields of an image asked at once, and stays responsive meanwhile', async () => {
    ocrDelayMs = 800;
    ocrCalls = 0;
    try {
      const image = Buffer.concat([PNG, Buffer.from('a different image')]);
      const answers = DEFAULT_LABEL_FIELDS.map((f) => post(chatBody(f, { image })));
      await new Promise((r) => setTimeout(r, 50));
      const started = performance.now();
      const health = await fetch(`${server.baseUrl.replace(/\/v1$/, '')}/health`);
      expect(health.status).toBe(200);
      // Well under the 800 ms the OCR run takes: the health check did not wait for it.
      expect(performance.now() - started).toBeLessThan(400);
      const results = await Promise.all(answers);
      expect(Object.fromEntries(results.map((r, i) => [DEFAULT_LABEL_FIELDS[i]!.name, value(r.json)]))).toEqual(EXPECTED);
      expect(ocrCalls).toBe(1);
    } finally {
      ocrDelayMs = 0;
    }
  });

  it('finds the question whatever the order of the content parts: image before or after the text', async () => {
    // No schema, so the field is known from the question alone.
    for (const field of DEFAULT_LABEL_FIELDS) {
      const body = chatBody(field, { format: 'json_object' });
      const parts = body.messages[1]!.content as unknown[];
      body.messages[1]!.content = [parts[1], parts[0]] as never;
      expect(value((await post(body)).json)).toEqual(EXPECTED[field.name as keyof typeof EXPECTED]);
    }
  });

  it('takes the question from the next user message when the image comes alone first', async () => {
    const field = DEFAULT_LABEL_FIELDS.find((f) => f.name === 'suppliers')!;
    const body = chatBody(field, { format: 'json_object' });
    const [text, image] = body.messages[1]!.content as unknown[];
    body.messages.splice(1, 1, { role: 'user', content: [image] as never }, { role: 'user', content: [text] as never });
    expect(value((await post(body)).json)).toEqual(EXPECTED.suppliers);
  });

  it('answers {"value": null} when the request carries no image', async () => {
    const body = chatBody(DEFAULT_LABEL_FIELDS[0]!);
    body.messages[1]!.content = [{ type: 'text', text: DEFAULT_LABEL_FIELDS[0]!.prompt }] as never;
    expect(value((await post(body)).json)).toBeNull();
  });
});

describe('errors, in the OpenAI error shape', () => {
  it('400 for a body that is not JSON or has no messages', async () => {
    const bad = await post('{"model": ');
    expect(bad.status).toBe(400);
    expect(bad.json.error).toMatchObject({ type: 'invalid_request_error' });
    const empty = await post({ model: 'm', messages: [] });
    expect(empty.status).toBe(400);
    expect(empty.json.error.message).toMatch(/messages/);
  });

  it('400 for an image URL it cannot fetch, and for bytes that are not an image', async () => {
    const body = chatBody(DEFAULT_LABEL_FIELDS[0]!);
    (body.messages[1]!.content as any)[1].image_url.url = 'https://example.com/label.png';
    const url = await post(body);
    expect(url.status).toBe(400);
    expect(url.json.error.message).toMatch(/data: URIs only/);
    const junk = await post(chatBody(DEFAULT_LABEL_FIELDS[0]!, { image: Buffer.from('junk bytes') }));
    expect(junk.status).toBe(400);
    expect(junk.json.error).toMatchObject({ code: 'invalid_image' });
  });

  it('404 for unknown routes; /v1/models lists the model', async () => {
    expect((await post({}, '/embeddings')).status).toBe(404);
    const models = await fetch(`${server.baseUrl}/models`);
    expect(await models.json()).toMatchObject({ object: 'list', data: [{ id: server.modelName }] });
  });
});
