/**
 * The stack's model props → what its pipeline takes: the settings of an
 * OpenAI-compatible endpoint with the secret holding its key, or Amazon
 * Bedrock's with no secret at all; and the endpoint's capacity `C`, with
 * where it came from (given, the Bedrock quota, or the default).
 */
import { Annotations } from 'aws-cdk-lib';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { BEDROCK_QUOTA_DEFAULTS, bedrockCapacity, type BedrockQuota } from './budget';
import { checkModelApiKeyProps, modelApiKeySecret } from './constructs/model-api-key';
import { PIPELINE_DEFAULTS, type ModelEndpointSettings } from './constructs/pipeline-props';
import { FieldlensPropsError } from './errors';
import { MODEL_PASS_THROUGH, type FieldlensBedrockModelProps, type FieldlensModelProps } from './stack-props';

/** The model as the stack resolved it. */
export interface StackModel {
  /** The pipeline's model settings, without the capacity (the stack splits it first when there is a backfill). */
  readonly settings: ModelEndpointSettings;
  /** The secret holding the API key; none with Bedrock. */
  readonly apiKeySecret?: secretsmanager.ISecret;
  /** The endpoint's capacity `C`. */
  readonly capacity: number;
  /** Where `C` came from, for messages and the `EndpointBudget` output, e.g. `model.maxConcurrency (modelMaxConcurrency)`. */
  readonly capacitySource: string;
  /** With a capacity from the Bedrock quota: the quota, as the output states it. */
  readonly quotaNote?: string;
}

/** Props only an OpenAI-compatible endpoint reads, and only Bedrock reads: refused with the other provider. */
const OPENAI_ONLY = Object.freeze(['baseUrl', 'name', 'existingApiKeySecret', 'existingApiKeySecretArn', 'responseFormat', 'logprobs'] as const);
const BEDROCK_ONLY = Object.freeze(['modelId', 'region', 'structuredOutput', 'promptCache', 'quota'] as const);

/**
 * Resolves the model props in `scope` (the stack): creates or imports the
 * API key's secret for an OpenAI-compatible endpoint (as `ModelApiKey`),
 * none for Bedrock.
 *
 * @throws {FieldlensPropsError} for a prop of the other provider, an unknown
 *   provider, two secrets, or a quota that is not a set of positive figures.
 */
export function stackModel(scope: Construct, model: FieldlensModelProps): StackModel {
  const provider: unknown = model.provider ?? 'openai';
  if (provider !== 'openai' && provider !== 'bedrock') {
    throw new FieldlensPropsError(`model.provider (context modelProvider): expected "openai" or "bedrock", got ${JSON.stringify(provider)}`);
  }
  refuseOtherProvider(model, provider === 'bedrock' ? OPENAI_ONLY : BEDROCK_ONLY, provider);
  const passed = Object.fromEntries(MODEL_PASS_THROUGH.filter((k) => model[k] !== undefined).map((k) => [k, model[k]]));
  if (model.provider === 'bedrock') {
    const { capacity, capacitySource, quotaNote } = bedrockModelCapacity(scope, model);
    return {
      settings: {
        provider: 'bedrock',
        modelId: model.modelId,
        ...passed,
        ...(model.region !== undefined ? { region: model.region } : {}),
        ...(model.structuredOutput !== undefined ? { structuredOutput: model.structuredOutput } : {}),
        ...(model.promptCache !== undefined ? { promptCache: model.promptCache } : {}),
      },
      capacity,
      capacitySource,
      ...(quotaNote ? { quotaNote } : {}),
    };
  }
  checkModelApiKeyProps(model);
  const apiKeySecret = modelApiKeySecret(scope, model);
  return {
    settings: {
      baseUrl: model.baseUrl,
      name: model.name,
      apiKeySecret,
      ...passed,
      ...(model.responseFormat !== undefined ? { responseFormat: model.responseFormat } : {}),
      ...(model.logprobs !== undefined ? { logprobs: model.logprobs } : {}),
    },
    apiKeySecret,
    ...givenOrDefaultCapacity(model.maxConcurrency),
  };
}

/**
 * Bedrock's capacity: `maxConcurrency` when given (it wins over the quota:
 * a measured figure beats one derived from assumptions), else
 * `bedrockCapacity(quota)`, else the default.
 */
function bedrockModelCapacity(scope: Construct, model: FieldlensBedrockModelProps): Pick<StackModel, 'capacity' | 'capacitySource' | 'quotaNote'> {
  const { quota } = model;
  if (model.maxConcurrency !== undefined || quota === undefined) {
    if (quota !== undefined) {
      Annotations.of(scope).addWarningV2(
        'fieldlens:bedrockQuotaUnused',
        `model.maxConcurrency (modelMaxConcurrency) ${model.maxConcurrency} is the capacity; the Bedrock quota (bedrock* context keys) is not used. ` +
          'Remove one of them to silence this warning',
      );
    }
    return givenOrDefaultCapacity(model.maxConcurrency);
  }
  let capacity: number;
  try {
    capacity = bedrockCapacity(quota);
  } catch (err) {
    throw new FieldlensPropsError(`model.quota (context bedrockRequestsPerMinute, bedrockTokensPerMinute, …): ${(err as Error).message}`, { cause: err });
  }
  return {
    capacity,
    capacitySource: 'the Bedrock quota (bedrockRequestsPerMinute, bedrockTokensPerMinute)',
    quotaNote: describeQuota(quota, capacity),
  };
}

function givenOrDefaultCapacity(maxConcurrency: number | undefined): Pick<StackModel, 'capacity' | 'capacitySource'> {
  return maxConcurrency !== undefined
    ? { capacity: maxConcurrency, capacitySource: 'model.maxConcurrency (modelMaxConcurrency)' }
    : { capacity: PIPELINE_DEFAULTS.modelCapacity, capacitySource: `the default capacity ${PIPELINE_DEFAULTS.modelCapacity} (modelMaxConcurrency)` };
}

/** The quota and the capacity it gave, as the `EndpointBudget` output states them. */
export function describeQuota(quota: BedrockQuota, capacity: number): string {
  return (
    `capacity ${capacity} from the Bedrock quota of ${quota.requestsPerMinute} requests and ${quota.tokensPerMinute} tokens per minute ` +
    `at ${quota.tokensPerRequest ?? BEDROCK_QUOTA_DEFAULTS.tokensPerRequest} tokens and ${quota.secondsPerRequest ?? BEDROCK_QUOTA_DEFAULTS.secondsPerRequest} s per request`
  );
}

function refuseOtherProvider(model: FieldlensModelProps, keys: readonly string[], provider: 'openai' | 'bedrock'): void {
  const given = keys.find((k) => (model as unknown as Record<string, unknown>)[k] !== undefined);
  if (given === undefined) return;
  throw new FieldlensPropsError(
    provider === 'bedrock'
      ? `model.${given}: not used with provider "bedrock" (no endpoint URL, no API key: the functions' roles sign the calls; the model is modelId); remove it`
      : `model.${given}: only with provider "bedrock"; set model.provider to "bedrock" (context modelProvider=bedrock), or remove it`,
  );
}
