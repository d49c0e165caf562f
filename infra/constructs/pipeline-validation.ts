/**
 * The checks every pipeline runs on its props before it creates anything:
 * those about the deployment itself. What the functions would refuse at
 * start-up (ranges, prefix format, overlapping prefixes) is checked with
 * their own config when their environment is built
 * (`function-environment.ts`).
 */
import { Annotations, Token } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';
import { bedrockArnRegion } from '../bedrock-access';
import { INLINE_MAP_MAX_CONCURRENCY } from '../budget';
import { FieldlensPropsError } from '../errors';
import { checkModelEndpointPlacement } from './model-network';
import { isBedrockModel, PIPELINE_DEFAULTS, type PipelineProps } from './pipeline-props';

/**
 * Rejects props that would deploy something that cannot work: prefixes IAM
 * would read as wildcards, timeouts that leave no time to work, an endpoint
 * on an address the functions cannot reach outside a VPC, a Bedrock region
 * that contradicts the model's ARN; and warns about an API key sent over
 * plain http.
 *
 * @throws {FieldlensPropsError} naming the prop and what it expected.
 */
export function validatePipelineProps(props: PipelineProps): void {
  for (const [name, prefix] of [
    ['inputPrefix', props.inputPrefix],
    ['outputPrefix', props.outputPrefix],
  ] as const) {
    if (/[*?]/.test(prefix)) {
      throw new FieldlensPropsError(`${name}: "*" and "?" are IAM wildcards and cannot be part of a prefix, got ${JSON.stringify(prefix)}`);
    }
  }
  const timeout = props.timeout ?? PIPELINE_DEFAULTS.timeout;
  const margin = props.deadlineMargin ?? PIPELINE_DEFAULTS.deadlineMargin;
  if (!timeout.isUnresolved() && !margin.isUnresolved() && timeout.toMilliseconds() <= margin.toMilliseconds() + 1000) {
    throw new FieldlensPropsError(
      `timeout (${timeout.toSeconds()} s) must exceed deadlineMargin (${margin.toSeconds()} s) by more than a second, ` +
        'or no time is left to ask the model',
    );
  }
  const { model } = props;
  if (isBedrockModel(model)) {
    // No URL to place: Bedrock Runtime is a regional AWS endpoint, reached like S3.
    checkBedrockRegion(model.modelId, model.region);
    return;
  }
  checkModelEndpointPlacement({
    baseUrl: model.baseUrl,
    inVpc: props.vpcConfig !== undefined,
    warnOn: model.apiKeySecret,
  });
}

/**
 * Refuses a region other than the one a model or profile ARN names: the
 * call would go to a region where that ARN does not exist.
 *
 * @throws {FieldlensPropsError} naming both regions.
 */
function checkBedrockRegion(modelId: string, region: string | undefined): void {
  const inArn = bedrockArnRegion(modelId);
  if (region === undefined || inArn === undefined || Token.isUnresolved(region) || region === inArn) return;
  throw new FieldlensPropsError(
    `model.region (context modelRegion) ${JSON.stringify(region)}: the ARN in model.modelId names ${JSON.stringify(inArn)}, ` +
      'where its model or profile lives; leave the region unset or give the same one',
  );
}

/**
 * A Map state's `MaxConcurrency` that an inline Map can run: the endpoint
 * budget's per-image figure, capped at {@link INLINE_MAP_MAX_CONCURRENCY}
 * with a warning on `scope` when it is above.
 */
export function inlineMapConcurrency(scope: IConstruct, requested: number): number {
  if (requested <= INLINE_MAP_MAX_CONCURRENCY) return requested;
  Annotations.of(scope).addWarningV2(
    'fieldlens:inlineMapConcurrency',
    `the endpoint budget allows ${requested} requests per image, but an inline Map runs at most ${INLINE_MAP_MAX_CONCURRENCY} iterations at once: ` +
      `the Map's MaxConcurrency is capped at ${INLINE_MAP_MAX_CONCURRENCY}, so each image asks at most ${INLINE_MAP_MAX_CONCURRENCY} fields at once`,
  );
  return INLINE_MAP_MAX_CONCURRENCY;
}
