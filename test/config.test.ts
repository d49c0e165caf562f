import { describe, expect, it } from 'vitest';
import { loadConfig, loadPipelineConfig, loadStarterConfig, validateEnvironment } from '../functions/config';
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
      provider: 'openai',
      answerFormat: 'json_schema',
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

  it('treats empty strings as unset, except the prefixes', () => {
    // Prepare: what CloudFormation and shells produce for "no value"
    const env = anEnv({
      MODEL_API_KEY: '',
      MODEL_MAX_CONCURRENCY: '',
      MODEL_TIMEOUT_MS: '',
      FIELDS: '',
      OUTPUT_BUCKET: '',
    });

    // Act
    const config = loadConfig(env);

    // Assess
    expect(config.model.apiKey).toBeUndefined();
    expect(config.model.maxConcurrency).toBe(DEFAULT_LABEL_FIELDS.length);
    expect(config.model.timeoutMs).toBe(60_000);
    expect(config.fields).toBe(DEFAULT_LABEL_FIELDS);
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

describe('loadConfig: prefixes', () => {
  it('reads an empty INPUT_PREFIX as the bucket\'s root, not as unset', () => {
    // Act: results in another bucket, so the root can be watched
    const config = loadConfig(anEnv({ INPUT_PREFIX: '', OUTPUT_BUCKET: 'results-bucket' }));

    // Assess
    expect(config.inputPrefix).toBe('');
    expect(config.outputPrefix).toBe('results/');
  });

  it('reads an empty OUTPUT_PREFIX as the bucket\'s root, and both empty with another output bucket', () => {
    expect(loadConfig(anEnv({ OUTPUT_PREFIX: '', OUTPUT_BUCKET: 'results-bucket' })).outputPrefix).toBe('');

    const both = loadConfig(anEnv({ INPUT_PREFIX: '', OUTPUT_PREFIX: '', OUTPUT_BUCKET: 'results-bucket' }));

    expect([both.inputPrefix, both.outputPrefix]).toEqual(['', '']);
  });

  it('keeps the defaults when the prefixes are not set at all', () => {
    const config = loadConfig(anEnv());

    expect([config.inputPrefix, config.outputPrefix]).toEqual(['incoming/', 'results/']);
  });

  it.each([
    ['both empty', '', '', /both are empty \(the bucket's root\)/],
    ['the same prefix', 'data/', 'data/', /they are the same prefix/],
    ['input under output', 'results/in/', 'results/', /INPUT_PREFIX is under OUTPUT_PREFIX, so every image would be taken for a result/],
    ['input under an empty output', 'incoming/', '', /INPUT_PREFIX is under OUTPUT_PREFIX \(empty: the bucket's root\)/],
    ['output under input', 'incoming/', 'incoming/results/', /OUTPUT_PREFIX is under INPUT_PREFIX, so every result would arrive as a new image/],
    ['output under an empty input', '', 'results/', /OUTPUT_PREFIX is under INPUT_PREFIX \(empty: the bucket's root\)/],
  ])('refuses prefixes that overlap in the source bucket: %s', (_case, input, output, reason) => {
    // Act
    const err = configError(anEnv({ INPUT_PREFIX: input, OUTPUT_PREFIX: output }));

    // Assess: both variables with their values, why, and what to change
    expect(err.code).toBe(ErrorCode.CONFIG_INVALID);
    expect(err.message).toContain(
      `INPUT_PREFIX ${JSON.stringify(input)} and OUTPUT_PREFIX ${JSON.stringify(output)} overlap in the same bucket`,
    );
    expect(err.message).toMatch(reason);
    expect(err.message).toContain('such as INPUT_PREFIX=incoming/ and OUTPUT_PREFIX=results/');
    expect(err.message).toContain('OUTPUT_BUCKET');
  });

  it('accepts prefixes that share a beginning but neither contains the other', () => {
    const config = loadConfig(anEnv({ INPUT_PREFIX: 'data/in/', OUTPUT_PREFIX: 'data/out/' }));

    expect([config.inputPrefix, config.outputPrefix]).toEqual(['data/in/', 'data/out/']);
  });

  it('does not check the prefixes when OUTPUT_BUCKET is set: which bucket the images come from is known only per event', () => {
    const config = loadConfig(anEnv({ INPUT_PREFIX: 'incoming/', OUTPUT_PREFIX: 'incoming/results/', OUTPUT_BUCKET: 'results-bucket' }));

    expect(config.outputPrefix).toBe('incoming/results/');
  });

  it('refuses the overlap in every config, with the same message', () => {
    // Prepare
    const env = { ...anEnv({ INPUT_PREFIX: '', OUTPUT_PREFIX: '' }), STATE_MACHINE_ARN: 'arn:aws:states:eu-west-1:123456789012:stateMachine:fieldlens' };
    const expected = configError(env).message;

    // Act
    const messages = [loadPipelineConfig, loadStarterConfig].map((load) => {
      try {
        load(env);
      } catch (err) {
        return (err as Error).message;
      }
      return 'accepted';
    });

    // Assess
    expect(messages).toEqual([expected, expected]);
  });
});

describe('validateEnvironment', () => {
  it('throws the loader\'s own ConfigError for each kind', () => {
    // Prepare
    const bad = anEnv({ MODEL_MAX_RETRIES: '20' });

    // Act
    const act = () => validateEnvironment('model', bad);

    // Assess
    expect(act).toThrow(ConfigError);
    expect(act).toThrow(configError(bad).message);
    expect(() => validateEnvironment('pipeline', { MODEL_NAME: 'm', MAX_IMAGE_BYTES: '0' })).toThrow(
      'MAX_IMAGE_BYTES: expected a whole number from 1 to 104857600 (got "0")',
    );
    expect(() => validateEnvironment('starter', { STATE_MACHINE_ARN: 'machine' })).toThrow('STATE_MACHINE_ARN: expected a state machine ARN');
  });

  it('accepts what the loader accepts', () => {
    expect(() => validateEnvironment('model', anEnv())).not.toThrow();
    expect(() => validateEnvironment('pipeline', { MODEL_NAME: 'm' })).not.toThrow();
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
