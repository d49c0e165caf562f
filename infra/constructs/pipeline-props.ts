/**
 * What every fieldlens pipeline takes and what the stack sees of it.
 *
 * A pipeline is one way of running the extraction (one Lambda per image,
 * or a Step Functions run with one task per field). The stack picks one and
 * only talks to it through {@link FieldlensPipeline}, so another pipeline
 * plugs in without touching the bucket, the secret or the outputs.
 *
 * The documented props live here once; the stack's props pick the ones it
 * passes through unchanged.
 */
import { Duration } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import type { ResponseFormat, StructuredOutput } from '../../functions/config';
import { DEFAULT_LABEL_FIELDS, parseFieldSet, type FieldSet } from '../../functions/core/fields';
import { endpointBudget, type ConcurrentImageLimits, type EndpointBudget } from '../budget';
import type { ContentCacheProps } from './content-cache';
import type { FleetGate } from './fleet-gate';
import type { FunctionTelemetry, FunctionVpcConfig } from './lambda-defaults';
import type { ObjectCreatedSource } from './object-created-source';
import type { ModelPrices } from './model-prices';

/** Log levels the handler understands (`LOG_LEVEL`). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Defaults shared by the stack and every pipeline, kept in one place. */
export const PIPELINE_DEFAULTS = Object.freeze({
  modelCapacity: 10,
  modelTimeout: Duration.seconds(60),
  modelMaxRetries: 3,
  modelResponseFormat: 'json_schema' as ResponseFormat,
  modelStructuredOutput: 'tool' as StructuredOutput,
  memorySize: 512,
  timeout: Duration.minutes(5),
  logRetention: logs.RetentionDays.ONE_MONTH,
  maxImageBytes: 20 * 1024 * 1024,
  deadlineMargin: Duration.seconds(5),
  logLevel: 'info' as LogLevel,
});

/** What every model provider takes: the capacity, the limits of one attempt, the prices. */
export interface ModelCallSettings {
  /**
   * How many requests the endpoint serves at once. The deployment never has
   * more in flight: see `budget.ts` (for Bedrock, `bedrockCapacity` turns a
   * quota into this figure).
   * @default 10
   */
  readonly capacity?: number;
  /**
   * One attempt's time limit (`MODEL_TIMEOUT_MS`).
   * @default Duration.seconds(60)
   */
  readonly timeout?: Duration;
  /**
   * Transport retries per field (`MODEL_MAX_RETRIES`).
   * @default 3
   */
  readonly maxRetries?: number;
  /**
   * Most tokens in one answer (`MODEL_MAX_TOKENS`).
   * @default - the handler's default (1024)
   */
  readonly maxTokens?: number;
  /**
   * What the endpoint charges per million tokens (`MODEL_PRICE_*`): every
   * document then records its `cost`.
   * @default - none: documents carry no cost
   */
  readonly prices?: ModelPrices;
}

/** An OpenAI-compatible endpoint, as a pipeline needs it. */
export interface OpenAIModelSettings extends ModelCallSettings {
  /**
   * The provider (`MODEL_PROVIDER`).
   * @default 'openai'
   */
  readonly provider?: 'openai';
  /**
   * OpenAI-compatible base URL (`MODEL_BASE_URL`), e.g. `http://10.0.0.5:8000/v1`
   * or `https://api.openai.com/v1`.
   */
  readonly baseUrl: string;
  /** The `model` sent in each request (`MODEL_NAME`), e.g. `Qwen/Qwen2.5-VL-7B-Instruct` or `gpt-4o-mini`. */
  readonly name: string;
  /** The secret holding the API key; the function gets its ARN, never its value. */
  readonly apiKeySecret: ISecret;
  /**
   * How the JSON answer is requested (`MODEL_RESPONSE_FORMAT`): `json_schema`
   * where the server supports structured outputs (OpenAI, vLLM, Ollama),
   * `json_object` for servers with JSON mode only, `none` for neither.
   * @default 'json_schema'
   */
  readonly responseFormat?: ResponseFormat;
  /**
   * Ask for token log-probabilities (`MODEL_LOGPROBS`), from which each
   * field's `confidence` is worked out (docs/checks.md); for servers that
   * return them (vLLM, OpenAI).
   * @default false
   */
  readonly logprobs?: boolean;
}

/**
 * Amazon Bedrock's Converse API, as a pipeline needs it: no URL and no key,
 * the functions' roles may invoke the one model (see `bedrock-access.ts`).
 */
export interface BedrockModelSettings extends ModelCallSettings {
  /** The provider (`MODEL_PROVIDER=bedrock`). */
  readonly provider: 'bedrock';
  /**
   * The model id (`amazon.nova-lite-v1:0`), cross-region inference profile
   * id (`eu.anthropic.claude-3-5-sonnet-20240620-v1:0`) or the ARN of either
   * (`MODEL_ID`); recorded in every document as the model's name.
   */
  readonly modelId: string;
  /**
   * The region of the calls (`MODEL_REGION`).
   * @default - the region in `modelId` when it is an ARN, else the stack's region
   */
  readonly region?: string;
  /**
   * How the answer object is asked for (`MODEL_STRUCTURED_OUTPUT`): `tool`
   * (a forced tool whose input schema is the answer's) or `prompt` (the JSON
   * instruction alone, for models without forced tool choice).
   * @default 'tool'
   */
  readonly structuredOutput?: StructuredOutput;
  /**
   * A cache point after the image (`MODEL_PROMPT_CACHE`), for models with
   * prompt caching: every field after the first reads the image's tokens
   * from the model's cache.
   * @default false
   */
  readonly promptCache?: boolean;
}

/** The model endpoint, as a pipeline needs it: an OpenAI-compatible endpoint, or Amazon Bedrock. */
export type ModelEndpointSettings = OpenAIModelSettings | BedrockModelSettings;

/** Whether the model is Amazon Bedrock's. */
export function isBedrockModel(model: ModelEndpointSettings): model is BedrockModelSettings {
  return model.provider === 'bedrock';
}

/** Props every pipeline takes. */
export interface PipelineProps {
  /** The bucket images arrive in. */
  readonly sourceBucket: s3.IBucket;
  /** Key prefix images arrive under; only these objects are processed. */
  readonly inputPrefix: string;
  /** The bucket results are written to (may be `sourceBucket`). */
  readonly outputBucket: s3.IBucket;
  /** Key prefix results are written under. */
  readonly outputPrefix: string;
  /** The model endpoint. */
  readonly model: ModelEndpointSettings;
  /**
   * The fields asked about each image (validate JSON with `parseFieldSet`).
   * @default - the built-in chemical label field set (`DEFAULT_LABEL_FIELDS`)
   */
  readonly fields?: FieldSet;
  /**
   * Memory of the function, in MiB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * The function's timeout: the most time one image (or one field, with
   * Step Functions) may take, model retries included. Keep it well above
   * the model's latency for one answer.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * Retention of the function's logs.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Larger objects get a `rejected` document instead of a model call (`MAX_IMAGE_BYTES`).
   * @default 20 MiB
   */
  readonly maxImageBytes?: number;
  /**
   * A field whose confidence is below this flags its document for review
   * (`REVIEW_CONFIDENCE_THRESHOLD`, from 0 to 1).
   * @default 0.8
   */
  readonly reviewConfidenceThreshold?: number;
  /**
   * Time kept back from the function's timeout to write the result (`DEADLINE_MARGIN_MS`).
   * @default Duration.seconds(5)
   */
  readonly deadlineMargin?: Duration;
  /**
   * The handler's log level (`LOG_LEVEL`).
   * @default 'info'
   */
  readonly logLevel?: LogLevel;
  /**
   * The TypeScript file exporting the Lambda `handler`.
   * @default - `functions/on-upload.ts`
   */
  readonly handlerEntry?: string;
  /**
   * VPC placement of the functions that call the model (and only those), so
   * they reach an endpoint on a private address. Their subnets also need a
   * way to S3 and Secrets Manager, or with Bedrock to S3 and Bedrock
   * Runtime (a NAT gateway, or VPC endpoints).
   * @default - every function runs outside any VPC
   */
  readonly vpcConfig?: FunctionVpcConfig;
  /**
   * Where object-created events come from: the bucket's event notification
   * (`notification`), or the bucket's EventBridge events through a rule
   * (`eventbridge`; the bucket must have EventBridge notifications on).
   * Asynchronous pipelines only (direct, Step Functions).
   * @default 'notification'
   */
  readonly objectCreatedSource?: ObjectCreatedSource;
  /**
   * The content cache: an image whose bytes and configuration match an
   * earlier complete result is answered from it, with no model call.
   * @default - on, under `<outputPrefix>.fieldlens/cache/`, entries kept 30 days
   */
  readonly contentCache?: ContentCacheProps;
  /**
   * The fleet gate the functions that ask the model share (`FLEET_GATE_*`):
   * one in-flight count and one learnt limit for all their execution
   * environments. Only those functions get its variables and its grant.
   * @default - none: each environment's own adaptive gate
   */
  readonly fleetGate?: FleetGate;
  /**
   * X-Ray active tracing of every function (its invocations, model requests
   * and S3 calls as subsegments); their bundles carry the tracer only then.
   * @default false
   */
  readonly tracing?: boolean;
  /**
   * Share of invocations whose debug lines are written whatever the log
   * level (`POWERTOOLS_LOGGER_SAMPLE_RATE`), from 0 to 1.
   * @default 0
   */
  readonly debugLogSampleRate?: number;
}

/** The telemetry settings of a pipeline's functions. */
export function functionTelemetry(props: Pick<PipelineProps, 'tracing' | 'debugLogSampleRate'>): FunctionTelemetry {
  return {
    ...(props.tracing !== undefined ? { tracing: props.tracing } : {}),
    ...(props.debugLogSampleRate !== undefined ? { debugLogSampleRate: props.debugLogSampleRate } : {}),
  };
}

/** What the stack sees of a pipeline, whichever it is. */
export interface FieldlensPipeline extends IConstruct {
  /** The function that receives the bucket's events. */
  readonly handler: lambda.IFunction;
  /** The function's log group. */
  readonly logGroup: logs.ILogGroup;
  /** Where events that could not be processed end up. */
  readonly deadLetterQueue: sqs.IQueue;
  /** Alarms when {@link deadLetterQueue} holds a message. */
  readonly deadLetterAlarm: cloudwatch.IAlarm;
  /** How the endpoint's capacity was split. */
  readonly budget: EndpointBudget;
}

/** The field set a pipeline runs with, and whether it is the built-in one. */
export function resolveFields(fields: FieldSet | undefined): { readonly fields: FieldSet; readonly builtIn: boolean } {
  if (fields === undefined) return { fields: DEFAULT_LABEL_FIELDS, builtIn: true };
  // Validated again here so a construct user gets the same message as a context user.
  return { fields: parseFieldSet(fields), builtIn: false };
}

/** The endpoint budget of a pipeline: its model's capacity over its field set, within its trigger's limits. */
export function pipelineBudget(props: PipelineProps, limits: ConcurrentImageLimits, perImageMax?: number): EndpointBudget {
  return endpointBudget({
    capacity: props.model.capacity ?? PIPELINE_DEFAULTS.modelCapacity,
    fieldCount: resolveFields(props.fields).fields.length,
    limits,
    ...(perImageMax !== undefined ? { perImageMax } : {}),
  });
}
