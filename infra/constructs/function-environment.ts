/**
 * The environment variables a pipeline function gets: the contract with
 * `functions/config.ts`, which parses them at cold start.
 */
import { Token } from 'aws-cdk-lib';
import { FieldlensPropsError } from '../errors';
import { contentCacheEnvironment, resolveContentCache } from './content-cache';
import { modelPricesEnvironment } from './model-prices';
import { PIPELINE_DEFAULTS, resolveFields, type PipelineProps } from './pipeline-props';

/** Lambda's limit on the total size of a function's environment variables. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * The function's environment. The API key's secret travels as an ARN; its
 * value is read at cold start.
 *
 * @param perImage requests one invocation keeps in flight (`MODEL_MAX_CONCURRENCY`).
 * @throws {FieldlensPropsError} when the variables exceed Lambda's 4 KB limit
 *   (a large custom field set is the only way to get there).
 */
export function functionEnvironment(props: PipelineProps, perImage: number): Record<string, string> {
  const { model } = props;
  const { fields, builtIn } = resolveFields(props.fields);
  const env: Record<string, string> = {
    MODEL_BASE_URL: model.baseUrl,
    MODEL_NAME: model.name,
    MODEL_API_KEY_SECRET_ARN: model.apiKeySecret.secretArn,
    MODEL_MAX_CONCURRENCY: String(perImage),
    MODEL_TIMEOUT_MS: String((model.timeout ?? PIPELINE_DEFAULTS.modelTimeout).toMilliseconds()),
    MODEL_MAX_RETRIES: String(model.maxRetries ?? PIPELINE_DEFAULTS.modelMaxRetries),
    MODEL_RESPONSE_FORMAT: model.responseFormat ?? PIPELINE_DEFAULTS.modelResponseFormat,
    ...(model.maxTokens !== undefined ? { MODEL_MAX_TOKENS: String(model.maxTokens) } : {}),
    // The built-in set ships inside the bundle; only a custom set travels here.
    ...(builtIn ? {} : { FIELDS: JSON.stringify(fields) }),
    INPUT_PREFIX: props.inputPrefix,
    OUTPUT_PREFIX: props.outputPrefix,
    OUTPUT_BUCKET: props.outputBucket.bucketName,
    MAX_IMAGE_BYTES: String(props.maxImageBytes ?? PIPELINE_DEFAULTS.maxImageBytes),
    DEADLINE_MARGIN_MS: String((props.deadlineMargin ?? PIPELINE_DEFAULTS.deadlineMargin).toMilliseconds()),
    LOG_LEVEL: props.logLevel ?? PIPELINE_DEFAULTS.logLevel,
    ...contentCacheEnvironment(resolveContentCache(props)),
    ...modelPricesEnvironment(model.prices),
  };
  const bytes = environmentBytes(env);
  if (bytes > LAMBDA_ENVIRONMENT_LIMIT_BYTES - 512) {
    throw new FieldlensPropsError(
      `the function environment would be about ${bytes} bytes, over Lambda's ${LAMBDA_ENVIRONMENT_LIMIT_BYTES}-byte limit ` +
        `(with room for the variables Lambda and the stack add); the field set alone is ${Buffer.byteLength(env.FIELDS ?? '')} bytes: ` +
        'shorten its prompts or schemas',
    );
  }
  return env;
}

/**
 * The environment without the API key's secret ARN, for functions that
 * never ask the model.
 */
export function withoutModelApiKey(env: Readonly<Record<string, string>>): Record<string, string> {
  const { MODEL_API_KEY_SECRET_ARN: _secret, ...rest } = env;
  return rest;
}

/** Size as Lambda counts it (keys and values); unresolved tokens (ARNs, names) count as 128 bytes. */
function environmentBytes(env: Record<string, string>): number {
  return Object.entries(env).reduce(
    (sum, [k, v]) => sum + Buffer.byteLength(k) + (Token.isUnresolved(v) ? 128 : Buffer.byteLength(v)),
    0,
  );
}
