import { describe, expect, it } from 'vitest';
import { CONTEXT_KEYS, parseContext, stackPropsFromContext } from '../../infra/context';
import { ContextError } from '../../infra/errors';

const BEDROCK = { modelProvider: 'bedrock', modelId: 'eu.amazon.nova-lite-v1:0' } as const;

/** The message `parse` throws, or a failure if it does not throw. */
function contextError(parse: () => unknown): string {
  try {
    parse();
  } catch (err) {
    expect(err).toBeInstanceOf(ContextError);
    return (err as Error).message;
  }
  throw new Error('expected a ContextError');
}

const noFile = (path: string): string => {
  throw new Error(`unexpected read of ${path}`);
};

describe('context: modelProvider=bedrock', () => {
  it('needs only the model id: no base URL, no model name, no API key', () => {
    // Act
    const props = stackPropsFromContext(parseContext(BEDROCK), noFile);

    // Assess
    expect(props.model).toEqual({ provider: 'bedrock', modelId: 'eu.amazon.nova-lite-v1:0' });
  });

  it('names modelId when it is missing, and does not ask for modelBaseUrl or modelName', () => {
    // Act
    const message = contextError(() => parseContext({ modelProvider: 'bedrock' }));

    // Assess
    expect(message).toMatch(/context key "modelId": expected the Bedrock model id, inference profile id or ARN, .*\(it is not set\)/);
    expect(message).not.toContain('"modelBaseUrl"');
    expect(message).not.toContain('"modelName"');
  });

  it('refuses every key of an OpenAI-compatible endpoint, in one message', () => {
    // Act
    const message = contextError(() =>
      parseContext({
        ...BEDROCK,
        modelBaseUrl: 'https://models.example.com/v1',
        modelName: 'qwen',
        modelApiKeySecretArn: 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:key-AbCdEf',
        modelResponseFormat: 'json_object',
        modelLogprobs: 'true',
      }),
    );

    // Assess
    for (const key of ['modelBaseUrl', 'modelName', 'modelApiKeySecretArn', 'modelResponseFormat', 'modelLogprobs']) {
      expect(message).toMatch(new RegExp(`context key "${key}": only for an OpenAI-compatible endpoint \\(modelProvider=openai\\); Amazon Bedrock has no endpoint URL or API key`));
    }
  });

  it('refuses the Bedrock keys without modelProvider=bedrock, saying how to turn it on', () => {
    // Act
    const message = contextError(() =>
      parseContext({ modelBaseUrl: 'https://models.example.com/v1', modelName: 'qwen', modelId: 'amazon.nova-lite-v1:0', bedrockRequestsPerMinute: '50' }),
    );

    // Assess
    expect(message).toContain('context key "modelId": only with modelProvider=bedrock; set -c modelProvider=bedrock, or remove it (got "amazon.nova-lite-v1:0")');
    expect(message).toContain('context key "bedrockRequestsPerMinute": only with modelProvider=bedrock');
  });

  it('refuses an unknown provider by name, without guessing which keys it needs', () => {
    const message = contextError(() => parseContext({ modelProvider: 'azure' }));

    expect(message).toContain('context key "modelProvider": expected "openai" (an OpenAI-compatible endpoint) or "bedrock" (Amazon Bedrock) (got "azure")');
    expect(message).not.toContain('"modelBaseUrl"');
    expect(message).not.toContain('"modelId"');
  });

  it('reads the region, structured output and prompt cache from -c strings', () => {
    // Act
    const props = stackPropsFromContext(
      parseContext({ ...BEDROCK, modelRegion: 'eu-central-1', modelStructuredOutput: 'prompt', modelPromptCache: 'true', modelMaxTokens: '512' }),
      noFile,
    );

    // Assess
    expect(props.model).toMatchObject({ provider: 'bedrock', region: 'eu-central-1', structuredOutput: 'prompt', promptCache: true, maxTokens: 512 });
  });

  it('refuses a region that is not one, and a structured output that is neither tool nor prompt', () => {
    const message = contextError(() => parseContext({ ...BEDROCK, modelRegion: 'Frankfurt', modelStructuredOutput: 'json' }));

    expect(message).toContain('context key "modelRegion": expected an AWS region such as eu-west-1 (got "Frankfurt")');
    expect(message).toMatch(/context key "modelStructuredOutput": expected "tool" .* or "prompt" .*\(got "json"\)/);
  });

  it('leaves the capacity unset unless modelMaxConcurrency is given, so a quota can stand in for it', () => {
    expect(parseContext(BEDROCK).modelMaxConcurrency).toBeUndefined();
    expect(stackPropsFromContext(parseContext({ ...BEDROCK, modelMaxConcurrency: '4' }), noFile).model.maxConcurrency).toBe(4);
    // An OpenAI-compatible endpoint keeps its default of 10.
    expect(parseContext({ modelBaseUrl: 'https://models.example.com/v1', modelName: 'qwen' }).modelMaxConcurrency).toBe(10);
  });
});

describe('context: the Bedrock quota', () => {
  it('reads the two rates and the per-request figures from -c strings', () => {
    // Act
    const props = stackPropsFromContext(
      parseContext({ ...BEDROCK, bedrockRequestsPerMinute: '50', bedrockTokensPerMinute: '200000', bedrockTokensPerRequest: '1600', bedrockSecondsPerRequest: '2.5' }),
      noFile,
    );

    // Assess
    expect(props.model).toMatchObject({
      quota: { requestsPerMinute: 50, tokensPerMinute: 200_000, tokensPerRequest: 1600, secondsPerRequest: 2.5 },
    });
  });

  it('needs both rates together', () => {
    const message = contextError(() => stackPropsFromContext(parseContext({ ...BEDROCK, bedrockRequestsPerMinute: '50' }), noFile));

    expect(message).toContain('context key "bedrockTokensPerMinute": required with the other one');
  });

  it('refuses the per-request figures without the rates they refine', () => {
    const message = contextError(() => stackPropsFromContext(parseContext({ ...BEDROCK, bedrockSecondsPerRequest: '4' }), noFile));

    expect(message).toContain('context key "bedrockSecondsPerRequest": refines the Bedrock quota; give it with bedrockRequestsPerMinute and bedrockTokensPerMinute');
  });

  it.each([
    ['bedrockRequestsPerMinute', '0'],
    ['bedrockRequestsPerMinute', '2.5'],
    ['bedrockTokensPerMinute', 'lots'],
    ['bedrockTokensPerRequest', '-1'],
    ['bedrockSecondsPerRequest', '0'],
  ])('refuses %s=%s, naming the key', (key, value) => {
    const message = contextError(() => parseContext({ ...BEDROCK, [key]: value }));

    expect(message).toMatch(new RegExp(`context key "${key}": expected .*\\(got "${value}"\\)`));
  });

  it('lists the new keys among the keys fieldlens reads', () => {
    expect(CONTEXT_KEYS).toEqual(
      expect.arrayContaining([
        'modelProvider', 'modelId', 'modelRegion', 'modelStructuredOutput', 'modelPromptCache',
        'bedrockRequestsPerMinute', 'bedrockTokensPerMinute', 'bedrockTokensPerRequest', 'bedrockSecondsPerRequest',
      ]),
    );
  });
});
