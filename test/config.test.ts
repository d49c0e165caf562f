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
      logprobs: false,
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

describe('loadConfig: confidence and review', () => {
  it('asks for no log-probabilities and flags confidences under 0.8 by default', () => {
    const config = loadConfig(anEnv());

    expect(config.model.logprobs).toBe(false);
    expect(config.reviewThreshold).toBe(0.8);
  });

  it('reads MODEL_LOGPROBS and REVIEW_CONFIDENCE_THRESHOLD', () => {
    const config = loadConfig(anEnv({ MODEL_LOGPROBS: 'true', REVIEW_CONFIDENCE_THRESHOLD: '0.55' }));

    expect(config.model.logprobs).toBe(true);
    expect(config.reviewThreshold).toBe(0.55);
  });

  it.each([
    [{ MODEL_LOGPROBS: 'yes' }, 'MODEL_LOGPROBS: expected true or false (got "yes")'],
    [{ REVIEW_CONFIDENCE_THRESHOLD: '80' }, 'REVIEW_CONFIDENCE_THRESHOLD: expected a number from 0 to 1 (got "80")'],
    [{ REVIEW_CONFIDENCE_THRESHOLD: 'high' }, 'REVIEW_CONFIDENCE_THRESHOLD: expected a number from 0 to 1 (got "high")'],
  ])('refuses %j, naming the variable', (env, message) => {
    const err = configError(anEnv(env));

    expect(err.message).toContain(message);
  });
});
