import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiKeyFromSecret, readApiKeySecret } from '../../functions/adapters/secrets';
import { ConfigError } from '../../functions/core/errors';
import { loopbackClientConfig, startAwsLoopback, type AwsLoopback } from '../support/aws-loopback';

const ARN = 'arn:aws:secretsmanager:us-east-1:123456789012:secret:fieldlens-model-key-AbCdEf';

describe('readApiKeySecret, with the SDK against a loopback Secrets Manager', () => {
  let aws: AwsLoopback;
  let client: SecretsManagerClient;
  beforeAll(async () => {
    aws = await startAwsLoopback();
    client = new SecretsManagerClient({ ...loopbackClientConfig(aws.endpoint), maxAttempts: 1 });
  });
  afterAll(async () => {
    client.destroy();
    await aws.close();
  });

  it('reads a key held as plain text or as JSON', async () => {
    aws.secrets.set(ARN, 'sk-plain');
    const plain = await readApiKeySecret(ARN, client);
    aws.secrets.set(ARN, '{"apiKey": "sk-json"}');
    const json = await readApiKeySecret(ARN, client);

    expect([plain, json]).toEqual(['sk-plain', 'sk-json']);
  });

  it('reads a key held as a binary secret', async () => {
    aws.secrets.set(ARN, Buffer.from('sk-binary\n'));

    expect(await readApiKeySecret(ARN, client)).toBe('sk-binary');
  });

  it('says which setting is wrong when the secret does not exist, naming the SDK error', async () => {
    const err = await readApiKeySecret(`${ARN}-gone`, client).catch((e: unknown) => e);

    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toBe('MODEL_API_KEY_SECRET_ARN: cannot read the secret (ResourceNotFoundException)');
  });

  it('says how to fix a secret that holds no key', async () => {
    aws.secrets.set(ARN, '{"username": "svc"}');

    await expect(readApiKeySecret(ARN, client)).rejects.toThrow(/holds no API key; put the key in it as plain text or as \{"apiKey": "…"\}/);
  });
});

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
