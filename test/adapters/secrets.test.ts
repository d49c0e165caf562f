import { describe, expect, it } from 'vitest';
import { apiKeyFromSecret } from '../../functions/adapters/secrets';

describe('apiKeyFromSecret', () => {
  it('takes a plain-text secret as the key, trimmed', () => {
    expect(apiKeyFromSecret('  sk-plain-key\n')).toBe('sk-plain-key');
  });

  it('reads apiKey from a JSON secret', () => {
    expect(apiKeyFromSecret('{"apiKey": "sk-json"}')).toBe('sk-json');
  });

  it('reads api_key from a JSON secret', () => {
    expect(apiKeyFromSecret('{"api_key": " sk-snake "}')).toBe('sk-snake');
  });

  it('prefers apiKey over api_key', () => {
    expect(apiKeyFromSecret('{"apiKey": "a", "api_key": "b"}')).toBe('a');
  });

  it('finds no key in an empty or blank secret', () => {
    expect(apiKeyFromSecret(undefined)).toBeUndefined();
    expect(apiKeyFromSecret('')).toBeUndefined();
    expect(apiKeyFromSecret('   ')).toBeUndefined();
  });

  it('finds no key in JSON without one, or with an empty one', () => {
    expect(apiKeyFromSecret('{"username": "x"}')).toBeUndefined();
    expect(apiKeyFromSecret('{"apiKey": ""}')).toBeUndefined();
    expect(apiKeyFromSecret('{"apiKey": 42}')).toBeUndefined();
  });

  it('takes text that starts with { but is not JSON as a plain key', () => {
    expect(apiKeyFromSecret('{not-json')).toBe('{not-json');
  });
});
