/**
 * The props of {@link FieldlensStack}. Props a construct also takes are
 * documented once, where the construct defines them, and picked from there.
 */
import type { AlarmNotifications } from './constructs/monitoring';
import type { StackProps } from 'aws-cdk-lib';
import type { BedrockQuota, TriggerKind } from './budget';
import type { BackfillOptions } from './constructs/backfill';
import type { WatchedBucketProps } from './constructs/fieldlens-bucket';
import type { FleetGateOptions } from './constructs/fleet-gate';
import type { ModelApiKeyProps } from './constructs/model-api-key';
import type { ModelNetworkProps } from './constructs/model-network';
import type { BedrockModelSettings, ModelCallSettings, OpenAIModelSettings, PipelineProps } from './constructs/pipeline-props';
import type { FieldlensStack } from './fieldlens-stack';

/** The model settings the stack passes to its pipeline as they are, whichever the provider. */
export const MODEL_PASS_THROUGH = Object.freeze(['timeout', 'maxRetries', 'maxTokens', 'prices'] as const);

/** The pipeline props the stack takes as they are and passes to its pipeline. */
export const PIPELINE_PASS_THROUGH = Object.freeze([
  'fields',
  'memorySize',
  'timeout',
  'logRetention',
  'maxImageBytes',
  'reviewConfidenceThreshold',
  'logLevel',
  'handlerEntry',
  'tracing',
  'debugLogSampleRate',
  'contentCache',
] as const);

/** How the extraction is fanned out over an image's fields. */
export type FanoutKind = 'lambda' | 'stepfunctions';

/** What the stack takes of the model whichever the provider: the capacity, the limits of one attempt, the prices. */
export interface FieldlensModelCallProps extends Pick<ModelCallSettings, (typeof MODEL_PASS_THROUGH)[number]> {
  /**
   * The endpoint's {@link ModelCallSettings.capacity | capacity}: how many
   * requests it serves at once (the context key `modelMaxConcurrency`).
   * With Bedrock it takes precedence over `quota` (synth warns when both
   * are given).
   * @default - from `quota` with Bedrock when given, else 10
   */
  readonly maxConcurrency?: number;
}

/**
 * An OpenAI-compatible endpoint the stack points the functions at, and the
 * secret holding its API key ({@link ModelApiKeyProps}).
 */
export interface FieldlensOpenAIModelProps
  extends ModelApiKeyProps,
    FieldlensModelCallProps,
    Pick<OpenAIModelSettings, 'provider' | 'baseUrl' | 'name' | 'responseFormat' | 'logprobs'> {}

/**
 * Amazon Bedrock as the model (see docs/bedrock.md): no endpoint URL, no
 * secret; the functions' roles may invoke the one model or inference
 * profile, and the capacity can come from the account's Bedrock quota.
 */
export interface FieldlensBedrockModelProps
  extends FieldlensModelCallProps,
    Pick<BedrockModelSettings, 'provider' | 'modelId' | 'region' | 'structuredOutput' | 'promptCache'> {
  /**
   * The account's on-demand quota for the model in its region (Service
   * Quotas): the capacity is `bedrockCapacity(quota)`, the requests in
   * flight that rate sustains (see `infra/budget.ts`), unless
   * `maxConcurrency` is given.
   * @default - no quota: the capacity is `maxConcurrency`, else 10
   */
  readonly quota?: BedrockQuota;
}

/** The model the stack points the functions at: an OpenAI-compatible endpoint (the default), or Amazon Bedrock. */
export type FieldlensModelProps = FieldlensOpenAIModelProps | FieldlensBedrockModelProps;

/**
 * Props of {@link FieldlensStack}.
 *
 * The {@link ModelNetworkProps} (`vpc`, `vpcSubnets`, `securityGroups`, or
 * `vpcId`, `subnetIds`, `securityGroupIds`) place the functions that call
 * the model in a VPC, for an endpoint on a private address. The
 * {@link WatchedBucketProps} choose the bucket; the function settings are
 * those of {@link PipelineProps}.
 */
export interface FieldlensStackProps
  extends StackProps,
    ModelNetworkProps,
    WatchedBucketProps,
    Pick<PipelineProps, (typeof PIPELINE_PASS_THROUGH)[number]> {
  /** The model endpoint: OpenAI-compatible (the default), or Amazon Bedrock with `provider: 'bedrock'`. */
  readonly model: FieldlensModelProps;
  /**
   * Key prefix images arrive under.
   * @default 'incoming/'
   */
  readonly inputPrefix?: string;
  /**
   * Key prefix results are written under.
   * @default 'results/'
   */
  readonly outputPrefix?: string;
  /**
   * How images reach the function: `direct` (S3 invokes it), `queue`
   * (S3 → SQS → Lambda), or `eventbridge` (the bucket's EventBridge
   * "Object Created" events, matched by a rule on the input prefix, invoke
   * it: the bucket's notification configuration is left alone; an existing
   * bucket must have EventBridge notifications on, see docs/deploying.md).
   * @default 'direct'
   */
  readonly trigger?: StackTriggerKind;
  /**
   * How an image's fields are fanned out: `lambda` (one invocation asks
   * every field) or `stepfunctions` (a state machine runs one task per field;
   * see docs/stepfunctions.md). `stepfunctions` works with the direct
   * trigger only.
   * @default 'lambda'
   */
  readonly fanout?: FanoutKind;
  /**
   * Direct trigger: reserve concurrency to cap the images processed at once
   * (with `fanout: 'stepfunctions'`, the field tasks running at once). Turn
   * off on accounts whose concurrency quota cannot spare a reservation.
   * @default true
   */
  readonly reserveConcurrency?: boolean;
  /**
   * A backfill state machine that walks the objects already in the bucket
   * through the per-object path (`npm run backfill`), with its share of the
   * endpoint's capacity; the uploads get the rest (see docs/backfill.md).
   * Off unless given, so a deployment without it keeps the whole capacity
   * for uploads.
   * @default - no backfill
   */
  readonly backfill?: BackfillOptions;
  /**
   * The fleet gate (see docs/deploying.md): a DynamoDB table whose one item
   * is the in-flight count and learnt limit of every function that asks the
   * model, uploads and backfill together, held to the endpoint's whole
   * capacity. For an endpoint shared with other clients, or one that serves
   * less than its capacity says. Off unless given, like `backfill`.
   * @default - no fleet gate: each execution environment limits itself
   */
  readonly fleetGate?: FleetGateOptions;
  /**
   * Where the alarms notify (see docs/operations.md#alarms): a new SNS topic
   * with an e-mail subscription, or an existing topic. The alarms and the
   * dashboard exist either way.
   * @default - alarms without actions
   */
  readonly alarms?: AlarmNotifications;
}

/** How images reach the function: the budget's triggers, and `eventbridge` (asynchronous, like `direct`). */
export type StackTriggerKind = TriggerKind | 'eventbridge';
