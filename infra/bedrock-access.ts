/**
 * The IAM statements that let a function call one Bedrock model, and no other.
 *
 * A model id (`amazon.nova-lite-v1:0`) is invoked on its foundation-model ARN
 * in the region. A cross-region inference profile (`eu.…`, `us.…`, `apac.…`,
 * `global.…`, or its ARN) is invoked on the profile's ARN, and Bedrock then
 * authorises the call again on the base model in whichever region it routes
 * to: so the base model's ARN in every region (`*`), allowed only through
 * that profile by the `bedrock:InferenceProfileArn` condition.
 */
import { Aws, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';

const PROFILE_PREFIXES = ['us.', 'eu.', 'apac.', 'global.', 'us-gov.', 'jp.', 'au.', 'ca.'];

/** What a model id names: a foundation model, or an inference profile over `base`. */
export type BedrockModelRef =
  | { readonly kind: 'foundation-model'; readonly id: string }
  | { readonly kind: 'inference-profile'; readonly id: string; readonly base: string };

/**
 * Reads a model id, profile id or ARN.
 *
 * @throws {TypeError} for an ARN of another kind (a provisioned model, an application profile).
 */
export function parseBedrockModelId(modelId: string): BedrockModelRef {
  const arn = /^arn:aws[a-z-]*:bedrock:[a-z0-9-]*:\d*:(foundation-model|inference-profile)\/(.+)$/.exec(modelId);
  if (modelId.startsWith('arn:') && !arn) {
    throw new TypeError(`Expected a foundation-model or inference-profile ARN, got ${JSON.stringify(modelId)}`);
  }
  const id = arn ? arn[2]! : modelId;
  const prefix = PROFILE_PREFIXES.find((p) => id.startsWith(p));
  if (arn?.[1] === 'inference-profile' || prefix) {
    return { kind: 'inference-profile', id, base: prefix ? id.slice(prefix.length) : id.replace(/^[a-z-]+\./, '') };
  }
  return { kind: 'foundation-model', id };
}

/** The region in a Bedrock ARN, when `modelId` is one that names a region. */
export function bedrockArnRegion(modelId: string): string | undefined {
  return /^arn:aws[a-z-]*:bedrock:([a-z0-9-]+):/.exec(modelId)?.[1];
}

/**
 * The region the functions call Bedrock in (`MODEL_REGION`): the one
 * given, else the region an ARN names (its model or profile lives there),
 * else the region the stack deploys to (`AWS::Region`).
 *
 * @example
 * ```ts
 * bedrockRegion('arn:aws:bedrock:eu-west-1:123456789012:inference-profile/eu.amazon.nova-lite-v1:0'); // 'eu-west-1'
 * ```
 */
export function bedrockRegion(modelId: string, region?: string): string {
  return region ?? bedrockArnRegion(modelId) ?? Aws.REGION;
}

/**
 * The statements allowing `bedrock:InvokeModel` (Converse's action) on the model.
 *
 * @param region the model's region (`MODEL_REGION`); the stack's by default.
 */
export function bedrockInvokeStatements(scope: IConstruct, modelId: string, region?: string): iam.PolicyStatement[] {
  const stack = Stack.of(scope);
  const where = region ?? stack.region;
  const ref = parseBedrockModelId(modelId);
  if (ref.kind === 'foundation-model') {
    return [
      new iam.PolicyStatement({
        sid: 'InvokeModel',
        actions: ['bedrock:InvokeModel'],
        resources: [`arn:${stack.partition}:bedrock:${where}::foundation-model/${ref.id}`],
      }),
    ];
  }
  const profileArn = `arn:${stack.partition}:bedrock:${where}:${stack.account}:inference-profile/${ref.id}`;
  return [
    new iam.PolicyStatement({ sid: 'InvokeInferenceProfile', actions: ['bedrock:InvokeModel'], resources: [profileArn] }),
    new iam.PolicyStatement({
      sid: 'InvokeModelThroughProfile',
      actions: ['bedrock:InvokeModel'],
      // Any region: the profile routes to its destination regions, where the base model is authorised.
      resources: [`arn:${stack.partition}:bedrock:*::foundation-model/${ref.base}`],
      conditions: { StringEquals: { 'bedrock:InferenceProfileArn': profileArn } },
    }),
  ];
}
