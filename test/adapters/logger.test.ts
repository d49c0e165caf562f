import { describe, expect, it } from 'vitest';
import { createJsonLogger, type JsonLoggerOptions } from '../../functions/adapters/logger';
import { ErrorCode, FieldlensError, ModelError } from '../../functions/core/errors';

/** A logger writing into an array, and the parsed lines. */
function aLogger(options: Omit<JsonLoggerOptions, 'write'> = {}) {
  const raw: string[] = [];
  const logger = createJsonLogger({ ...options, write: (line) => raw.push(line) });
  const lines = (): Array<Record<string, unknown>> => raw.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, raw, lines };
}

describe('createJsonLogger', () => {
  it('writes one JSON object per line in the Powertools format: level, message, timestamp, service and the data', () => {
    // Prepare
    const { logger, raw, lines } = aLogger();

    // Act
    logger.info('result written', { key: 'results/a.jpg.json', status: 'complete', durationMs: 1234 });

    // Assess
    expect(raw).toHaveLength(1);
    expect(raw[0]!.endsWith('\n')).toBe(true);
    expect(raw[0]!.trimEnd()).not.toContain('\n');
    expect(lines()[0]).toMatchObject({
      level: 'INFO',
      message: 'result written',
      service: 'fieldlens',
      key: 'results/a.jpg.json',
      status: 'complete',
      durationMs: 1234,
    });
    expect(Number.isNaN(Date.parse(lines()[0]!.timestamp as string))).toBe(false);
  });

  it('drops lines below the level, info by default', () => {
    const { logger, lines } = aLogger();

    logger.debug('noise');
    logger.info('i');
    logger.warn('w');
    logger.error('e');

    expect(lines().map((l) => l.level)).toEqual(['INFO', 'WARN', 'ERROR']);
  });

  it('keeps debug lines at level debug and only errors at level error', () => {
    const debug = aLogger({ level: 'debug' });
    const error = aLogger({ level: 'error' });

    for (const { logger } of [debug, error]) {
      logger.debug('d');
      logger.warn('w');
      logger.error('e');
    }

    expect(debug.lines().map((l) => l.level)).toEqual(['DEBUG', 'WARN', 'ERROR']);
    expect(error.lines().map((l) => l.level)).toEqual(['ERROR']);
  });

  it('adds a child’s fields to every line, keeping the parent’s and its level', () => {
    // Prepare
    const { logger, lines } = aLogger({ level: 'warn', base: { pipeline: 'direct' } });

    // Act
    const child = logger.child({ requestId: 'req-1' }).child({ key: 'incoming/a.jpg' });
    child.info('dropped');
    child.warn('kept', { field: 'name' });

    // Assess
    expect(lines()).toHaveLength(1);
    expect(lines()[0]).toMatchObject({ pipeline: 'direct', requestId: 'req-1', key: 'incoming/a.jpg', field: 'name' });
  });

  it('leaves the parent unchanged when a child is made', () => {
    const { logger, lines } = aLogger();

    logger.child({ requestId: 'req-1' });
    logger.info('parent');

    expect(lines()[0]).not.toHaveProperty('requestId');
  });

  it('never prints the bytes of a Buffer or a Uint8Array', () => {
    // Prepare
    const { logger, raw, lines } = aLogger();
    const secretBytes = Buffer.from('IMAGE-BYTES-IMAGE-BYTES');

    // Act
    logger.info('oops', { body: secretBytes, head: new Uint8Array([0xff, 0xd8, 0xff]), nested: { image: secretBytes } });

    // Assess
    expect(raw[0]).not.toContain('IMAGE-BYTES');
    expect(raw[0]).not.toContain(secretBytes.toString('base64'));
    expect(raw[0]).not.toContain('"data"');
    const line = lines()[0]!;
    expect(line.body).toBe(`<${secretBytes.byteLength} bytes>`);
    expect(line.head).toBe('<3 bytes>');
    expect((line.nested as Record<string, unknown>).image).toBe(`<${secretBytes.byteLength} bytes>`);
  });

  it('writes a plain Error as its name and message', () => {
    const { logger, lines } = aLogger();

    logger.error('failed', { error: new TypeError('x is undefined') });

    expect(lines()[0]!.error).toEqual({ name: 'TypeError', message: 'x is undefined' });
  });

  it('writes a fieldlens error with its name, message and code, never its cause', () => {
    // Prepare
    const cause = new Error('Authorization: Bearer sk-secret');
    const err = new ModelError(ErrorCode.MODEL_UNAUTHORIZED, 'model endpoint answered HTTP 401', { retryable: false, cause });
    const { logger, raw, lines } = aLogger();

    // Act
    logger.error('failed', { error: err, other: new FieldlensError(ErrorCode.INTERNAL, 'boom') });

    // Assess
    expect(lines()[0]!.error).toEqual({ name: 'ModelError', message: 'model endpoint answered HTTP 401', code: 'MODEL_UNAUTHORIZED' });
    expect(lines()[0]!.other).toEqual({ name: 'FieldlensError', message: 'boom', code: 'INTERNAL' });
    expect(raw[0]).not.toContain('sk-secret');
  });

  it('adds the Lambda context to every line after startInvocation, children included', () => {
    // Prepare
    const { logger, lines } = aLogger({ serviceName: 'Fieldlens' });

    // Act
    logger.startInvocation({
      awsRequestId: 'req-9',
      functionName: 'fieldlens-on-upload',
      memoryLimitInMB: '512',
      invokedFunctionArn: 'arn:aws:lambda:us-east-1:123456789012:function:fieldlens-on-upload',
    });
    logger.child({ key: 'incoming/a.jpg' }).info('result written');

    // Assess
    expect(lines()[0]).toMatchObject({
      service: 'Fieldlens',
      function_request_id: 'req-9',
      function_name: 'fieldlens-on-upload',
      function_memory_size: '512',
      key: 'incoming/a.jpg',
    });
    expect(typeof lines()[0]!.cold_start).toBe('boolean');
  });

  it('keeps a caller’s key that Powertools reserves, renamed, instead of dropping it', () => {
    const { logger, lines } = aLogger();

    logger.info('x', { message: 'inner', status: 'ok' });

    expect(lines()[0]).toMatchObject({ message: 'x', message_: 'inner', status: 'ok' });
  });

  it('writes debug lines of a sampled invocation at level info (sample rate 1)', () => {
    const { logger, lines } = aLogger({ level: 'info', sampleRate: 1 });

    logger.startInvocation({ awsRequestId: 'req-1' });
    logger.debug('detail', { field: 'name' });

    expect(lines().find((l) => l.message === 'detail')).toMatchObject({ level: 'DEBUG', sampling_rate: 1, field: 'name' });
  });
});
