import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { declaredLength, parseCompletion, readBounded } from '../../functions/adapters/openai-response';
import { ErrorCode, ModelError } from '../../functions/core/errors';

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

  it('reads cached prompt tokens from prompt_tokens_details (OpenAI, vLLM, SGLang, DashScope)', () => {
    // Prepare
    const usage = { prompt_tokens: 1200, completion_tokens: 9, prompt_tokens_details: { cached_tokens: 1024, audio_tokens: 0 } };

    // Act
    const reply = parseCompletion(aCompletion({ usage }));

    // Assess
    expect(reply.usage).toEqual({ promptTokens: 1200, completionTokens: 9, cachedTokens: 1024 });
  });

  it('reads the cached tokens of servers that name them otherwise (DeepSeek, Moonshot)', () => {
    const deepseek = { prompt_tokens: 800, completion_tokens: 4, prompt_cache_hit_tokens: 640, prompt_cache_miss_tokens: 160 };
    const moonshot = { prompt_tokens: 800, completion_tokens: 4, cached_tokens: 512 };

    expect(parseCompletion(aCompletion({ usage: deepseek })).usage?.cachedTokens).toBe(640);
    expect(parseCompletion(aCompletion({ usage: moonshot })).usage?.cachedTokens).toBe(512);
  });

  it('leaves cachedTokens out when the server sent no cache figure, or a null or bad one', () => {
    const nullDetails = { prompt_tokens: 10, completion_tokens: 2, prompt_tokens_details: null };
    const badDetails = { prompt_tokens: 10, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 'many' } };

    expect(parseCompletion(aCompletion()).usage).not.toHaveProperty('cachedTokens');
    expect(parseCompletion(aCompletion({ usage: nullDetails })).usage).toEqual({ promptTokens: 10, completionTokens: 2 });
    expect(parseCompletion(aCompletion({ usage: badDetails })).usage).toEqual({ promptTokens: 10, completionTokens: 2 });
  });

  it('never reports more cached tokens than prompt tokens', () => {
    const usage = { prompt_tokens: 10, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 50 } };

    expect(parseCompletion(aCompletion({ usage })).usage?.cachedTokens).toBe(10);
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

describe('readBounded', () => {
  /** A stream of `count` chunks of `size` bytes that counts how many were pulled. */
  function chunks(count: number, size: number): { stream: Readable; pulled: () => number } {
    let pulled = 0;
    const stream = Readable.from(
      (function* () {
        for (let i = 0; i < count; i++) {
          pulled++;
          yield Buffer.alloc(size, 0x61);
        }
      })(),
    );
    return { stream, pulled: () => pulled };
  }

  it('reads a body within the limit whole', async () => {
    // Prepare
    const body = Readable.from([Buffer.from('{"value": '), Buffer.from('"乙醇"}')]);

    // Act
    const read = await readBounded(body, 1024);

    // Assess
    expect(read).toEqual({ text: '{"value": "乙醇"}', overflowed: false });
  });

  it('reads a body of exactly the limit as complete', async () => {
    expect(await readBounded(chunks(4, 256).stream, 1024)).toMatchObject({ overflowed: false });
  });

  it('stops at the limit, keeps what fits and destroys the stream', async () => {
    // Prepare: a thousand 1 KiB chunks against a 3000-byte limit
    const { stream, pulled } = chunks(1000, 1024);

    // Act
    const read = await readBounded(stream, 3000);

    // Assess
    expect(read.overflowed).toBe(true);
    expect(read.text).toHaveLength(3000);
    expect(stream.destroyed).toBe(true);
    expect(pulled()).toBeLessThan(10);
  });

  it('refuses a declared length over the limit without reading a byte', async () => {
    // Prepare
    const { stream, pulled } = chunks(10, 1024);

    // Act
    const read = await readBounded(stream, 1024, 10 * 1024);

    // Assess
    expect(read).toEqual({ text: '', overflowed: true });
    expect(stream.destroyed).toBe(true);
    expect(pulled()).toBe(0);
  });
});

describe('declaredLength', () => {
  it('reads content-length as a number and ignores anything else', () => {
    expect(declaredLength({ 'content-length': '512' })).toBe(512);
    expect(declaredLength({})).toBeUndefined();
    expect(declaredLength({ 'content-length': '' })).toBeUndefined();
    expect(declaredLength({ 'content-length': 'lots' })).toBeUndefined();
    expect(declaredLength({ 'content-length': '-1' })).toBeUndefined();
  });
});

describe('parseCompletion: log-probabilities', () => {
  const tokens = [
    { token: '{"value": "', logprob: -0.001, bytes: [123, 34, 118, 97, 108, 117, 101, 34, 58, 32, 34], top_logprobs: [] },
    { token: '乙醇', logprob: -0.2, bytes: null },
    { token: '"}', logprob: 0 },
  ];
  const withLogprobs = (logprobs: unknown) =>
    aCompletion({ choices: [{ index: 0, message: { role: 'assistant', content: '{"value": "乙醇"}' }, logprobs, finish_reason: 'stop' }] });

  it('returns choices[0].logprobs.content as tokens, without the alternatives, when asked', () => {
    const reply = parseCompletion(withLogprobs({ content: tokens }), { logprobs: true });

    expect(reply.logprobs).toEqual([
      { token: '{"value": "', logprob: -0.001, bytes: [123, 34, 118, 97, 108, 117, 101, 34, 58, 32, 34] },
      { token: '乙醇', logprob: -0.2, bytes: null },
      { token: '"}', logprob: 0, bytes: null },
    ]);
  });

  it('leaves them out when not asked, even if the endpoint sent them', () => {
    expect(parseCompletion(withLogprobs({ content: tokens }))).not.toHaveProperty('logprobs');
  });

  it.each([
    ['absent', undefined],
    ['null', null],
    ['empty', { content: [] }],
    ['a token without its log-probability', { content: [{ token: 'x' }] }],
    ['a log-probability that is not a number', { content: [{ token: 'x', logprob: '-0.1' }] }],
  ])('is null when asked and the log-probabilities are %s', (_name, logprobs) => {
    expect(parseCompletion(withLogprobs(logprobs), { logprobs: true }).logprobs).toBeNull();
  });
});
