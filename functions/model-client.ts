/**
 * The model client a function asks, built from its config: the API key
 * (literal, or read once from Secrets Manager) and the OpenAI-compatible
 * client with its process-wide connection pool. Only the functions that ask
 * the model import this module, so only their bundles carry undici.
 */
import type { Dispatcher } from 'undici';
import { OpenAIChatClient } from './adapters/openai-chat';
import { readApiKeySecret } from './adapters/secrets';
import type { Config } from './config';
import type { ModelClient } from './core/ports';

/** What a caller may put in place of the real parts. */
export interface ModelClientParts {
  /** A dispatcher instead of the shared pool (tests that close their own pools). */
  readonly dispatcher?: Dispatcher;
}

/**
 * Builds the model client for `config`.
 *
 * @throws {import('./core/errors').ConfigError} when the API key's secret cannot be read.
 */
export async function createModelClient(config: Config, parts: ModelClientParts = {}): Promise<ModelClient> {
  const apiKey =
    config.model.apiKey ?? (config.model.apiKeySecretArn ? await readApiKeySecret(config.model.apiKeySecretArn) : undefined);
  return new OpenAIChatClient({
    baseUrl: config.model.baseUrl,
    model: config.model.name,
    responseFormat: config.model.responseFormat,
    connections: config.model.maxConcurrency,
    logprobs: config.model.logprobs,
    ...(parts.dispatcher ? { dispatcher: parts.dispatcher } : {}),
    ...(apiKey ? { apiKey } : {}),
  });
}
