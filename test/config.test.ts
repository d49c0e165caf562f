import { describe, expect, it } from 'vitest';
import { loadConfig } from '../functions/config';
import { ConfigError, ErrorCode } from '../functions/core/errors';
import { DEFAULT_LABEL_FIELDS } from '../functions/core/fields';

/** The least environment that loads. */
function anEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { MODEL_BASE_URL: 'http://10.0.0.5:8000/v1', MODEL_NAME: 'qwen2.5-vl-7b', ...overrides };
}

/** The ConfigError `env` causes. */
function configError(env: Record<string, string | undefined>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted the environment');
}

const TWO_FIELDS = JSON.stringify([
  { name: 'a', prompt: 'A?', type: 'string' },
  { name: 'b', prompt: 'B?', type: 'string[]' },
]);

describe('loadConfig: defaults', () => {
  it('fills every default from DESIGN.md when only the model is set', () => {
    // Act
    const config = loadConfig(anEnv());

    // Assess
    expect(config.model).toEqual({
      baseUrl: 'http://10.0.0.5:8000/v1',
      name: 'qwen2.5-vl-7b',
      maxConcurrency: DEFAULT_LABEL_FIELDS.length,
      timeoutMs: 60_000,
      maxRetries: 3,
      maxTokens: 1024,
      responseFormat: 'json_schema',
    });
    expect(config.fields).toBe(DEFAULT_LABEL_FIELDS);
    expect(config.inputPrefix).toBe('incoming/');
    expect(config.outputPrefix).toBe('results/');
    expect(config.outputBucket).toBeUndefined();
    expect(config.maxImageBytes).toBe(20 * 1024 * 1024);
    expect(config.logLevel).toBe('info');
  });

  it('defaults MODEL_MAX_CONCURRENCY to the number of fields in FIELDS', () => {
    const config = loadConfig(anEnv({ FIELDS: TWO_FIELDS }));

    expect(config.fields.map((f) => f.name)).toEqual(['a', 'b']);
    expect(config.model.maxConcurrency).toBe(2);
  });

  it('reads every variable that is set', () => {
    // Prepare
    const env = anEnv({
      MODEL_API_KEY: 'sk-test',
      MODEL_MAX_CONCURRENCY: '3',
      MODEL_TIMEOUT_MS: '5000',
      MODEL_MAX_RETRIES: '0',
      MODEL_MAX_TOKENS: '256',
      MODEL_RESPONSE_FORMAT: 'json_object',
      INPUT_PREFIX: 'in/',
      OUTPUT_PREFIX: 'out/',
      OUTPUT_BUCKET: 'results-bucket',
      MAX_IMAGE_BYTES: '1024',
      DEADLINE_MARGIN_MS: '2000',
      LOG_LEVEL: 'debug',
    });

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.model).toMatchObject({
      apiKey: 'sk-test',
      maxConcurrency: 3,
      timeoutMs: 5000,
      maxRetries: 0,
      maxTokens: 256,
      responseFormat: 'json_object',
    });
    expect(config).toMatchObject({
      inputPrefix: 'in/',
      outputPrefix: 'out/',
      outputBucket: 'results-bucket',
      maxImageBytes: 1024,
      deadlineMarginMs: 2000,
      logLevel: 'debug',
    });
  });

  it('accepts a Secrets Manager ARN for the API key', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:model-key-AbCdEf';

    expect(loadConfig(anEnv({ MODEL_API_KEY_SECRET_ARN: arn })).model.apiKeySecretArn).toBe(arn);
  });

  it('treats empty strings as unset', () => {
    // Prepare: what CloudFormation and shells produce for "no value"
    const env = anEnv({
      MODEL_API_KEY: '',
      MODEL_MAX_CONCURRENCY: '',
      MODEL_TIMEOUT_MS: '',
      FIELDS: '',
      INPUT_PREFIX: '',
      OUTPUT_BUCKET: '',
    });

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.model.apiKey).toBeUndefined();
    expect(config.model.maxConcurrency).toBe(DEFAULT_LABEL_FIELDS.length);
    expect(config.model.timeoutMs).toBe(60_000);
    expect(config.fields).toBe(DEFAULT_LABEL_FIELDS);
    expect(config.inputPrefix).toBe('incoming/');
    expect(config.outputBucket).toBeUndefined();
  });

  it('returns a frozen config, model settings included', () => {
    const config = loadConfig(anEnv());

    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.model)).toBe(true);
    expect(() => {
      (config as { inputPrefix: string }).inputPrefix = 'x/';
    }).toThrow(TypeError);
  });
});

describe('loadConfig: every error names the variable', () => {
  it('requires MODEL_BASE_URL', () => {
    // Act
    const err = configError(anEnv({ MODEL_BASE_URL: undefined }));

    // Assess
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain('MODEL_BASE_URL: expected an http(s) URL');
    expect(err.message).toContain('it is not set');
  });

  it('refuses a MODEL_BASE_URL that is not a URL', () => {
    const err = configError(anEnv({ MODEL_BASE_URL: 'localhost 8000' }));

    expect(err.message).toContain('MODEL_BASE_URL: expected an http(s) URL');
    expect(err.message).toContain('got "localhost 8000"');
  });

  it('refuses a MODEL_BASE_URL that is not http(s)', () => {
    const err = configError(anEnv({ MODEL_BASE_URL: 'ftp://10.0.0.5/v1' }));

    expect(err.message).toContain('MODEL_BASE_URL');
  });

  it('requires MODEL_NAME', () => {
    const err = configError(anEnv({ MODEL_NAME: undefined }));

    expect(err.message).toContain('MODEL_NAME');
  });

  it('refuses a non-numeric MODEL_TIMEOUT_MS', () => {
    const err = configError(anEnv({ MODEL_TIMEOUT_MS: 'soon' }));

    expect(err.message).toContain('MODEL_TIMEOUT_MS: expected a whole number from 100 to 900000 (got "soon")');
  });

  it('refuses a fractional or out-of-range number', () => {
    expect(configError(anEnv({ MODEL_MAX_RETRIES: '1.5' })).message).toContain('MODEL_MAX_RETRIES');
    expect(configError(anEnv({ MODEL_MAX_CONCURRENCY: '0' })).message).toContain('MODEL_MAX_CONCURRENCY');
    expect(configError(anEnv({ MAX_IMAGE_BYTES: '-1' })).message).toContain('MAX_IMAGE_BYTES');
  });

  it('refuses an unknown MODEL_RESPONSE_FORMAT, listing the choices', () => {
    const err = configError(anEnv({ MODEL_RESPONSE_FORMAT: 'xml' }));

    expect(err.message).toContain('MODEL_RESPONSE_FORMAT: expected one of json_schema, json_object, none');
  });

  it('refuses a malformed MODEL_API_KEY_SECRET_ARN', () => {
    const err = configError(anEnv({ MODEL_API_KEY_SECRET_ARN: 'model-key' }));

    expect(err.message).toContain('MODEL_API_KEY_SECRET_ARN: expected a Secrets Manager secret ARN');
  });

  it('refuses FIELDS that is not JSON', () => {
    const err = configError(anEnv({ FIELDS: '[{name: a}]' }));

    expect(err.message).toMatch(/^FIELDS: expected a JSON array of fields/);
  });

  it('refuses an invalid FIELDS, naming the field and the problem', () => {
    // Prepare
    const fields = JSON.stringify([{ name: 'box', prompt: 'Box?', type: 'object' }]);

    // Act
    const err = configError(anEnv({ FIELDS: fields }));

    // Assess
    expect(err.message).toBe('FIELDS: field "box": type "object" needs a JSON Schema in "schema"');
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
  });

  it('refuses a prefix without a trailing slash', () => {
    expect(configError(anEnv({ INPUT_PREFIX: 'incoming' })).message).toContain(
      'INPUT_PREFIX: expected a key prefix ending in "/"',
    );
    expect(configError(anEnv({ OUTPUT_PREFIX: 'results' })).message).toContain('OUTPUT_PREFIX');
  });

  it('names every bad variable at once', () => {
    const err = configError({ MODEL_TIMEOUT_MS: 'x', LOG_LEVEL: 'loud' });

    for (const name of ['MODEL_BASE_URL', 'MODEL_NAME', 'MODEL_TIMEOUT_MS', 'LOG_LEVEL']) {
      expect(err.message).toContain(`${name}:`);
    }
  });
});

describe('loadConfig: the content cache and prices', () => {
  it('turns the content cache on under the output prefix, and sets no prices, by default', () => {
    const config = loadConfig(anEnv({ OUTPUT_PREFIX: 'out/' }));

    expect(config.contentCache).toEqual({ prefix: 'out/.fieldlens/cache/' });
    expect(config.prices).toBeUndefined();
  });

  it('turns the content cache off with CONTENT_CACHE=off', () => {
    expect(loadConfig(anEnv({ CONTENT_CACHE: 'off' })).contentCache).toBeUndefined();
  });

  it('takes a cache prefix of its own outside the input prefix', () => {
    expect(loadConfig(anEnv({ CONTENT_CACHE_PREFIX: 'fieldlens-cache/' })).contentCache).toEqual({ prefix: 'fieldlens-cache/' });
  });

  it('refuses a cache prefix under the input prefix, where entries would be processed as images', () => {
    const err = configError(anEnv({ CONTENT_CACHE_PREFIX: 'incoming/cache/' }));

    expect(err.message).toMatch(/CONTENT_CACHE_PREFIX: expected a prefix outside INPUT_PREFIX/);
  });

  it('refuses an unknown CONTENT_CACHE value', () => {
    expect(configError(anEnv({ CONTENT_CACHE: 'maybe' })).message).toMatch(/CONTENT_CACHE: expected "on" or "off"/);
  });

  it('reads prices per million tokens, cached input optional, currency USD by default', () => {
    const config = loadConfig(
      anEnv({ MODEL_PRICE_INPUT_PER_MTOK: '0.4', MODEL_PRICE_CACHED_INPUT_PER_MTOK: '0.1', MODEL_PRICE_OUTPUT_PER_MTOK: '1.6' }),
    );

    expect(config.prices).toEqual({ currency: 'USD', inputPerMillion: 0.4, cachedInputPerMillion: 0.1, outputPerMillion: 1.6 });
  });

  it('refuses an input price without an output price', () => {
    expect(configError(anEnv({ MODEL_PRICE_INPUT_PER_MTOK: '0.4' })).message).toMatch(/MODEL_PRICE_OUTPUT_PER_MTOK/);
  });

  it('refuses a negative or non-numeric price', () => {
    expect(configError(anEnv({ MODEL_PRICE_INPUT_PER_MTOK: '-1', MODEL_PRICE_OUTPUT_PER_MTOK: '1' })).message).toMatch(
      /MODEL_PRICE_INPUT_PER_MTOK: expected a price/,
    );
    expect(configError(anEnv({ MODEL_PRICE_OUTPUT_PER_MTOK: 'cheap', MODEL_PRICE_INPUT_PER_MTOK: '1' })).message).toMatch(
      /MODEL_PRICE_OUTPUT_PER_MTOK/,
    );
  });
});
