import { describe, expect, it } from 'vitest';
import { findConnectionCode, truncate } from '../../functions/adapters/transport-errors';

const coded = (code: string, cause?: unknown): Error => Object.assign(new Error(code, { cause }), { code });

describe('findConnectionCode', () => {
  it('finds a connection code on the error itself', () => {
    expect(findConnectionCode(coded('ECONNRESET'))).toBe('ECONNRESET');
  });

  it('finds none on an error without a code, or with an unknown one', () => {
    expect(findConnectionCode(new Error('x'))).toBeUndefined();
    expect(findConnectionCode(coded('ERR_INVALID_ARG_TYPE'))).toBeUndefined();
    expect(findConnectionCode('ECONNRESET')).toBeUndefined();
  });

  it('looks down the cause chain and into an AggregateError', () => {
    expect(findConnectionCode(new Error('wrapped', { cause: coded('EPIPE') }))).toBe('EPIPE');
    expect(findConnectionCode(new AggregateError([new Error('x'), coded('ECONNREFUSED')]))).toBe('ECONNREFUSED');
  });

  it('takes an extra code only when asked, and prefers a socket code over it', () => {
    // Prepare: a cancelled HTTP/2 stream caused by a refused connection
    const err = coded('ERR_HTTP2_STREAM_CANCEL', coded('ECONNREFUSED'));
    const extra = new Set(['ERR_HTTP2_STREAM_CANCEL']);

    // Act / Assess
    expect(findConnectionCode(coded('ERR_HTTP2_STREAM_CANCEL'))).toBeUndefined();
    expect(findConnectionCode(coded('ERR_HTTP2_STREAM_CANCEL'), extra)).toBe('ERR_HTTP2_STREAM_CANCEL');
    expect(findConnectionCode(err, extra)).toBe('ECONNREFUSED');
  });
});

describe('truncate', () => {
  it('cuts long text with an ellipsis and leaves short text alone', () => {
    expect(truncate('abcdef', 3)).toBe('abc…');
    expect(truncate('abc', 3)).toBe('abc');
  });
});
