import { describe, expect, it } from 'vitest';
import { answerJsonSchema, SYSTEM_PROMPT } from '../../functions/core/answer';
import { ErrorCode, FieldlensError } from '../../functions/core/errors';
import { extractFields, type ExtractOptions } from '../../functions/core/extract';
import { parseFieldSet, type FieldSet } from '../../functions/core/fields';
import { AimdLevel, createAdaptiveLimit, type Gate } from '../../functions/core/adaptive-limit';
import { createLimit } from '../../functions/core/limit';
import type { Clock, CompleteOptions, ModelReply, ModelRequest } from '../../functions/core/ports';
import type { FieldOutcome } from '../../functions/core/document';
import {
  aField,
  anImage,
  aReply,
  deferred,
  FakeClock,
  FakeModel,
  finalError,
  flush,
  memoryLogger,
  retryableError,
  stringFields,
  SUPPLIER_FIELD,
  type Step,
} from './fakes';

interface Harness {
  model: FakeModel;
  clock: FakeClock;
  controller: AbortController;
  options: ExtractOptions;
}

/** Options for extractFields over a fake model and a clock that never waits. */
function aHarness(
  scripts: Record<string, Step[]> = {},
  overrides: Partial<ExtractOptions> = {},
  fallback?: Step,
): Harness {
  const model = new FakeModel(scripts, fallback);
  const clock = new FakeClock();
  const controller = new AbortController();
  const options: ExtractOptions = {
    image: anImage(),
    fields: stringFields(1),
    model,
    deadline: controller.signal,
    deadlineAt: clock.now() + 600_000,
    limit: createLimit(Infinity),
    timeoutMs: 60_000,
    maxRetries: 3,
    maxTokens: 1024,
    clock,
    logger: memoryLogger(),
    random: () => 0.5,
    ...overrides,
  };
  return { model, clock, controller, options };
}

/** A model step that waits for `gate` while counting how many are in flight. */
function inFlightCounter(): {
  step: (gate: Promise<void> | (() => Promise<void>)) => Step;
  now: () => number;
  most: () => number;
} {
  let now = 0;
  let most = 0;
  return {
    step: (gate) => async () => {
      now++;
      most = Math.max(most, now);
      await (typeof gate === 'function' ? gate() : gate);
      now--;
      return aReply('done');
    },
    now: () => now,
    most: () => most,
  };
}

const only = (outcomes: FieldOutcome[]): FieldOutcome => {
  expect(outcomes).toHaveLength(1);
  return outcomes[0]!;
};

describe('extractFields: fan-out', () => {
  it('starts every field before any of them finishes', async () => {
    // Prepare
    const fields = stringFields(5);
    const gate = deferred();
    const counter = inFlightCounter();
    const { options, model } = aHarness({}, { fields }, counter.step(gate.promise));

    // Act
    const running = extractFields(options);
    await flush();
    const inFlight = counter.now();
    gate.resolve();
    const outcomes = await running;

    // Assess
    expect(inFlight).toBe(5);
    expect(model.calls).toHaveLength(5);
    expect(outcomes.every((o) => o.result.status === 'ok')).toBe(true);
  });

  it('keeps no more requests in flight than the concurrency cap', async () => {
    // Prepare
    const gates = Array.from({ length: 6 }, () => deferred());
    const counter = inFlightCounter();
    let next = 0;
    const { options } = aHarness({}, { fields: stringFields(6), limit: createLimit(2) }, counter.step(() => gates[next++]!.promise));

    // Act
    const running = extractFields(options);
    await flush();
    const first = counter.now();
    for (const g of gates) {
      g.resolve();
      await flush();
    }
    const outcomes = await running;

    // Assess
    expect(first).toBe(2);
    expect(counter.most()).toBe(2);
    expect(outcomes).toHaveLength(6);
  });

  it('holds no slot while a field waits to retry: another field is asked meanwhile', async () => {
    // Prepare: a cap of 1; f0 fails once and its backoff sleep waits for a gate
    const backoff = deferred();
    const clock = new FakeClock();
    const waitingClock: Clock = { now: () => clock.now(), sleep: () => backoff.promise };
    const { options, model } = aHarness(
      { f0: [retryableError(), aReply('zero')], f1: [aReply('one')] },
      { fields: stringFields(2), limit: createLimit(1), clock: waitingClock },
    );

    // Act
    const running = extractFields(options);
    await flush();
    const askedWhileF0Waits = model.calls.map((c) => c.request.schemaName);
    backoff.resolve();
    const outcomes = await running;

    // Assess
    expect(askedWhileF0Waits).toEqual(['f0', 'f1']);
    expect(outcomes.map((o) => o.value)).toEqual(['zero', 'one']);
  });

  it('backs an adaptive gate off when the endpoint throttles, and every field still completes', async () => {
    // Prepare: a cap of 4, the first answer of each of four fields is a 429; retries wait for a gate
    const level = new AimdLevel(4);
    const limit = createAdaptiveLimit(level);
    const counter = inFlightCounter();
    const gate = deferred();
    const answer = counter.step(gate.promise) as (r: ModelRequest, o: CompleteOptions) => Promise<ModelReply>;
    const throttledOnce = new Set<string>();
    const step: Step = async (request, opts) => {
      if (throttledOnce.has(request.schemaName)) return answer(request, opts);
      throttledOnce.add(request.schemaName);
      throw retryableError(ErrorCode.MODEL_RATE_LIMITED, { status: 429 });
    };
    const { options } = aHarness({}, { fields: stringFields(4), limit }, step);

    // Act
    const running = extractFields(options);
    await flush();
    const retriesInFlight = counter.now();
    gate.resolve();
    const outcomes = await running;

    // Assess: four throttles of requests in flight together halve the limit
    // once, to 2. The retries go by hand-off: the first alone (nothing was in
    // flight), the others take over answered slots, never more than 2 at once.
    expect(level.throttles).toBe(4);
    expect(retriesInFlight).toBe(1);
    expect(counter.most()).toBe(2);
    expect(outcomes.every((o) => o.result.status === 'ok')).toBe(true);
  });

  it('asks again by hand-off only after a refusal for load (429, 503), not after other failures', async () => {
    // Prepare: a gate that notes how each attempt enters it
    const entries: Array<boolean | undefined> = [];
    const spy: Gate = (task, options) => {
      entries.push(options?.handOff);
      return task();
    };
    const { options } = aHarness(
      {
        f0: [
          retryableError(ErrorCode.MODEL_RATE_LIMITED, { status: 429 }),
          retryableError(ErrorCode.MODEL_SERVER_ERROR, { status: 503 }),
          retryableError(ErrorCode.MODEL_SERVER_ERROR, { status: 500 }),
          aReply('served'),
        ],
      },
      { limit: spy },
    );

    // Act
    const outcome = only(await extractFields(options));

    // Assess: first attempt, after the 429, after the 503, after the 500
    expect(outcome.result.status).toBe('ok');
    expect(entries).toEqual([false, true, true, false]);
  });

  it('shares one limit across the images of an invocation', async () => {
    // Prepare: two images of one invocation share a gate of 3
    const limit = createLimit(3);
    const gate = deferred();
    const counter = inFlightCounter();
    const a = aHarness({}, { fields: stringFields(4), limit }, counter.step(gate.promise));
    const b = aHarness({}, { fields: stringFields(4), limit }, counter.step(gate.promise));

    // Act
    const running = Promise.all([extractFields(a.options), extractFields(b.options)]);
    await flush();
    const inFlight = counter.now();
    gate.resolve();
    const [first, second] = await running;

    // Assess
    expect(inFlight).toBe(3);
    expect(counter.most()).toBe(3);
    expect([...first, ...second].every((o) => o.result.status === 'ok')).toBe(true);
  });

  it('returns the outcomes in field order, whatever order they finish in', async () => {
    // Prepare: the last field answers first
    const gates = [deferred(), deferred(), deferred()];
    const scripts = Object.fromEntries(
      gates.map((g, i) => [`f${i}`, [async () => (await g.promise, aReply(`answer ${i}`))] as Step[]]),
    );
    const { options } = aHarness(scripts, { fields: stringFields(3) });

    // Act
    const running = extractFields(options);
    await flush();
    for (const g of [...gates].reverse()) {
      g.resolve();
      await flush();
    }
    const outcomes = await running;

    // Assess
    expect(outcomes.map((o) => [o.name, o.value])).toEqual([
      ['f0', 'answer 0'],
      ['f1', 'answer 1'],
      ['f2', 'answer 2'],
    ]);
  });

  it('sends every field its own question with the one shared image', async () => {
    // Prepare
    const fields = parseFieldSet([aField({ name: 'name' }), SUPPLIER_FIELD]);
    const { options, model } = aHarness({ suppliers: [aReply({ name: 'ACME', phone: null })] }, { fields, maxTokens: 321 });

    // Act
    await extractFields(options);

    // Assess
    expect(model.calls).toHaveLength(2);
    for (const [i, field] of fields.entries()) {
      const { request } = model.callsFor(field.name)[0]!;
      expect(request.image).toBe(options.image);
      expect(request).toMatchObject({
        system: SYSTEM_PROMPT,
        prompt: field.prompt,
        followUp: [],
        schemaName: field.name,
        answerSchema: answerJsonSchema(fields[i]!),
        maxTokens: 321,
      });
    }
  });

  it('passes the deadline signal and an attempt timeout that fits inside it', async () => {
    // Prepare
    const clock = new FakeClock();
    const { options, model, controller } = aHarness({}, { clock, deadlineAt: clock.now() + 5_000, timeoutMs: 60_000 });

    // Act
    await extractFields(options);

    // Assess
    expect(model.calls[0]!.options.signal).toBe(controller.signal);
    expect(model.calls[0]!.options.timeoutMs).toBe(5_000);
  });

  it('records the value, attempts, latency and usage of a field that answers at once', async () => {
    // Prepare: the model takes 250 ms on the fake clock
    const { options, clock } = aHarness({
      f0: [
        () => {
          clock.time += 250;
          return aReply('乙醇', { usage: { promptTokens: 900, completionTokens: 12 } });
        },
      ],
    });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(outcome).toEqual({
      name: 'f0',
      value: '乙醇',
      result: { status: 'ok', attempts: 1, latencyMs: 250, usage: { promptTokens: 900, completionTokens: 12 } },
    });
  });

  it('leaves usage out when the endpoint reported none', async () => {
    const { options } = aHarness();

    const outcome = only(await extractFields(options));

    expect(outcome.result.usage).toBeUndefined();
  });

  it('logs one "field finished" line per field with its outcome', async () => {
    // Prepare
    const logger = memoryLogger();
    const { options } = aHarness({ f1: [finalError()] }, { fields: stringFields(2), logger });

    // Act
    await extractFields(options);

    // Assess
    const finished = logger.lines.filter((l) => l.message === 'field finished');
    expect(finished.map((l) => [l.data.field, l.data.status])).toEqual(
      expect.arrayContaining([
        ['f0', 'ok'],
        ['f1', 'error'],
      ]),
    );
  });
});

describe('extractFields: transport retries', () => {
  it('retries a retryable error up to maxRetries, then records its code', async () => {
    // Prepare
    const { options, model, clock } = aHarness({ f0: [retryableError(ErrorCode.MODEL_SERVER_ERROR)] }, { maxRetries: 3 });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(4);
    expect(outcome.value).toBeNull();
    expect(outcome.result).toMatchObject({
      status: 'error',
      attempts: 4,
      error: { code: 'MODEL_SERVER_ERROR', message: 'transient MODEL_SERVER_ERROR' },
    });
    // Full jitter at random 0.5: half of 500, 1000, 2000.
    expect(clock.sleeps).toEqual([250, 500, 1000]);
  });

  it('succeeds on a retry after transient failures, counting every attempt', async () => {
    const { options } = aHarness({
      f0: [retryableError(ErrorCode.MODEL_CONNECTION), retryableError(ErrorCode.MODEL_TIMEOUT), aReply('ok now')],
    });

    const outcome = only(await extractFields(options));

    expect(outcome.value).toBe('ok now');
    expect(outcome.result).toMatchObject({ status: 'ok', attempts: 3 });
  });

  it('does not retry an error that is not retryable', async () => {
    // Prepare
    const { options, model, clock } = aHarness({ f0: [finalError(ErrorCode.MODEL_UNAUTHORIZED), aReply('never')] });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    expect(outcome.result).toMatchObject({ status: 'error', attempts: 1, error: { code: 'MODEL_UNAUTHORIZED' } });
  });

  it('never retries with maxRetries 0', async () => {
    const { options, model } = aHarness({ f0: [retryableError()] }, { maxRetries: 0 });

    const outcome = only(await extractFields(options));

    expect(model.calls).toHaveLength(1);
    expect(outcome.result.error!.code).toBe('MODEL_SERVER_ERROR');
  });

  it('waits the server’s Retry-After before the next attempt', async () => {
    // Prepare
    const { options, clock } = aHarness({
      f0: [retryableError(ErrorCode.MODEL_RATE_LIMITED, { retryAfterMs: 1234, status: 429 }), aReply('x')],
    });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(clock.sleeps).toEqual([1234]);
    expect(outcome.result).toMatchObject({ status: 'ok', attempts: 2, latencyMs: 1234 });
  });

  it('stops retrying when the wait would overrun the deadline', async () => {
    // Prepare
    const clock = new FakeClock();
    const { options, model } = aHarness(
      { f0: [retryableError(ErrorCode.MODEL_RATE_LIMITED, { retryAfterMs: 5_000 }), aReply('too late')] },
      { clock, deadlineAt: clock.now() + 3_000 },
    );

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(1);
    expect(outcome.result.error!.code).toBe('MODEL_RATE_LIMITED');
  });

  it('keeps waiting through rate limits beyond maxRetries, so throttling alone never fails a field', async () => {
    // Prepare
    const limited = () => retryableError(ErrorCode.MODEL_RATE_LIMITED, { retryAfterMs: 100, status: 429 });
    const { options, model, clock } = aHarness(
      { f0: [limited(), limited(), limited(), limited(), limited(), aReply('served')] },
      { maxRetries: 1 },
    );

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(6);
    // The 100 ms hint is shorter than the growing floor, so the floor decides.
    expect(clock.sleeps).toEqual([375, 750, 1500, 3000, 6000]);
    expect(outcome.result).toMatchObject({ status: 'ok', attempts: 6 });
  });

  it('never hot-loops on a 429 whose Retry-After is 0 or in the past: every wait is at least the backoff', async () => {
    // Prepare: the server says "retry now" (0) and "retry in the past" (negative after parsing).
    const now = () => retryableError(ErrorCode.MODEL_RATE_LIMITED, { retryAfterMs: 0, status: 429 });
    const past = () => retryableError(ErrorCode.MODEL_RATE_LIMITED, { retryAfterMs: -30_000, status: 429 });
    const { options, model, clock } = aHarness({ f0: [now(), past(), now(), past(), aReply('served')] });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(5);
    expect(clock.sleeps.every((ms) => ms >= 250)).toBe(true);
    expect(clock.sleeps).toEqual([...clock.sleeps].sort((a, b) => a - b));
    expect(clock.sleeps.at(-1)).toBeGreaterThan(clock.sleeps[0]!);
    expect(outcome.result.status).toBe('ok');
  });

  it('applies the same floor to a 503 that sends Retry-After: 0', async () => {
    const unavailable = () => retryableError(ErrorCode.MODEL_SERVER_ERROR, { retryAfterMs: 0, status: 503 });
    const { options, clock } = aHarness({ f0: [unavailable(), unavailable(), aReply('served')] });

    await extractFields(options);

    expect(clock.sleeps).toEqual([375, 750]);
  });

  it('still counts other transient errors against maxRetries when rate limits are mixed in', async () => {
    const limited = retryableError(ErrorCode.MODEL_RATE_LIMITED, { retryAfterMs: 10, status: 429 });
    const { options, model } = aHarness(
      { f0: [limited, retryableError(), limited, retryableError(), aReply('never')] },
      { maxRetries: 1 },
    );

    const outcome = only(await extractFields(options));

    expect(model.calls).toHaveLength(4);
    expect(outcome.result).toMatchObject({ status: 'error', error: { code: 'MODEL_SERVER_ERROR' } });
  });

  it('stops at once when a rate limit asks for a wait longer than 60 s', async () => {
    const { options, model, clock } = aHarness({
      f0: [retryableError(ErrorCode.MODEL_RATE_LIMITED, { retryAfterMs: 120_000, status: 429 }), aReply('later')],
    });

    const outcome = only(await extractFields(options));

    expect(model.calls).toHaveLength(1);
    expect(clock.sleeps).toEqual([]);
    expect(outcome.result.error!.code).toBe('MODEL_RATE_LIMITED');
  });

  it('records DEADLINE_EXCEEDED when an attempt cut short by the deadline times out', async () => {
    // Prepare: the deadline (1 s) is nearer than the attempt timeout (60 s),
    // so the attempt's own timer is the deadline.
    const clock = new FakeClock();
    const { options, model } = aHarness(
      { f0: [retryableError(ErrorCode.MODEL_TIMEOUT), aReply('too late')] },
      { clock, deadlineAt: clock.now() + 1_000, timeoutMs: 60_000 },
    );

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(1);
    expect(outcome.result.error!.code).toBe('DEADLINE_EXCEEDED');
  });

  it('records an unexpected error as INTERNAL without retrying it', async () => {
    const { options, model } = aHarness({ f0: [new TypeError('client bug')] });

    const outcome = only(await extractFields(options));

    expect(model.calls).toHaveLength(1);
    expect(outcome.result.error).toEqual({ code: 'INTERNAL', message: 'client bug' });
  });

  it('never throws out of extractFields, whatever the model client throws', async () => {
    // Prepare: a client that rejects with a non-Error, and one that throws synchronously
    const fields = stringFields(3);
    const { options } = aHarness({
      f0: [() => Promise.reject('a string')],
      f1: [
        () => {
          throw new RangeError('sync');
        },
      ],
      f2: [() => Promise.reject(undefined)],
    });

    // Act
    const outcomes = await extractFields({ ...options, fields });

    // Assess
    expect(outcomes.map((o) => [o.value, o.result.status, o.result.error?.code])).toEqual([
      [null, 'error', 'INTERNAL'],
      [null, 'error', 'INTERNAL'],
      [null, 'error', 'INTERNAL'],
    ]);
  });
});

describe('extractFields: answers and the re-ask', () => {
  it('re-asks once on invalid JSON, showing the model its reply and the error', async () => {
    // Prepare
    const broken = '{"value": "Ethan';
    const { options, model } = aHarness({ f0: [{ text: broken, finishReason: 'stop' }, aReply('Ethanol')] });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(outcome.value).toBe('Ethanol');
    expect(outcome.result).toMatchObject({ status: 'ok', attempts: 2 });
    const [first, second] = model.calls;
    expect(first!.request.followUp).toEqual([]);
    expect(second!.request.followUp).toHaveLength(2);
    expect(second!.request.followUp[0]).toEqual({ role: 'assistant', content: broken });
    expect(second!.request.followUp[1]!.role).toBe('user');
    expect(second!.request.followUp[1]!.content).toContain('not a JSON object');
  });

  it('re-asks once on an answer that fails the field schema', async () => {
    // Prepare
    const fields = parseFieldSet([aField({ name: 'tag', type: 'string[]' })]);
    const { options, model } = aHarness({ tag: [aReply('DANGER'), aReply(['DANGER'])] }, { fields });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(outcome.value).toEqual(['DANGER']);
    expect(model.calls[1]!.request.followUp[1]!.content).toContain('an array of strings or null');
  });

  it('records ANSWER_INVALID when the re-ask is invalid too, asking no third time', async () => {
    // Prepare
    const fields = parseFieldSet([SUPPLIER_FIELD]);
    const { options, model } = aHarness({ suppliers: [aReply('ACME'), aReply(42), aReply({ name: 'x', phone: 'y' })] }, { fields });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(2);
    expect(outcome.value).toBeNull();
    expect(outcome.result).toMatchObject({ status: 'error', attempts: 2, error: { code: 'ANSWER_INVALID' } });
    expect(outcome.result.error!.message).toContain('after a re-ask');
  });

  it('keeps the re-ask turns when the re-ask itself hits a transient error', async () => {
    const { options, model } = aHarness({
      f0: [{ text: '{broken', finishReason: 'stop' }, retryableError(), aReply('fixed')],
    });

    const outcome = only(await extractFields(options));

    expect(outcome.value).toBe('fixed');
    expect(model.calls.map((c) => c.request.followUp.length)).toEqual([0, 2, 2]);
    expect(outcome.result.attempts).toBe(3);
  });

  it('sums usage over every attempt, the re-ask included', async () => {
    // Prepare
    const { options } = aHarness({
      f0: [
        retryableError(),
        { text: '{not json', finishReason: 'stop', usage: { promptTokens: 900, completionTokens: 30 } },
        aReply('ok', { usage: { promptTokens: 950, completionTokens: 8 } }),
      ],
    });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(outcome.result.usage).toEqual({ promptTokens: 1850, completionTokens: 38 });
    expect(outcome.result.attempts).toBe(3);
  });

  it('sums cached tokens over every attempt, beside prompt and completion tokens', async () => {
    // Prepare: an invalid answer then a valid one, the second mostly from the prompt cache
    const { options } = aHarness({
      f0: [
        aReply(undefined, { text: '{"value": ', usage: { promptTokens: 1_000, completionTokens: 5 } }),
        aReply('ok', { usage: { promptTokens: 1_050, completionTokens: 4, cachedTokens: 1_000 } }),
      ],
    });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(outcome.result.usage).toEqual({ promptTokens: 2_050, completionTokens: 9, cachedTokens: 1_000 });
  });

  it('counts Bedrock cache reads as cached prompt tokens', async () => {
    const { options } = aHarness({
      f0: [aReply('ok', { usage: { promptTokens: 30, completionTokens: 4 }, cache: { readTokens: 1_200, writeTokens: 0 } })],
    });

    const outcome = only(await extractFields(options));

    expect(outcome.result.usage).toEqual({ promptTokens: 1_230, completionTokens: 4, cachedTokens: 1_200 });
  });

  it('records usage for a field that failed after the model answered', async () => {
    const { options } = aHarness({
      f0: [{ text: '{"value": "cut', finishReason: 'length', usage: { promptTokens: 10, completionTokens: 1024 } }],
    });

    const outcome = only(await extractFields(options));

    expect(outcome.result.usage).toEqual({ promptTokens: 10, completionTokens: 1024 });
  });

  it('treats finish_reason "length" as MODEL_TRUNCATED, without parsing and without a re-ask', async () => {
    // Prepare: text that would parse into a shorter, wrong list
    const fields = parseFieldSet([aField({ name: 'tag', type: 'string[]' })]);
    const { options, model } = aHarness({ tag: [aReply(['DANGER'], { finishReason: 'length' })] }, { fields });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(1);
    expect(outcome.value).toBeNull();
    expect(outcome.result.error).toEqual({
      code: 'MODEL_TRUNCATED',
      message: 'the answer was cut off at max_tokens (1024)',
    });
  });

  it('records ANSWER_MISSING when a required field comes back null', async () => {
    const fields = parseFieldSet([aField({ name: 'name', required: true })]);
    const { options, model } = aHarness({ name: [aReply(null)] }, { fields });

    const outcome = only(await extractFields(options));

    expect(model.calls).toHaveLength(1);
    expect(outcome.result).toMatchObject({ status: 'error', error: { code: 'ANSWER_MISSING' } });
    expect(outcome.result.error!.message).toContain('"name"');
  });

  it('accepts null for a field that is not required', async () => {
    const { options } = aHarness({ f0: [aReply(null)] });

    const outcome = only(await extractFields(options));

    expect(outcome).toMatchObject({ value: null, result: { status: 'ok' } });
  });
});

describe('extractFields: the deadline', () => {
  it('fails every field with DEADLINE_EXCEEDED and no model call when the deadline has passed', async () => {
    // Prepare
    const { options, model, controller } = aHarness({}, { fields: stringFields(3) });
    controller.abort(new FieldlensError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed'));

    // Act
    const outcomes = await extractFields(options);

    // Assess
    expect(model.calls).toHaveLength(0);
    expect(outcomes.map((o) => [o.result.status, o.result.attempts, o.result.error?.code])).toEqual([
      ['error', 0, 'DEADLINE_EXCEEDED'],
      ['error', 0, 'DEADLINE_EXCEEDED'],
      ['error', 0, 'DEADLINE_EXCEEDED'],
    ]);
  });

  it('records DEADLINE_EXCEEDED even when the signal was aborted without a fieldlens reason', async () => {
    const { options, controller } = aHarness();
    controller.abort();

    const outcome = only(await extractFields(options));

    expect(outcome.result.error!.code).toBe('DEADLINE_EXCEEDED');
  });

  it('records DEADLINE_EXCEEDED, not the transport error, when the deadline fires during a call', async () => {
    // Prepare: the deadline fires while the request is in flight, which makes it fail
    const h = aHarness({
      f0: [
        () => {
          h.controller.abort(new FieldlensError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed'));
          throw retryableError(ErrorCode.MODEL_CONNECTION);
        },
      ],
    });

    // Act
    const outcome = only(await extractFields(h.options));

    // Assess
    expect(h.model.calls).toHaveLength(1);
    expect(outcome.result).toMatchObject({ status: 'error', attempts: 1, error: { code: 'DEADLINE_EXCEEDED' } });
  });

  it('records DEADLINE_EXCEEDED when the deadline fires during the backoff', async () => {
    // Prepare: a clock whose sleep is cut short by the deadline
    const controller = new AbortController();
    const clock: Clock = {
      now: () => 0,
      sleep: async () => {
        controller.abort(new FieldlensError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed'));
        throw controller.signal.reason;
      },
    };
    const { options, model } = aHarness(
      { f0: [retryableError(), aReply('never')] },
      { clock, deadline: controller.signal, deadlineAt: 600_000 },
    );

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(model.calls).toHaveLength(1);
    expect(outcome.result.error!.code).toBe('DEADLINE_EXCEEDED');
  });

  it('keeps the fields that answered when the deadline cuts off a slow one', async () => {
    // Prepare
    const h = aHarness(
      {
        f0: [aReply('fast')],
        f1: [
          (_req, opts) =>
            new Promise<ModelReply>((_, reject) => {
              opts.signal.addEventListener('abort', () => reject(retryableError(ErrorCode.MODEL_TIMEOUT)));
            }),
        ],
      },
      { fields: stringFields(2) },
    );

    // Act
    const running = extractFields(h.options);
    await flush();
    h.controller.abort(new FieldlensError(ErrorCode.DEADLINE_EXCEEDED, 'the invocation deadline passed'));
    const outcomes = await running;

    // Assess
    expect(outcomes.map((o) => [o.name, o.value, o.result.error?.code])).toEqual([
      ['f0', 'fast', undefined],
      ['f1', null, 'DEADLINE_EXCEEDED'],
    ]);
  });
});

describe('extractFields with an empty field set', () => {
  it('returns no outcomes and makes no call', async () => {
    const { options, model } = aHarness({}, { fields: [] as unknown as FieldSet });

    expect(await extractFields(options)).toEqual([]);
    expect(model.calls).toHaveLength(0);
  });
});

describe('extractFields: confidence and the re-ask mark', () => {
  /** `{"value":"乙醇"}` as tokens: confident punctuation, the value's two characters at `lp1` and `lp2`. */
  const ethanolTokens = (lp1: number, lp2: number) => [
    { token: '{"value":"', logprob: -3 },
    { token: '乙', logprob: lp1 },
    { token: '醇', logprob: lp2 },
    { token: '"}', logprob: -3 },
  ];

  it('takes the confidence from the value’s tokens only, not the JSON around it', async () => {
    // Prepare
    const { options } = aHarness({ f0: [aReply('乙醇', { logprobs: ethanolTokens(-0.5, -0.1) })] });

    // Act
    const outcome = only(await extractFields(options));

    // Assess
    expect(outcome.result.status).toBe('ok');
    expect(outcome.result.confidence).toBeCloseTo(Math.exp(-0.5), 10);
    expect(outcome.result.reasked).toBeUndefined();
  });

  it('takes it from the accepted reply after a re-ask, and marks the field reasked', async () => {
    const { options } = aHarness({
      f0: [{ text: '{"value": 乙醇', finishReason: 'stop', logprobs: [{ token: '{"value": 乙醇', logprob: -4 }] }, aReply('乙醇', { logprobs: ethanolTokens(-0.01, -0.02) })],
    });

    const outcome = only(await extractFields(options));

    expect(outcome.result).toMatchObject({ status: 'ok', attempts: 2, reasked: true });
    expect(outcome.result.confidence).toBeCloseTo(Math.exp(-0.02), 10);
  });

  it('records null when log-probabilities were asked for and the endpoint sent none', async () => {
    const { options } = aHarness({ f0: [aReply('乙醇', { logprobs: null })] });

    const outcome = only(await extractFields(options));

    expect(outcome.result.confidence).toBeNull();
  });

  it('records no confidence when they were not asked for, or when the field failed', async () => {
    const plain = aHarness({ f0: [aReply('乙醇')] });
    const truncated = aHarness({ f0: [aReply('乙醇', { finishReason: 'length', logprobs: ethanolTokens(-0.1, -0.1) })] });

    const [a, b] = [only(await extractFields(plain.options)), only(await extractFields(truncated.options))];

    expect(a.result).not.toHaveProperty('confidence');
    expect(a.result).not.toHaveProperty('reasked');
    expect(b.result.status).toBe('error');
    expect(b.result).not.toHaveProperty('confidence');
  });

  it('marks a field that failed after its re-ask as reasked too', async () => {
    const fields = parseFieldSet([aField({ name: 'f0', type: 'string[]' })]);
    const { options } = aHarness({ f0: [{ text: '{"value": 42}', finishReason: 'stop' }] }, { fields });

    const outcome = only(await extractFields(options));

    expect(outcome.result).toMatchObject({ status: 'error', attempts: 2, reasked: true, error: { code: ErrorCode.ANSWER_INVALID } });
  });
});
