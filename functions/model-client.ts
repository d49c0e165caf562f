/**
 * The model client a function asks, built from its config: the API key
 * (literal, or read once from Secrets Manager) and the OpenAI-compatible
 * client with its process-wide connection pool, or with
 * `MODEL_PROVIDER=bedrock` the Converse client, signed with the function's
 * role. Only the functions that ask the model import this module, so only
 * their bundles carry undici.
 */
import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import type { Dispatcher } from 'undici';
import { BedrockConverseClient, createBedrockRuntimeClient } from './adapters/bedrock-converse';
import { OpenAIChatClient, type PromptLayout } from './adapters/openai-chat';
import { readApiKeySecret } from './adapters/secrets';
import type { Config } from './config';
import type { ModelClient } from './core/ports';

/** What a caller may put in place of the real parts. */
export interface ModelClientParts {
  /** A dispatcher instead of the shared pool (tests that close their own pools). */
  readonly dispatcher?: Dispatcher;
  /** A Bedrock Runtime client instead of one built from the config (tests that destroy their own). */
  readonly bedrockClient?: BedrockRuntimeClient;
  /** The request layout instead of the client's default (the benchmark measures what the prefix saves). */
  readonly promptLayout?: PromptLayout;
}

/**
 * Builds the model client for `config`.
 *
 * @throws {import('./core/errors').ConfigError} when the API key's secret cannot be read.
 */
export async function createModelClient(config: Config, parts: ModelClientParts = {}): Promise<ModelClient> {
  if (config.model.provider === 'bedrock') return await bedrockClientFor(config, parts);
  const apiKey =
    config.model.apiKey ?? (config.model.apiKeySecretArn ? await readApiKeySecret(config.model.apiKeySecretArn) : undefined);
  return new OpenAIChatClient({
    baseUrl: config.model.baseUrl,
    model: config.model.name,
    responseFormat: config.model.responseFormat,
    connections: config.model.maxConcurrency,
    logprobs: config.model.logprobs,
    ...(parts.dispatcher ? { dispatcher: parts.dispatcher } : {}),
    ...(parts.promptLayout ? { promptLayout: parts.promptLayout } : {}),
    ...(apiKey ? { apiKey } : {}),
  });
}

/**
 * The Converse client, built once per cold start with the runtime's factory.
 * The endpoint is passed only when `AWS_ENDPOINT_URL_BEDROCK_RUNTIME` is set
 * in the config's environment: the SDK reads that variable from
 * `process.env` by itself, but the config may come from another env (tests,
 * local runs), so it is passed explicitly rather than relied on.
 */
async function bedrockClientFor(config: Config, parts: ModelClientParts): Promise<ModelClient> {
  const region = config.model.region ?? '';
  const client =
    parts.bedrockClient ??
    (await createBedrockRuntimeClient({ region, ...(config.model.endpoint ? { endpoint: config.model.endpoint } : {}) }));
  return new BedrockConverseClient({
    modelId: config.model.name,
    region,
    client,
    structuredOutput: config.model.structuredOutput ?? 'tool',
    promptCache: config.model.promptCache ?? false,
  });
}
