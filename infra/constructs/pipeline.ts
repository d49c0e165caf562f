/**
 * What every fieldlens pipeline shares: its props, the interface the stack
 * sees, the function's environment, and the least-privilege object access.
 *
 * A pipeline is one way of running the extraction (one Lambda per image,
 * or a Step Functions run with one task per field). The stack picks one and only talks to it
 * through {@link FieldlensPipeline}, so another pipeline plugs in without
 * touching the bucket, the secret or the outputs.
 */
import { fileURLToPath } from 'node:url';
import { Duration, Token } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { ISecret } from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { IConstruct } from 'constructs';
import type { ResponseFormat } from '../../functions/config';
import { DEFAULT_LABEL_FIELDS, parseFieldSet, type FieldSet } from '../../functions/core/fields';
import type { EndpointBudget } from '../budget';
import { FieldlensPropsError } from '../errors';
import { acknowledgeWildcardResource } from './acknowledge';
import type { FunctionVpcConfig } from './lambda-defaults';

/** The handler shipped with fieldlens. */
export const ON_UPLOAD_ENTRY = fileURLToPath(new URL('../../functions/on-upload.ts', import.meta.url));

/** Lambda's limit on the total size of a function's environment variables. */
export const LAMBDA_ENVIRONMENT_LIMIT_BYTES = 4096;

/** Log levels the handler understands (`LOG_LEVEL`). */
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Defaults shared by the stack and every pipeline, kept in one place. */
export const PIPELINE_DEFAULTS = Object.freeze({
  modelCapacity: 10,
  modelTimeout: Duration.seconds(60),
  modelMaxRetries: 3,
  modelResponseFormat: 'json_schema' as ResponseFormat,
  memorySize: 512,
  timeout: Duration.minutes(5),
  logRetention: logs.RetentionDays.ONE_MONTH,
  maxImageBytes: 20 * 1024 * 1024,
  deadlineMargin: Duration.seconds(5),
  logLevel: 'info' as LogLevel,
});

/** The model endpoint, as a pipeline needs it. */
export interface ModelEndpointSettings {
  /** OpenAI-compatible base URL, e.g. `http://10.0.0.5:8000/v1` (`MODEL_BASE_URL`). */
  readonly baseUrl: string;
  /** The `model` sent in each request (`MODEL_NAME`). */
  readonly name: string;
  /** The secret holding the API key; the function gets its ARN, never its value. */
  readonly apiKeySecret: ISecret;
  /**
   * Requests the endpoint serves at once; the pipeline never sends more.
   * @default 10
   */
  readonly capacity?: number;
  /**
   * One attempt's limit (`MODEL_TIMEOUT_MS`).
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
   * How the JSON answer is requested (`MODEL_RESPONSE_FORMAT`): `json_schema`
   * where the server supports structured outputs, `json_object` for servers
   * with JSON mode only, `none` for neither.
   * @default 'json_schema'
   */
  readonly responseFormat?: ResponseFormat;
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
   * The fields asked about each image.
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
   * Step Functions) may take, model retries included.
   * @default Duration.minutes(5)
   */
  readonly timeout?: Duration;
  /**
   * Retention of the function's log group.
   * @default RetentionDays.ONE_MONTH
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Objects larger than this are rejected with a `rejected` document (`MAX_IMAGE_BYTES`).
   * @default 20 MiB
   */
  readonly maxImageBytes?: number;
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
   * way to S3 and Secrets Manager (a NAT gateway, or VPC endpoints).
   * @default - every function runs outside any VPC
   */
  readonly vpcConfig?: FunctionVpcConfig;
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

/**
 * Rejects props that would deploy something that cannot work: overlapping
 * prefixes in one bucket (each result would trigger another invocation),
 * prefixes IAM would read as wildcards, timeouts that leave no time to work.
 *
 * @throws {FieldlensPropsError} naming the prop and what it expected.
 */
export function validatePipelineProps(props: PipelineProps): void {
  for (const [name, prefix] of [
    ['inputPrefix', props.inputPrefix],
    ['outputPrefix', props.outputPrefix],
  ] as const) {
    if (prefix !== '' && !prefix.endsWith('/')) {
      throw new FieldlensPropsError(`${name}: expected a key prefix ending in "/" (or empty), got ${JSON.stringify(prefix)}`);
    }
    if (/[*?]/.test(prefix)) {
      throw new FieldlensPropsError(`${name}: "*" and "?" are IAM wildcards and cannot be part of a prefix, got ${JSON.stringify(prefix)}`);
    }
  }
  if (sameBucket(props.sourceBucket, props.outputBucket)) {
    const { inputPrefix: i, outputPrefix: o } = props;
    if (i.startsWith(o) || o.startsWith(i)) {
      throw new FieldlensPropsError(
        `inputPrefix ${JSON.stringify(i)} and outputPrefix ${JSON.stringify(o)} overlap in the same bucket: ` +
          'every result would land under the input prefix and trigger another invocation; use two separate prefixes such as "incoming/" and "results/"',
      );
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
}

function sameBucket(a: s3.IBucket, b: s3.IBucket): boolean {
  if (a === b) return true;
  // Imported twice by name: same bucket. Tokens of two constructs cannot be compared, so they count as different.
  return !Token.isUnresolved(a.bucketName) && a.bucketName === b.bucketName;
}

/**
 * The function's environment: the contract in `functions/config.ts`. The
 * API key's secret travels as an ARN; its value is read at cold start.
 *
 * @throws {FieldlensPropsError} when the variables exceed Lambda's 4 KB limit
 *   (a large custom field set is the only way to get there).
 */
export function pipelineEnvironment(props: PipelineProps, perImage: number): Record<string, string> {
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

/** Size as Lambda counts it (keys and values); unresolved tokens (ARNs, names) count as 128 bytes. */
function environmentBytes(env: Record<string, string>): number {
  return Object.entries(env).reduce(
    (sum, [k, v]) => sum + Buffer.byteLength(k) + (Token.isUnresolved(v) ? 128 : Buffer.byteLength(v)),
    0,
  );
}

/**
 * The only object access a pipeline function gets: read images under the
 * input prefix; read and write results under the output prefix (the read
 * is the idempotency check, a HEAD on the result key). No bucket-level
 * action, no other prefix. `bucket.grantRead` is not used because it also
 * grants `s3:List*` and `s3:GetBucket*` on the whole bucket.
 *
 * Without `s3:ListBucket`, S3 answers 403, not 404, for a key that does
 * not exist. For the result check the handler reads 403 as "no result yet"
 * (at worst a recomputation). For a source image it does not: an image
 * deleted before it was read then fails the invocation and ends in the
 * dead-letter queue, rather than a permission problem passing as "deleted".
 */
export function grantObjectAccess(role: iam.IRole, props: PipelineProps): void {
  grantObjectAccessFor(role, props, { readImages: true, readResults: true, writeResults: true });
}

/** Which object access one function needs; see {@link grantObjectAccessFor}. */
export interface ObjectAccess {
  /** `s3:GetObject` under the input prefix: HEAD and read the image. */
  readonly readImages?: boolean;
  /** `s3:GetObject` under the output prefix: HEAD a result (the idempotency check). */
  readonly readResults?: boolean;
  /** `s3:PutObject` under the output prefix: write a result. */
  readonly writeResults?: boolean;
}

/**
 * The parts of {@link grantObjectAccess} one function needs, for pipelines
 * that split the job over several functions (Step Functions): each gets only
 * the object actions its step uses, on the same prefixes.
 */
export function grantObjectAccessFor(role: iam.IRole, props: PipelineProps, access: ObjectAccess): void {
  const inputObjects = props.sourceBucket.arnForObjects(`${props.inputPrefix}*`);
  const outputObjects = props.outputBucket.arnForObjects(`${props.outputPrefix}*`);
  if (access.readImages) {
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ReadImages', actions: ['s3:GetObject'], resources: [inputObjects] }),
    );
    acknowledgeWildcardResource(
      role,
      inputObjects,
      `Objects under the input prefix "${props.inputPrefix}" only: image keys are not known in advance, and a key prefix is the narrowest scope S3 IAM offers for them.`,
    );
  }
  const resultActions = [
    ...(access.readResults ? ['s3:GetObject'] : []),
    ...(access.writeResults ? ['s3:PutObject'] : []),
  ];
  if (resultActions.length > 0) {
    const sid = access.readResults && access.writeResults ? 'ReadWriteResults' : access.readResults ? 'ReadResults' : 'WriteResults';
    role.addToPrincipalPolicy(new iam.PolicyStatement({ sid, actions: resultActions, resources: [outputObjects] }));
    acknowledgeWildcardResource(
      role,
      outputObjects,
      `Objects under the output prefix "${props.outputPrefix}" only: result keys are derived from image keys at run time, and a key prefix is the narrowest scope S3 IAM offers for them.`,
    );
  }
}

/** Read access to the one secret holding the API key: `GetSecretValue`, nothing else. */
export function grantSecretRead(role: iam.IRole, secret: ISecret): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ReadModelApiKey',
      actions: ['secretsmanager:GetSecretValue'],
      // An imported partial ARN lacks the 6-character suffix Secrets Manager appends.
      resources: [secret.secretFullArn ?? `${secret.secretArn}-??????`],
    }),
  );
  // A secret encrypted with a customer key also needs that key, only through Secrets Manager.
  secret.encryptionKey?.grantDecrypt(
    new iam.PrincipalWithConditions(role, {
      StringEquals: { 'kms:ViaService': `secretsmanager.${secret.stack.region}.${secret.stack.urlSuffix}` },
    }),
  );
}
