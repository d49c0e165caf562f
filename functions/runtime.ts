/**
 * The real wiring, built once per execution environment (cold start) and
 * reused by every invocation: config, the API key, the S3 client and the
 * model client's connection pool.
 */
import { OpenAIChatClient } from './adapters/openai-chat';
import { createJsonLogger } from './adapters/logger';
import { createS3Client, S3ObjectStore } from './adapters/s3-store';
import { readApiKeySecret } from './adapters/secrets';
import { loadConfig, type Config } from './config';
import { systemClock } from './core/clock';
import type { Clock, Logger, ModelClient, ObjectStore } from './core/ports';

/** Everything a handler needs; tests build their own from local servers. */
export interface Runtime {
  readonly config: Config;
  readonly store: ObjectStore;
  readonly model: ModelClient;
  readonly clock: Clock;
  readonly logger: Logger;
}

/**
 * Builds the runtime from the environment.
 *
 * @throws {import('./core/errors').ConfigError} naming the bad variable.
 */
export async function loadRuntime(env: Readonly<Record<string, string | undefined>>): Promise<Runtime> {
  const config = loadConfig(env);
  const logger = createJsonLogger({ level: config.logLevel });
  const apiKey =
    config.model.apiKey ?? (config.model.apiKeySecretArn ? await readApiKeySecret(config.model.apiKeySecretArn) : undefined);
  const model = new OpenAIChatClient({
    baseUrl: config.model.baseUrl,
    model: config.model.name,
    responseFormat: config.model.responseFormat,
    connections: config.model.maxConcurrency,
    ...(apiKey ? { apiKey } : {}),
  });
  const store = new S3ObjectStore(createS3Client(env));
  return { config, store, model, clock: systemClock, logger };
}

/** Memoises an async factory for the life of the execution environment (see `core/once.ts`). */
export { once } from './core/once';
