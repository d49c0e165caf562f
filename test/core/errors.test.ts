import { describe, expect, it } from 'vitest';
import {
  AnswerError,
  ConfigError,
  ErrorCode,
  FieldlensError,
  FieldSetError,
  InputRejectedError,
  ModelError,
  ObjectNotFoundError,
  toErrorInfo,
} from '../../functions/core/errors';

describe('error classes', () => {
  it('give each class a fixed name and its stable code', () => {
    // Prepare
    const cases: Array<[FieldlensError, string, ErrorCode]> = [
      [new ConfigError('m'), 'ConfigError', ErrorCode.CONFIG_INVALID],
      [new FieldSetError('m'), 'FieldSetError', ErrorCode.FIELDS_INVALID],
      [new InputRejectedError(ErrorCode.INPUT_EMPTY, 'm'), 'InputRejectedError', ErrorCode.INPUT_EMPTY],
      [new ModelError(ErrorCode.MODEL_TIMEOUT, 'm', { retryable: true }), 'ModelError', ErrorCode.MODEL_TIMEOUT],
      [new AnswerError(ErrorCode.ANSWER_INVALID, 'm'), 'AnswerError', ErrorCode.ANSWER_INVALID],
      [new ObjectNotFoundError('m'), 'ObjectNotFoundError', ErrorCode.OBJECT_NOT_FOUND],
    ];

    // Assess
    for (const [err, name, code] of cases) {
      expect(err).toBeInstanceOf(FieldlensError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe(name);
      expect(err.code).toBe(code);
    }
  });

  it('keep the cause and the context', () => {
    const cause = new Error('socket hang up');

    const err = new FieldlensError(ErrorCode.MODEL_CONNECTION, 'failed', { cause, context: { code: 'ECONNRESET' } });

    expect(err.cause).toBe(cause);
    expect(err.context).toEqual({ code: 'ECONNRESET' });
  });

  it('leave cause unset when none was given', () => {
    expect('cause' in new FieldlensError(ErrorCode.INTERNAL, 'm')).toBe(false);
  });

  it('carry the retry classification on a ModelError', () => {
    const err = new ModelError(ErrorCode.MODEL_RATE_LIMITED, 'slow down', { retryable: true, retryAfterMs: 1500, status: 429 });

    expect(err).toMatchObject({ retryable: true, retryAfterMs: 1500, status: 429 });
  });

  it('serialise to the { code, message } the document records', () => {
    expect(JSON.parse(JSON.stringify(new ConfigError('bad')))).toEqual({ code: 'CONFIG_INVALID', message: 'bad' });
  });
});

describe('toErrorInfo', () => {
  it('keeps a fieldlens error’s code', () => {
    expect(toErrorInfo(new ObjectNotFoundError('gone'))).toEqual({ code: 'OBJECT_NOT_FOUND', message: 'gone' });
  });

  it('records other errors and thrown values as INTERNAL', () => {
    expect(toErrorInfo(new TypeError('x is undefined'))).toEqual({ code: 'INTERNAL', message: 'x is undefined' });
    expect(toErrorInfo('a string')).toEqual({ code: 'INTERNAL', message: 'a string' });
  });
});
