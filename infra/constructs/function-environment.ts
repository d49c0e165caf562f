/**
 * The environment variables a pipeline function gets: the contract with
 * `functions/config.ts`, which parses them at cold start. Each environment
 * is checked here with that same config, so synth refuses what the function
 * would refuse at start-up.
 */
import { Token } from 'aws-cdk-lib';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { bedrockRegion } from '../bedrock-access';
import { FieldlensPropsError } from '../errors';
import { checkFunctionEnvironment } from './environment-check';
import { contentCacheEnvironment, resolveContentCache } from './content-cache';
import { fleetGateEnvironment } from './fleet-gate';
import { modelPricesEnvironment } from './model-prices';
import { isBedrockModel, PIPELINE_DEFAULTS, resolveFields, type ModelEndpointSettings, type PipelineProps } from './pipeline-props';

/** Lambda's limit on the total size of a function's environment variables. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/**
 * The environment of a function that asks the model, checked with the
 * function's own config. The API key's secret travels as an ARN; its value
 * is read at cold start. With Bedrock there is no URL and no key: the
 * model id and region travel instead, and the role signs the calls. `OUTPUT_BUCKET` is left out when results go to the
 * source bucket: unset means "the source bucket" to the function, which can
 * then refuse prefixes that overlap in it.
 *
 * @param perImage requests one invocation keeps in flight (`MODEL_MAX_CONCURRENCY`).
 * @throws {FieldlensPropsError} with the function's own message when it would
 *   refuse a value (e.g. `MODEL_MAX_RETRIES: expected a whole number from 0 to 10 (got "20")`,
 *   or overlapping prefixes in one bucket), or when the variables exceed
 *   Lambda's 4 KB limit (a large custom field set is the only way to get there).
 */
export function functionEnvironment(props: PipelineProps, perImage: number): Record<string, string> {
  const { model } = props;
  const { fields, builtIn } = resolveFields(props.fields);
  const env: Record<string, string> = {
    ...providerEnvironment(model),
    MODEL_MAX_CONCURRENCY: String(perImage),
    MODEL_TIMEOUT_MS: String((model.timeout ?? PIPELINE_DEFAULTS.modelTimeout).toMilliseconds()),
    MODEL_MAX_RETRIES: String(model.maxRetries ?? PIPELINE_DEFAULTS.modelMaxRetries),
    ...(model.maxTokens !== undefined ? { MODEL_MAX_TOKENS: String(model.maxTokens) } : {}),
    // The built-in set ships inside the bundle; only a custom set travels here.
    ...(builtIn ? {} : { FIELDS: JSON.stringify(fields) }),
    INPUT_PREFIX: props.inputPrefix,
    OUTPUT_PREFIX: props.outputPrefix,
    ...(sharesSourceBucket(props) ? {} : { OUTPUT_BUCKET: props.outputBucket.bucketName }),
    MAX_IMAGE_BYTES: String(props.maxImageBytes ?? PIPELINE_DEFAULTS.maxImageBytes),
    ...(props.reviewConfidenceThreshold !== undefined ? { REVIEW_CONFIDENCE_THRESHOLD: String(props.reviewConfidenceThreshold) } : {}),
    DEADLINE_MARGIN_MS: String((props.deadlineMargin ?? PIPELINE_DEFAULTS.deadlineMargin).toMilliseconds()),
    LOG_LEVEL: props.logLevel ?? PIPELINE_DEFAULTS.logLevel,
    ...contentCacheEnvironment(resolveContentCache(props)),
    ...modelPricesEnvironment(model.prices),
    ...fleetGateEnvironment(props.fleetGate),
  };
  checkFunctionEnvironment('model', env);
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
 * The variables that say which model answers and how: an OpenAI-compatible
 * endpoint's URL, name, key and response format, or Bedrock's model id,
 * region, structured-output mode and prompt cache.
 */
function providerEnvironment(model: ModelEndpointSettings): Record<string, string> {
  if (isBedrockModel(model)) {
    return {
      MODEL_PROVIDER: 'bedrock',
      MODEL_ID: model.modelId,
      MODEL_REGION: bedrockRegion(model.modelId, model.region),
      MODEL_STRUCTURED_OUTPUT: model.structuredOutput ?? PIPELINE_DEFAULTS.modelStructuredOutput,
      ...(model.promptCache !== undefined ? { MODEL_PROMPT_CACHE: String(model.promptCache) } : {}),
    };
  }
  return {
    MODEL_BASE_URL: model.baseUrl,
    MODEL_NAME: model.name,
    MODEL_API_KEY_SECRET_ARN: model.apiKeySecret.secretArn,
    MODEL_RESPONSE_FORMAT: model.responseFormat ?? PIPELINE_DEFAULTS.modelResponseFormat,
    ...(model.logprobs !== undefined ? { MODEL_LOGPROBS: String(model.logprobs) } : {}),
  };
}

/**
 * The variables of the model endpoint: only the functions that ask the
 * model get them (the fleet gate's too: it counts model requests). The
 * model's identity and answer format are not among them (MODEL_NAME and
 * MODEL_RESPONSE_FORMAT; with Bedrock MODEL_PROVIDER, MODEL_ID and
 * MODEL_STRUCTURED_OUTPUT): every function needs them for the
 * configuration fingerprint.
 */
export const ENDPOINT_VARIABLES = Object.freeze([
  'MODEL_BASE_URL',
  'MODEL_API_KEY_SECRET_ARN',
  'MODEL_REGION',
  'MODEL_PROMPT_CACHE',
  'MODEL_MAX_CONCURRENCY',
  'MODEL_TIMEOUT_MS',
  'MODEL_MAX_RETRIES',
  'MODEL_MAX_TOKENS',
  'MODEL_LOGPROBS',
  'FLEET_GATE_TABLE',
  'FLEET_GATE_CAPACITY',
  'FLEET_GATE_POLL_MS',
  'FLEET_GATE_KEY',
]);

/**
 * The environment without the endpoint's variables, for the functions that
 * never ask the model; checked as they check it.
 *
 * @throws {FieldlensPropsError} with the function's own message.
 */
export function withoutEndpoint(env: Readonly<Record<string, string>>): Record<string, string> {
  const rest = Object.fromEntries(Object.entries(env).filter(([k]) => !ENDPOINT_VARIABLES.includes(k)));
  checkFunctionEnvironment('pipeline', rest);
  return rest;
}

/**
 * The Step Functions starter's environment: the pipeline's variables (for
 * the fingerprint and the result key, `OUTPUT_BUCKET` included when results
 * go to another bucket) and the state machine to start; checked with the
 * starter's own config.
 *
 * @throws {FieldlensPropsError} with the function's own message.
 */
export function starterEnvironment(env: Readonly<Record<string, string>>, stateMachineArn: string): Record<string, string> {
  const starter = { ...withoutEndpoint(env), STATE_MACHINE_ARN: stateMachineArn };
  checkFunctionEnvironment('starter', starter);
  return starter;
}

/**
 * Whether results go to the bucket the images arrive in: the same
 * construct, or two imports of one bucket by name. Names that are tokens
 * (buckets of two constructs) cannot be compared, so they count as two
 * buckets.
 */
export function sharesSourceBucket(props: Pick<PipelineProps, 'sourceBucket' | 'outputBucket'>): boolean {
  return sameBucket(props.sourceBucket, props.outputBucket);
}

function sameBucket(a: s3.IBucket, b: s3.IBucket): boolean {
  if (a === b) return true;
  return !Token.isUnresolved(a.bucketName) && a.bucketName === b.bucketName;
}


/** Size as Lambda counts it (keys and values); unresolved tokens (ARNs, names) count as 128 bytes. */
function environmentBytes(env: Record<string, string>): number {
  return Object.entries(env).reduce(
    (sum, [k, v]) => sum + Buffer.byteLength(k) + (Token.isUnresolved(v) ? 128 : Buffer.byteLength(v)),
    0,
  );
}
