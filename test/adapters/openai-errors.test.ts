import { errors as undiciErrors } from 'undici';
import { describe, expect, it } from 'vitest';
import { classifyStatus, classifyTransportError, type AttemptSignals } from '../../functions/adapters/openai-errors';
import { ErrorCode, ModelError } from '../../functions/core/errors';

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

describe('classifyTransportError', () => {
  /** An attempt whose deadline and timeout are both still running. */
  function anAttempt(overrides: Partial<AttemptSignals> = {}): AttemptSignals {
    return {
      deadline: new AbortController().signal,
      attemptTimeout: new AbortController().signal,
      timeoutMs: 5_000,
      startedAt: 1_000,
      ...overrides,
    };
  }

  it('does not take an error without a code for a connection error: final INTERNAL naming the original', () => {
    // Prepare
    const err = new TypeError('Cannot read properties of undefined (reading "write")');

    // Act
    const classified = classifyTransportError(err, anAttempt());

    // Assess
    expect(classified).toBeInstanceOf(ModelError);
    expect(classified).toMatchObject({ code: ErrorCode.INTERNAL, retryable: false });
    expect(classified.message).toContain('TypeError: Cannot read properties of undefined');
    expect(classified.cause).toBe(err);
  });

  it('treats an unknown code the same way, and says the code', () => {
    // Prepare
    const err = Object.assign(new Error('invalid content-length header'), { code: 'UND_ERR_INVALID_ARG' });

    // Act
    const classified = classifyTransportError(err, anAttempt());

    // Assess
    expect(classified).toMatchObject({ code: ErrorCode.INTERNAL, retryable: false });
    expect(classified.message).toContain('(UND_ERR_INVALID_ARG)');
  });

  it('names something thrown that is not an Error', () => {
    const classified = classifyTransportError('boom', anAttempt());

    expect(classified).toMatchObject({ code: ErrorCode.INTERNAL, retryable: false });
    expect(classified.message).toContain('boom');
  });

  it.each(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ENOTFOUND', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT'])(
    'classifies %s as a retryable MODEL_CONNECTION',
    (code) => {
      const classified = classifyTransportError(Object.assign(new Error('x'), { code }), anAttempt());

      expect(classified).toMatchObject({ code: ErrorCode.MODEL_CONNECTION, retryable: true, context: { code } });
    },
  );

  it("classifies undici's SocketError as a retryable MODEL_CONNECTION", () => {
    const classified = classifyTransportError(new undiciErrors.SocketError('other side closed'), anAttempt());

    expect(classified).toMatchObject({ code: ErrorCode.MODEL_CONNECTION, retryable: true });
  });

  it('finds a connection code inside an AggregateError (every address refused)', () => {
    // Prepare
    const refused = (address: string) =>
      Object.assign(new Error(`connect ECONNREFUSED ${address}`), { code: 'ECONNREFUSED' });
    const err = new AggregateError([refused('::1:8000'), refused('127.0.0.1:8000')]);

    // Act
    const classified = classifyTransportError(err, anAttempt());

    // Assess
    expect(classified).toMatchObject({ code: ErrorCode.MODEL_CONNECTION, retryable: true });
  });

  it('reports the deadline first, whatever the error', () => {
    // Prepare
    const deadline = new AbortController();
    deadline.abort();

    // Act
    const classified = classifyTransportError(Object.assign(new Error('x'), { code: 'ECONNRESET' }), anAttempt({ deadline: deadline.signal }));

    // Assess
    expect(classified).toMatchObject({ code: ErrorCode.DEADLINE_EXCEEDED, retryable: false });
  });

  it("reports the attempt's own timeout, and undici's timeouts, as a retryable MODEL_TIMEOUT", () => {
    // Prepare
    const timeout = new AbortController();
    timeout.abort();

    // Act
    const byTimer = classifyTransportError(new Error('aborted'), anAttempt({ attemptTimeout: timeout.signal }), 1_250);
    const byUndici = classifyTransportError(new undiciErrors.HeadersTimeoutError(), anAttempt());

    // Assess
    expect(byTimer).toMatchObject({ code: ErrorCode.MODEL_TIMEOUT, retryable: true });
    expect(byTimer.message).toBe('no answer within the attempt timeout of 5000 ms (waited 250 ms)');
    expect(byUndici).toMatchObject({ code: ErrorCode.MODEL_TIMEOUT, retryable: true });
  });
});
