/**
 * The model API key from Secrets Manager, read once per execution
 * environment (cold start) and cached for its life.
 */
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { ConfigError } from '../core/errors';

/**
 * Reads the API key held by `secretArn`. The secret may hold the key as
 * plain text, or JSON with an `apiKey` (or `api_key`) property.
 *
 * @throws {ConfigError} when the secret is empty or cannot be read.
 */
export async function readApiKeySecret(secretArn: string, client?: SecretsManagerClient): Promise<string> {
  let text: string | undefined;
  try {
    // Imported here, not at the top: only a function whose key is in
    // Secrets Manager loads the SDK (a static import of an external module
    // would load it at every cold start).
    const sdk = await import('@aws-sdk/client-secrets-manager');
    const out = await (client ?? new sdk.SecretsManagerClient({})).send(new sdk.GetSecretValueCommand({ SecretId: secretArn }));
    text = out.SecretString ?? (out.SecretBinary ? Buffer.from(out.SecretBinary).toString('utf8') : undefined);
  } catch (err) {
    throw new ConfigError(`MODEL_API_KEY_SECRET_ARN: cannot read the secret (${(err as Error).name})`, { cause: err });
  }
  const key = apiKeyFromSecret(text);
  if (!key) {
    throw new ConfigError(
      'MODEL_API_KEY_SECRET_ARN: the secret holds no API key; put the key in it as plain text or as {"apiKey": "…"}',
    );
  }
  return key;
}

/** The key in a secret's text: plain, or JSON `{ apiKey }` / `{ api_key }`. */
export function apiKeyFromSecret(text: string | undefined): string | undefined {
  const t = text?.trim();
  if (!t) return undefined;
  if (t.startsWith('{')) {
    try {
      const o = JSON.parse(t) as { apiKey?: unknown; api_key?: unknown };
      const k = typeof o.apiKey === 'string' ? o.apiKey : typeof o.api_key === 'string' ? o.api_key : undefined;
      return k?.trim() || undefined;
    } catch {
      return t;
    }
  }
  return t;
}
