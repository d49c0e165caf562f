/**
 * CDK context → typed stack props. The app is the only place that reads
 * context; everything below it takes typed props.
 *
 * Values come from `cdk.json` (JSON types) or `-c key=value` (always
 * strings), so numbers and booleans are accepted in both forms. A missing or
 * bad value fails synth with a message that names the key and what it
 * expected. The ranges of settings a function reads (timeout, retries,
 * tokens, image size) are the function's: its config checks them at synth,
 * with its own message.
 */
import { Duration } from 'aws-cdk-lib';
import * as z from 'zod';
import { MODEL_PROVIDERS, RESPONSE_FORMATS, STRUCTURED_OUTPUTS } from '../functions/config';
import { FieldSetError } from '../functions/core/errors';
import { parseFieldSet, type FieldSet } from '../functions/core/fields';
import type { BedrockQuota } from './budget';
import { EC2_ID_PATTERNS, LAMBDA_VPC_LIMITS } from './constructs/model-network';
import { ContextError } from './errors';
import type { FieldlensStackProps } from './fieldlens-stack';

const wholeNumber = (min: number, max: number) => {
  const message = `expected a whole number from ${min} to ${max}`;
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z.number({ error: message }).int(message).min(min, message).max(max, message),
  );
};

/**
 * A whole number whose range a function owns: the context only checks that
 * it is a whole number of at least 0 (a negative duration cannot even be
 * built), and the function's own config checks the range at synth
 * (`environment-check.ts`), with the function's message.
 */
const functionSetting = () => {
  const message = 'expected a whole number (0 or more)';
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z.number({ error: message }).int(message).min(0, message),
  );
};

const flag = () =>
  z.preprocess(
    (v) => (v === 'true' ? true : v === 'false' ? false : v),
    z.boolean({ error: 'expected true or false' }),
  );

const keyPrefix = (fallback: string) =>
  z
    .string({ error: 'expected a key prefix ending in "/", such as "incoming/"' })
    .default(fallback)
    .refine((p) => p === '' || p.endsWith('/'), 'expected a key prefix ending in "/", such as "incoming/"')
    .refine((p) => !/[*?]/.test(p), 'expected a prefix without "*" or "?" (IAM reads them as wildcards)');

/**
 * A list of EC2 ids: a comma-separated string from `-c` (spaces allowed), or
 * a JSON array from cdk.json. Each bad id is named in the message.
 */
const idList = (what: string, pattern: RegExp, example: string, max: number) => {
  const expected = `expected 1 to ${max} ${what} ids separated by commas, such as ${example}`;
  return z.preprocess(
    (v) => (typeof v === 'string' ? v.split(',').map((id) => id.trim()).filter((id) => id !== '') : v),
    z
      .array(z.string({ error: expected }), { error: expected })
      .min(1, expected)
      .max(max, `expected at most ${max} ${what} ids (Lambda's limit for one function)`)
      .superRefine((ids, ctx) => {
        for (const [i, id] of ids.entries()) {
          if (!pattern.test(id)) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(id)} is not a ${what} id; ${expected}` });
          else if (ids.indexOf(id) !== i) ctx.addIssue({ code: 'custom', message: `${JSON.stringify(id)} is given twice` });
        }
      }),
  );
};

/** A fraction above 0 and below 1, from `-c key=0.3` or cdk.json. */
const fraction = () => {
  const message = 'expected a number above 0 and below 1, such as 0.5 (half the capacity)';
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z.number({ error: message }).gt(0, message).lt(1, message),
  );
};

/** A number from 0 to 1 inclusive, from cdk.json or a `-c` string. */
const zeroToOne = (message: string) =>
  z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z.number({ error: message }).min(0, message).max(1, message),
  );

/** A price per million tokens: a number ≥ 0, from cdk.json or a `-c` string. */
const pricePerMillion = () => {
  const message = 'expected a price per million tokens, a number ≥ 0 such as 0.15';
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z.number({ error: message }).finite(message).nonnegative(message),
  );
};

/** A rate from a Bedrock quota, or a request's tokens: a whole number ≥ 1, from cdk.json or a `-c` string. */
const quotaFigure = (what: string) => {
  const message = `expected ${what}, a whole number of at least 1`;
  return z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z.number({ error: message }).int(message).min(1, message),
  );
};

const httpUrl = 'expected the endpoint\'s OpenAI-compatible base URL, such as http://10.0.0.5:8000/v1';
const modelIdMessage = 'expected the Bedrock model id, inference profile id or ARN, such as eu.amazon.nova-lite-v1:0';

/** Every context key fieldlens reads, with what it accepts. */
const contextSchema = z.object({
  stackName: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'expected a CloudFormation stack name (letters, digits, "-")')
    .default('Fieldlens'),
  modelProvider: z
    .enum(MODEL_PROVIDERS, { error: 'expected "openai" (an OpenAI-compatible endpoint) or "bedrock" (Amazon Bedrock)' })
    .default('openai'),
  // Required with modelProvider=openai (see PROVIDER_KEYS).
  modelBaseUrl: z
    .string({ error: httpUrl })
    .refine((u) => /^https?:\/\/[^/\s]+/.test(u) && URL.canParse(u), httpUrl)
    .optional(),
  modelName: z.string({ error: 'expected the model name sent in each request' }).trim().min(1, 'expected a model name').optional(),
  modelApiKeySecretArn: z
    .string()
    .regex(
      /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:.+-[A-Za-z0-9]{6}$/,
      'expected the complete ARN of a Secrets Manager secret, ending in its 6-character suffix (arn:aws:secretsmanager:<region>:<account>:secret:<name>-AbCdEf)',
    )
    .optional(),
  // Optional so that a Bedrock quota can stand in for it; 10 with openai when unset.
  modelMaxConcurrency: wholeNumber(1, 1000).optional(),
  modelTimeoutMs: functionSetting().optional(),
  modelMaxRetries: functionSetting().optional(),
  modelMaxTokens: functionSetting().optional(),
  modelResponseFormat: z.enum(RESPONSE_FORMATS, { error: `expected one of ${RESPONSE_FORMATS.join(', ')}` }).optional(),
  modelLogprobs: flag().optional(),
  // Required with modelProvider=bedrock; the function's config checks its form at synth, the IAM statements its kind.
  modelId: z.string({ error: modelIdMessage }).trim().min(1, modelIdMessage).optional(),
  modelRegion: z
    .string({ error: 'expected an AWS region such as eu-west-1' })
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, 'expected an AWS region such as eu-west-1')
    .optional(),
  modelStructuredOutput: z
    .enum(STRUCTURED_OUTPUTS, { error: 'expected "tool" (a forced tool with the answer\'s schema) or "prompt" (the JSON instruction alone)' })
    .optional(),
  modelPromptCache: flag().optional(),
  bedrockRequestsPerMinute: quotaFigure('the Bedrock quota\'s requests per minute for the model').optional(),
  bedrockTokensPerMinute: quotaFigure('the Bedrock quota\'s tokens per minute for the model').optional(),
  bedrockTokensPerRequest: quotaFigure('the tokens one field\'s request costs, input and output').optional(),
  bedrockSecondsPerRequest: z
    .preprocess(
      (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
      z.number({ error: 'expected the seconds one request takes, a number above 0 such as 2.5' }).finite().gt(0, 'expected the seconds one request takes, a number above 0 such as 2.5'),
    )
    .optional(),
  fieldsFile: z.string().trim().min(1, 'expected the path of a JSON field set file').optional(),
  inputPrefix: keyPrefix('incoming/'),
  outputPrefix: keyPrefix('results/'),
  bucketName: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected an S3 bucket name (3-63 characters: a-z, 0-9, ".", "-")')
    .optional(),
  accessLogs: flag().optional(),
  versioned: flag().optional(),
  memorySize: wholeNumber(128, 10_240).optional(),
  timeoutSeconds: wholeNumber(10, 900).optional(),
  trigger: z.enum(['direct', 'queue', 'eventbridge'], { error: 'expected "direct", "queue" or "eventbridge"' }).default('direct'),
  fanout: z.enum(['lambda', 'stepfunctions'], { error: 'expected "lambda" or "stepfunctions"' }).default('lambda'),
  reserveConcurrency: flag().optional(),
  maxImageBytes: functionSetting().optional(),
  reviewConfidenceThreshold: zeroToOne('expected a number from 0 to 1, such as 0.8').optional(),
  logLevel: z.enum(['debug', 'info', 'warn', 'error'], { error: 'expected debug, info, warn or error' }).optional(),
  vpcId: z
    .string({ error: 'expected a VPC id such as vpc-0a1b2c3d4e5f67890' })
    .trim()
    .regex(EC2_ID_PATTERNS.vpc, 'expected a VPC id such as vpc-0a1b2c3d4e5f67890')
    .optional(),
  subnetIds: idList('subnet', EC2_ID_PATTERNS.subnet, 'subnet-0a1b2c3d,subnet-4e5f6a7b', LAMBDA_VPC_LIMITS.subnets).optional(),
  securityGroupIds: idList('security group', EC2_ID_PATTERNS.securityGroup, 'sg-0a1b2c3d', LAMBDA_VPC_LIMITS.securityGroups).optional(),
  tracing: flag().optional(),
  debugLogSampleRate: z.preprocess(
    (v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v),
    z
      .number({ error: 'expected a number from 0 to 1, such as 0.1 (debug lines of one invocation in ten)' })
      .min(0, 'expected a number from 0 to 1, such as 0.1 (debug lines of one invocation in ten)')
      .max(1, 'expected a number from 0 to 1, such as 0.1 (debug lines of one invocation in ten)'),
  ).optional(),
  alarmEmail: z
    .string()
    .trim()
    .regex(/^[^@\s]+@[^@\s]+\.[^@\s]+$/, 'expected an e-mail address for the alarm topic, such as ops@example.com')
    .optional(),
  alarmTopicArn: z
    .string()
    .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/, 'expected the ARN of an SNS topic (arn:aws:sns:<region>:<account>:<name>)')
    .optional(),
  backfill: flag().optional(),
  backfillShare: fraction().optional(),
  backfillBatchSize: wholeNumber(1, 1000).optional(),
  backfillToleratedFailurePercent: wholeNumber(0, 100).optional(),
  backfillInventoryBucket: z
    .string()
    .regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'expected the S3 bucket name your S3 Inventory reports are delivered to')
    .optional(),
  backfillInventoryPrefix: z
    .string({ error: 'expected the key prefix of the S3 Inventory reports, ending in "/"' })
    .refine((p) => p === '' || p.endsWith('/'), 'expected the key prefix of the S3 Inventory reports, ending in "/"')
    .refine((p) => !/[*?]/.test(p), 'expected a prefix without "*" or "?" (IAM reads them as wildcards)')
    .optional(),
  contentCache: flag().optional(),
  contentCachePrefix: z
    .string({ error: 'expected a key prefix ending in "/", such as "fieldlens-cache/"' })
    .refine((p) => p.endsWith('/') && !/[*?]/.test(p), 'expected a key prefix ending in "/" without "*" or "?", such as "fieldlens-cache/"')
    .optional(),
  contentCacheDays: wholeNumber(1, 3650).optional(),
  fleetGate: flag().optional(),
  // FLEET_GATE_POLL_MS: its range (5-5000) is the function's.
  fleetGatePollMs: functionSetting().optional(),
  modelPriceInputPerMTok: pricePerMillion().optional(),
  modelPriceCachedInputPerMTok: pricePerMillion().optional(),
  modelPriceOutputPerMTok: pricePerMillion().optional(),
  modelPriceCurrency: z.string().regex(/^[A-Za-z]{1,10}$/, 'expected a currency label such as USD').optional(),
});

/** The context keys fieldlens reads. */
export const CONTEXT_KEYS = Object.freeze(Object.keys(contextSchema.shape)) as readonly (keyof typeof contextSchema.shape)[];

type ContextKey = (typeof CONTEXT_KEYS)[number];

/**
 * The keys each provider requires, and those only it reads: a key of the
 * other provider is refused rather than ignored, as the functions refuse
 * their variables (MODEL_BASE_URL with Bedrock, MODEL_ID without).
 */
const PROVIDER_KEYS = Object.freeze({
  openai: {
    required: { modelBaseUrl: httpUrl, modelName: 'expected the model name sent in each request' },
    only: ['modelBaseUrl', 'modelName', 'modelApiKeySecretArn', 'modelResponseFormat', 'modelLogprobs'],
    why: 'an OpenAI-compatible endpoint',
  },
  bedrock: {
    required: { modelId: `${modelIdMessage}, with modelProvider=bedrock` },
    only: [
      'modelId', 'modelRegion', 'modelStructuredOutput', 'modelPromptCache',
      'bedrockRequestsPerMinute', 'bedrockTokensPerMinute', 'bedrockTokensPerRequest', 'bedrockSecondsPerRequest',
    ],
    why: 'Amazon Bedrock',
  },
} satisfies Record<(typeof MODEL_PROVIDERS)[number], { required: Partial<Record<ContextKey, string>>; only: ContextKey[]; why: string }>);

type ParsedContext = z.output<typeof contextSchema>;

/** Parsed, typed context: an OpenAI-compatible endpoint's keys, or Amazon Bedrock's. */
export type FieldlensContext = Omit<ParsedContext, 'modelProvider' | 'modelMaxConcurrency'> &
  (
    | { readonly modelProvider: 'openai'; readonly modelBaseUrl: string; readonly modelName: string; readonly modelMaxConcurrency: number }
    | { readonly modelProvider: 'bedrock'; readonly modelId: string; readonly modelMaxConcurrency?: number }
  );

/**
 * Validates the context values fieldlens reads.
 *
 * @param raw all context values (`app.node.getAllContext()`); keys fieldlens
 *   does not know are ignored, except near-misses of its own keys.
 * @throws {ContextError} listing every bad key and what it expected.
 * @example
 * ```ts
 * const ctx = parseContext({ modelBaseUrl: 'http://10.0.0.5:8000/v1', modelName: 'qwen' });
 * ```
 */
export function parseContext(raw: Readonly<Record<string, unknown>>): FieldlensContext {
  const lines: string[] = [];
  const known = new Map(CONTEXT_KEYS.map((k) => [k.toLowerCase(), k]));
  for (const key of Object.keys(raw)) {
    const match = known.get(key.toLowerCase());
    if (match && match !== key) lines.push(`context key "${key}": unknown key; did you mean "${match}"?`);
  }
  // `-c key=` yields an empty string: treat it as unset, like a missing key.
  const values = Object.fromEntries(
    CONTEXT_KEYS.filter((k) => raw[k] !== undefined && raw[k] !== '').map((k) => [k, raw[k]]),
  );
  const parsed = contextSchema.safeParse(values);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = String(issue.path[0] ?? 'context');
      const got = values[key] === undefined ? 'it is not set' : `got ${JSON.stringify(values[key])}`;
      lines.push(`context key "${key}": ${issue.message} (${got})`);
    }
  }
  lines.push(...providerProblems(values));
  if (lines.length > 0 || !parsed.success) {
    throw new ContextError(
      `invalid CDK context:\n  ${lines.join('\n  ')}\n` +
        'Set values with -c key=value (e.g. npx cdk deploy -c modelBaseUrl=https://models.example.com/v1 -c modelName=qwen) or under "context" in cdk.json.',
    );
  }
  const data = parsed.data;
  return (data.modelProvider === 'openai' ? { ...data, modelMaxConcurrency: data.modelMaxConcurrency ?? 10 } : data) as FieldlensContext;
}

/**
 * The provider's required keys that are missing, and the other provider's
 * keys that are set; nothing when the provider itself is invalid (the
 * schema names it).
 */
function providerProblems(values: Readonly<Record<string, unknown>>): string[] {
  const provider = values.modelProvider ?? 'openai';
  if (provider !== 'openai' && provider !== 'bedrock') return [];
  const own = PROVIDER_KEYS[provider];
  const other = PROVIDER_KEYS[provider === 'openai' ? 'bedrock' : 'openai'];
  const lines = Object.entries(own.required)
    .filter(([key]) => values[key] === undefined)
    .map(([key, message]) => `context key "${key}": ${message} (it is not set)`);
  for (const key of other.only) {
    if (values[key] === undefined) continue;
    lines.push(
      provider === 'bedrock'
        ? `context key "${key}": only for ${other.why} (modelProvider=openai); Amazon Bedrock has no endpoint URL or API key (the functions' roles sign the calls, the model is modelId): remove it (got ${JSON.stringify(values[key])})`
        : `context key "${key}": only with modelProvider=bedrock; set -c modelProvider=bedrock, or remove it (got ${JSON.stringify(values[key])})`,
    );
  }
  return lines;
}

/**
 * Reads and validates the JSON field set named by `fieldsFile`.
 *
 * @throws {ContextError} naming `fieldsFile` and the problem.
 */
export function loadFieldsFile(path: string, readFile: (path: string) => string): FieldSet {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new ContextError(`context key "fieldsFile": cannot read ${JSON.stringify(path)} (${(err as Error).message})`, {
      cause: err,
    });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ContextError(
      `context key "fieldsFile": ${JSON.stringify(path)} is not JSON (${(err as Error).message}); expected a JSON array of fields`,
      { cause: err },
    );
  }
  try {
    return parseFieldSet(json);
  } catch (err) {
    if (err instanceof FieldSetError) {
      throw new ContextError(`context key "fieldsFile": ${JSON.stringify(path)}: ${err.message}`, { cause: err });
    }
    throw err;
  }
}

/**
 * Turns parsed context into the stack's props.
 *
 * @param readFile reads `fieldsFile` (relative paths resolve against the
 *   directory `cdk` runs in).
 */
export function stackPropsFromContext(
  ctx: FieldlensContext,
  readFile: (path: string) => string,
): FieldlensStackProps {
  const bucketProps =
    ctx.accessLogs !== undefined || ctx.versioned !== undefined
      ? {
          ...(ctx.accessLogs !== undefined ? { serverAccessLogs: ctx.accessLogs } : {}),
          ...(ctx.versioned !== undefined ? { versioned: ctx.versioned } : {}),
        }
      : undefined;
  if (ctx.bucketName && bucketProps) {
    throw new ContextError(
      'context keys "accessLogs" / "versioned" configure a new bucket and cannot be combined with "bucketName" (an existing bucket)',
    );
  }
  if (ctx.fanout === 'stepfunctions' && ctx.trigger === 'queue') {
    throw new ContextError(
      'context key "trigger": the Step Functions fan-out (fanout=stepfunctions) is started by S3 directly; remove trigger=queue (its runs wait in Step Functions)',
    );
  }
  if (ctx.reserveConcurrency !== undefined && ctx.trigger === 'queue') {
    throw new ContextError(
      'context key "reserveConcurrency": only the direct trigger uses reserved concurrency; remove it with trigger=queue',
    );
  }
  // The VPC and its subnets go together: a VPC without subnets places nothing,
  // and subnets (or security groups) without their VPC cannot be imported.
  if (ctx.vpcId !== undefined && ctx.subnetIds === undefined) {
    throw new ContextError(
      'context key "subnetIds": required with "vpcId": the private subnets (with a route to the model endpoint) to place the functions in, such as -c subnetIds=subnet-0a1b2c3d,subnet-4e5f6a7b',
    );
  }
  const priced = [ctx.modelPriceInputPerMTok, ctx.modelPriceCachedInputPerMTok, ctx.modelPriceOutputPerMTok, ctx.modelPriceCurrency].some(
    (v) => v !== undefined,
  );
  if (priced && (ctx.modelPriceInputPerMTok === undefined || ctx.modelPriceOutputPerMTok === undefined)) {
    const missing = ctx.modelPriceInputPerMTok === undefined ? 'modelPriceInputPerMTok' : 'modelPriceOutputPerMTok';
    throw new ContextError(
      `context key "${missing}": required with the other modelPrice* keys: prices per million tokens, such as -c modelPriceInputPerMTok=0.4 -c modelPriceOutputPerMTok=1.6`,
    );
  }
  if (ctx.contentCache === false && (ctx.contentCachePrefix !== undefined || ctx.contentCacheDays !== undefined)) {
    throw new ContextError('context keys "contentCachePrefix" / "contentCacheDays" configure the content cache; remove them with contentCache=false');
  }
  const contentCache =
    ctx.contentCache !== undefined || ctx.contentCachePrefix !== undefined || ctx.contentCacheDays !== undefined
      ? {
          ...(ctx.contentCache !== undefined ? { enabled: ctx.contentCache } : {}),
          ...(ctx.contentCachePrefix !== undefined ? { prefix: ctx.contentCachePrefix } : {}),
          ...(ctx.contentCacheDays !== undefined ? { expiration: Duration.days(ctx.contentCacheDays) } : {}),
        }
      : undefined;
  if (ctx.fleetGatePollMs !== undefined && ctx.fleetGate !== true) {
    throw new ContextError(
      `context keys "fleetGatePollMs" and "fleetGate": the poll interval configures the fleet gate, which is ${ctx.fleetGate === false ? 'off (fleetGate=false)' : 'off unless fleetGate=true'}; set -c fleetGate=true, or remove fleetGatePollMs`,
    );
  }
  for (const key of ['subnetIds', 'securityGroupIds'] as const) {
    if (ctx[key] !== undefined && ctx.vpcId === undefined) {
      throw new ContextError(`context key "${key}": only with "vpcId", the VPC they belong to, such as -c vpcId=vpc-0a1b2c3d4e5f67890`);
    }
  }
  if (ctx.alarmEmail !== undefined && ctx.alarmTopicArn !== undefined) {
    throw new ContextError(
      'context keys "alarmEmail" and "alarmTopicArn": give one, an e-mail address for a new alarm topic or the ARN of an existing topic, not both',
    );
  }
  const backfill = backfillFromContext(ctx);
  return {
    stackName: ctx.stackName,
    model: modelFromContext(ctx, priced),
    ...(ctx.fieldsFile !== undefined ? { fields: loadFieldsFile(ctx.fieldsFile, readFile) } : {}),
    inputPrefix: ctx.inputPrefix,
    outputPrefix: ctx.outputPrefix,
    ...(ctx.bucketName !== undefined ? { existingBucketName: ctx.bucketName } : {}),
    ...(bucketProps ? { bucketProps } : {}),
    trigger: ctx.trigger,
    fanout: ctx.fanout,
    ...(ctx.reserveConcurrency !== undefined ? { reserveConcurrency: ctx.reserveConcurrency } : {}),
    ...(ctx.memorySize !== undefined ? { memorySize: ctx.memorySize } : {}),
    ...(ctx.timeoutSeconds !== undefined ? { timeout: Duration.seconds(ctx.timeoutSeconds) } : {}),
    ...(ctx.maxImageBytes !== undefined ? { maxImageBytes: ctx.maxImageBytes } : {}),
    ...(ctx.reviewConfidenceThreshold !== undefined ? { reviewConfidenceThreshold: ctx.reviewConfidenceThreshold } : {}),
    ...(ctx.logLevel !== undefined ? { logLevel: ctx.logLevel } : {}),
    ...(ctx.vpcId !== undefined ? { vpcId: ctx.vpcId } : {}),
    ...(ctx.subnetIds !== undefined ? { subnetIds: ctx.subnetIds } : {}),
    ...(ctx.securityGroupIds !== undefined ? { securityGroupIds: ctx.securityGroupIds } : {}),
    ...(backfill ? { backfill } : {}),
    ...(contentCache ? { contentCache } : {}),
    ...(ctx.fleetGate === true
      ? { fleetGate: ctx.fleetGatePollMs !== undefined ? { pollInterval: Duration.millis(ctx.fleetGatePollMs) } : {} }
      : {}),
    ...(ctx.tracing !== undefined ? { tracing: ctx.tracing } : {}),
    ...(ctx.debugLogSampleRate !== undefined ? { debugLogSampleRate: ctx.debugLogSampleRate } : {}),
    ...(ctx.alarmEmail !== undefined ? { alarms: { email: ctx.alarmEmail } } : {}),
    ...(ctx.alarmTopicArn !== undefined ? { alarms: { existingTopicArn: ctx.alarmTopicArn } } : {}),
  };
}

/**
 * The model's props: the settings both providers read, and an
 * OpenAI-compatible endpoint's URL, name and secret, or Bedrock's model id,
 * region and quota.
 *
 * @throws {ContextError} for half a quota (requests without tokens per
 *   minute, or the other way round) or the per-request figures without it.
 */
function modelFromContext(ctx: FieldlensContext, priced: boolean): FieldlensStackProps['model'] {
  const common = {
    ...(ctx.modelMaxConcurrency !== undefined ? { maxConcurrency: ctx.modelMaxConcurrency } : {}),
    ...(ctx.modelTimeoutMs !== undefined ? { timeout: Duration.millis(ctx.modelTimeoutMs) } : {}),
    ...(ctx.modelMaxRetries !== undefined ? { maxRetries: ctx.modelMaxRetries } : {}),
    ...(ctx.modelMaxTokens !== undefined ? { maxTokens: ctx.modelMaxTokens } : {}),
    ...(priced
      ? {
          prices: {
            inputPerMillion: ctx.modelPriceInputPerMTok!,
            outputPerMillion: ctx.modelPriceOutputPerMTok!,
            ...(ctx.modelPriceCachedInputPerMTok !== undefined ? { cachedInputPerMillion: ctx.modelPriceCachedInputPerMTok } : {}),
            ...(ctx.modelPriceCurrency !== undefined ? { currency: ctx.modelPriceCurrency } : {}),
          },
        }
      : {}),
  };
  if (ctx.modelProvider === 'openai') {
    return {
      baseUrl: ctx.modelBaseUrl,
      name: ctx.modelName,
      ...common,
      ...(ctx.modelApiKeySecretArn !== undefined ? { existingApiKeySecretArn: ctx.modelApiKeySecretArn } : {}),
      ...(ctx.modelResponseFormat !== undefined ? { responseFormat: ctx.modelResponseFormat } : {}),
      ...(ctx.modelLogprobs !== undefined ? { logprobs: ctx.modelLogprobs } : {}),
    };
  }
  const quota = quotaFromContext(ctx);
  return {
    provider: 'bedrock',
    modelId: ctx.modelId,
    ...common,
    ...(ctx.modelRegion !== undefined ? { region: ctx.modelRegion } : {}),
    ...(ctx.modelStructuredOutput !== undefined ? { structuredOutput: ctx.modelStructuredOutput } : {}),
    ...(ctx.modelPromptCache !== undefined ? { promptCache: ctx.modelPromptCache } : {}),
    ...(quota ? { quota } : {}),
  };
}

/** The Bedrock quota from its four keys: the two rates together, the per-request figures only with them. */
function quotaFromContext(ctx: FieldlensContext): BedrockQuota | undefined {
  const { bedrockRequestsPerMinute: rpm, bedrockTokensPerMinute: tpm, bedrockTokensPerRequest: tokens, bedrockSecondsPerRequest: seconds } = ctx;
  if (rpm === undefined && tpm === undefined) {
    const stray = tokens !== undefined ? 'bedrockTokensPerRequest' : seconds !== undefined ? 'bedrockSecondsPerRequest' : undefined;
    if (stray) {
      throw new ContextError(
        `context key "${stray}": refines the Bedrock quota; give it with bedrockRequestsPerMinute and bedrockTokensPerMinute (Service Quotas, "On-demand model inference requests/tokens per minute" for the model)`,
      );
    }
    return undefined;
  }
  if (rpm === undefined || tpm === undefined) {
    const missing = rpm === undefined ? 'bedrockRequestsPerMinute' : 'bedrockTokensPerMinute';
    throw new ContextError(
      `context key "${missing}": required with the other one: the Bedrock quota is both rates, such as -c bedrockRequestsPerMinute=50 -c bedrockTokensPerMinute=200000`,
    );
  }
  return {
    requestsPerMinute: rpm,
    tokensPerMinute: tpm,
    ...(tokens !== undefined ? { tokensPerRequest: tokens } : {}),
    ...(seconds !== undefined ? { secondsPerRequest: seconds } : {}),
  };
}

/**
 * The backfill's props: on with `backfill=true` or any other backfill key
 * (which would mean nothing without it), off with `backfill=false`.
 *
 * @throws {ContextError} for backfill settings given with `backfill=false`,
 *   or an inventory prefix without its bucket.
 */
function backfillFromContext(ctx: FieldlensContext): BackfillContextProps | undefined {
  const settings = (['backfillShare', 'backfillBatchSize', 'backfillToleratedFailurePercent', 'backfillInventoryBucket', 'backfillInventoryPrefix'] as const).filter(
    (k) => ctx[k] !== undefined,
  );
  if (ctx.backfill === false) {
    if (settings.length > 0) {
      throw new ContextError(`context key "${settings[0]}": configures the backfill, which backfill=false turns off; remove one of them`);
    }
    return undefined;
  }
  if (ctx.backfill !== true && settings.length === 0) return undefined;
  if (ctx.backfillInventoryPrefix !== undefined && ctx.backfillInventoryBucket === undefined) {
    throw new ContextError('context key "backfillInventoryPrefix": only with "backfillInventoryBucket", the bucket your S3 Inventory reports are delivered to');
  }
  return {
    ...(ctx.backfillShare !== undefined ? { share: ctx.backfillShare } : {}),
    ...(ctx.backfillBatchSize !== undefined ? { batchSize: ctx.backfillBatchSize } : {}),
    ...(ctx.backfillToleratedFailurePercent !== undefined ? { toleratedFailurePercentage: ctx.backfillToleratedFailurePercent } : {}),
    ...(ctx.backfillInventoryBucket !== undefined
      ? { inventory: { bucketName: ctx.backfillInventoryBucket, prefix: ctx.backfillInventoryPrefix ?? '' } }
      : {}),
  };
}

/** The backfill as context describes it. */
type BackfillContextProps = NonNullable<FieldlensStackProps['backfill']>;
