import { describe, expect, it } from 'vitest';
import { loadConfig, loadPipelineConfig, validateEnvironment } from '../functions/config';
import { ConfigError } from '../functions/core/errors';
import { configFingerprint } from '../functions/core/fingerprint';
import { DEFAULT_LABEL_FIELDS } from '../functions/core/fields';

const PROFILE = 'eu.anthropic.claude-3-5-sonnet-20240620-v1:0';

function bedrockEnv(overrides: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return { MODEL_PROVIDER: 'bedrock', MODEL_ID: PROFILE, AWS_REGION: 'eu-west-1', ...overrides };
}

function configError(load: () => unknown): ConfigError {
  try {
    load();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig with MODEL_PROVIDER=bedrock', () => {
  it('takes the model id as the model name and the function region as the default', () => {
    // Act
    const config = loadConfig(bedrockEnv());

    // Assess
    expect(config.model).toMatchObject({
      provider: 'bedrock',
      name: PROFILE,
      region: 'eu-west-1',
      structuredOutput: 'tool',
      promptCache: false,
      answerFormat: 'bedrock-tool',
      baseUrl: 'https://bedrock-runtime.eu-west-1.amazonaws.com',
    });
    expect(config.model.endpoint).toBeUndefined();
    expect(config.model.apiKeySecretArn).toBeUndefined();
  });

  it('reads MODEL_REGION, MODEL_STRUCTURED_OUTPUT, MODEL_PROMPT_CACHE and the endpoint override', () => {
    // Act
    const config = loadConfig(
      bedrockEnv({
        MODEL_REGION: 'us-east-1',
        MODEL_STRUCTURED_OUTPUT: 'prompt',
        MODEL_PROMPT_CACHE: 'true',
        AWS_ENDPOINT_URL_BEDROCK_RUNTIME: 'http://127.0.0.1:4010',
      }),
    );

    // Assess
    expect(config.model).toMatchObject({
      region: 'us-east-1',
      structuredOutput: 'prompt',
      promptCache: true,
      answerFormat: 'bedrock-prompt',
      endpoint: 'http://127.0.0.1:4010',
      baseUrl: 'http://127.0.0.1:4010',
    });
  });

  it('requires MODEL_ID and names it', () => {
    const err = configError(() => loadConfig(bedrockEnv({ MODEL_ID: undefined })));

    expect(err.message).toContain('MODEL_ID: expected the Bedrock model id or inference profile');
  });

  it('refuses an OpenAI endpoint, an API key and MODEL_NAME with a message that says why', () => {
    // Act
    const err = configError(() =>
      loadConfig(bedrockEnv({ MODEL_BASE_URL: 'https://x.example/v1', MODEL_API_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:1:secret:k', MODEL_NAME: 'm' })),
    );

    // Assess
    for (const name of ['MODEL_BASE_URL', 'MODEL_API_KEY_SECRET_ARN', 'MODEL_NAME']) {
      expect(err.message).toContain(`${name}: not used with MODEL_PROVIDER=bedrock`);
    }
  });

  it('refuses an unknown provider, a bad structured output mode and a non-boolean cache flag', () => {
    expect(configError(() => loadConfig(bedrockEnv({ MODEL_PROVIDER: 'azure' }))).message).toContain(
      'MODEL_PROVIDER: expected one of openai, bedrock',
    );
    expect(configError(() => loadConfig(bedrockEnv({ MODEL_STRUCTURED_OUTPUT: 'json' }))).message).toContain(
      'MODEL_STRUCTURED_OUTPUT: expected one of tool, prompt',
    );
    expect(configError(() => loadConfig(bedrockEnv({ MODEL_PROMPT_CACHE: 'maybe' }))).message).toContain(
      'MODEL_PROMPT_CACHE: expected true or false',
    );
  });

  it('needs a region from MODEL_REGION or AWS_REGION', () => {
    const err = configError(() => loadConfig(bedrockEnv({ AWS_REGION: undefined })));

    expect(err.message).toContain('MODEL_REGION');
  });

  it('refuses MODEL_ID with the OpenAI provider', () => {
    const err = configError(() => loadConfig({ MODEL_BASE_URL: 'https://x.example/v1', MODEL_NAME: 'q', MODEL_ID: PROFILE }));

    expect(err.message).toContain('MODEL_ID: read only with MODEL_PROVIDER=bedrock');
  });

  it('gives the pipeline functions the same identity without the endpoint', () => {
    // Act
    const pipeline = loadPipelineConfig({ MODEL_PROVIDER: 'bedrock', MODEL_ID: PROFILE });

    // Assess
    expect(pipeline.model).toEqual({
      provider: 'bedrock',
      name: PROFILE,
      responseFormat: 'json_schema',
      structuredOutput: 'tool',
      answerFormat: 'bedrock-tool',
    });
    expect(() => validateEnvironment('pipeline', { MODEL_PROVIDER: 'bedrock', MODEL_ID: PROFILE })).not.toThrow();
  });

  it('fingerprints a tool-mode and a prompt-mode configuration differently', () => {
    // Prepare
    const tool = loadPipelineConfig({ MODEL_PROVIDER: 'bedrock', MODEL_ID: PROFILE });
    const prompt = loadPipelineConfig({ MODEL_PROVIDER: 'bedrock', MODEL_ID: PROFILE, MODEL_STRUCTURED_OUTPUT: 'prompt' });

    // Act
    const [a, b] = [tool, prompt].map((c) =>
      configFingerprint({ fields: DEFAULT_LABEL_FIELDS, modelName: c.model.name, responseFormat: c.model.answerFormat }),
    );

    // Assess
    expect(a).not.toBe(b);
  });
});
