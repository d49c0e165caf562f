/**
 * The Lambda functions of the Step Functions mode: the four behind the task
 * states and the starter S3 invokes, each with its environment, its network
 * and only the grants its step uses. Only ExtractField asks the model; the
 * others get the pipeline's variables (what the configuration fingerprint
 * covers, prefixes, buckets) but none of the endpoint's.
 */
import { fileURLToPath } from 'node:url';
import { Duration } from 'aws-cdk-lib';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { grantModelAccess, grantObjectAccessFor, type ObjectAccess } from './access-grants';
import { grantContentCacheAccess, resolveContentCache } from './content-cache';
import { functionEnvironment, starterEnvironment, withoutEndpoint } from './function-environment';
import { FieldlensFunction } from './lambda-defaults';
import { functionTelemetry, PIPELINE_DEFAULTS, type PipelineProps } from './pipeline-props';

const entry = (file: string): string => fileURLToPath(new URL(`../../functions/${file}`, import.meta.url));

/** The handlers of the Step Functions mode. */
export const SFN_ENTRIES = Object.freeze({
  start: entry('sfn-start.ts'),
  prepare: entry('sfn-prepare.ts'),
  extractField: entry('sfn-extract-field.ts'),
  merge: entry('sfn-merge.ts'),
  recordFailure: entry('sfn-record-failure.ts'),
});

/** The functions behind the task states. */
export interface StepFunctionsTaskFunctions {
  readonly prepare: FieldlensFunction;
  readonly extractField: FieldlensFunction;
  readonly merge: FieldlensFunction;
  readonly recordFailure: FieldlensFunction;
}

/** Settings of {@link stepFunctionsTaskFunctions} beyond the pipeline's props. */
export interface TaskFunctionOptions {
  /**
   * Reserved concurrency of ExtractField: with one model request per
   * invocation, the requests of all runs together.
   * @default - no reservation
   */
  readonly extractFieldConcurrency?: number;
}

/** One task function's own settings; the rest comes from the pipeline's props. */
interface TaskFunctionSettings {
  readonly description: string;
  readonly memorySize?: number;
  readonly timeout?: Duration;
  readonly reservedConcurrentExecutions?: number;
  readonly asksModel?: boolean;
}

/**
 * Prepare, ExtractField, Merge and RecordFailure, created in `scope`. Only
 * ExtractField asks the model: it alone gets the key's secret (or the
 * Bedrock model), the fleet gate, the pipeline's memory and timeout, and
 * the VPC placement.
 */
export function stepFunctionsTaskFunctions(
  scope: Construct,
  props: PipelineProps,
  options: TaskFunctionOptions = {},
): StepFunctionsTaskFunctions {
  // One model request per ExtractField invocation; the pool needs one connection.
  const environment = functionEnvironment(props, 1);
  const pipelineOnly = withoutEndpoint(environment);
  const stepTimeout = Duration.seconds(60);
  const fn = (name: string, file: string, access: ObjectAccess, settings: TaskFunctionSettings): FieldlensFunction => {
    const f = new FieldlensFunction(scope, name, {
      entry: file,
      memorySize: settings.memorySize ?? 256,
      timeout: settings.timeout ?? stepTimeout,
      logRetention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
      // Only ExtractField asks the model; the others never see the endpoint or the key's ARN.
      environment: settings.asksModel ? environment : pipelineOnly,
      telemetry: functionTelemetry(props),
      // Only ExtractField needs the endpoint's network. The others talk to S3
      // alone, so they stay outside the VPC: no network interfaces, no
      // subnet addresses, and no dependence on the VPC's way to S3.
      ...(settings.asksModel && props.vpcConfig ? { vpcConfig: props.vpcConfig } : {}),
      description: settings.description,
      ...(settings.reservedConcurrentExecutions !== undefined
        ? { reservedConcurrentExecutions: settings.reservedConcurrentExecutions }
        : {}),
    });
    grantObjectAccessFor(f.role, props, access);
    if (settings.asksModel) {
      grantModelAccess(f.role, props.model);
      props.fleetGate?.grantAccess(f.role);
    }
    return f;
  };

  const prepare = fn('Prepare', SFN_ENTRIES.prepare, { readImages: true, readResults: true, writeResults: true }, {
    description: 'fieldlens Step Functions Prepare: guard, idempotency check, resumption, rejected documents, references for the fan-out',
  });
  const extractField = fn('ExtractField', SFN_ENTRIES.extractField, { readImages: true, writeFieldParts: true }, {
    description: "fieldlens Step Functions ExtractField: one field of one image, its outcome written under the parts prefix",
    memorySize: props.memorySize ?? PIPELINE_DEFAULTS.memorySize,
    timeout: props.timeout ?? PIPELINE_DEFAULTS.timeout,
    asksModel: true,
    ...(options.extractFieldConcurrency !== undefined ? { reservedConcurrentExecutions: options.extractFieldConcurrency } : {}),
  });
  // Merge and RecordFailure HEAD the image before writing (a replaced image
  // gets no document), read the stored result (kept fields, and what won a
  // lost race), write it, and clean up the run's parts.
  const merge = fn('Merge', SFN_ENTRIES.merge, { readImages: true, readResults: true, writeResults: true, deleteFieldParts: true }, {
    description: 'fieldlens Step Functions Merge: the fields into one result document',
  });
  const recordFailure = fn(
    'RecordFailure',
    SFN_ENTRIES.recordFailure,
    { readImages: true, readResults: true, writeResults: true, writeFieldParts: true, deleteFieldParts: true },
    { description: "fieldlens Step Functions RecordFailure: the failed document when a task broke, or a field's outcome when its task broke" },
  );
  // Prepare looks the image up in the content cache, Merge stores its answers
  // there (a prefix under the output prefix is covered by the grants above).
  const cache = resolveContentCache(props);
  for (const f of [prepare, merge]) grantContentCacheAccess(f.role, props.outputBucket, props.outputPrefix, cache);
  return { prepare, extractField, merge, recordFailure };
}

/**
 * The starter, created in `scope` as `Start`: S3 invokes it asynchronously;
 * it HEADs the result and starts one run per piece of work, named after
 * bucket, key, ETag, configuration fingerprint and the result's generation.
 * An event it could not start a run for after Lambda's retries goes to
 * `deadLetterQueue`.
 */
export function stepFunctionsStarter(
  scope: Construct,
  props: PipelineProps,
  stateMachine: sfn.IStateMachine,
  deadLetterQueue: sqs.IQueue,
): FieldlensFunction {
  const start = new FieldlensFunction(scope, 'Start', {
    entry: SFN_ENTRIES.start,
    memorySize: 256,
    timeout: Duration.seconds(30),
    logRetention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
    description: 'fieldlens Step Functions starter: one run per object version, configuration and result generation',
    // The pipeline's variables (for the fingerprint and the result key), not the endpoint's.
    environment: starterEnvironment(functionEnvironment(props, 1), stateMachine.stateMachineArn),
    telemetry: functionTelemetry(props),
    // S3 events wait (throttling, retries) up to Lambda's maximum before they count as failed.
    maxEventAge: Duration.hours(6),
    retryAttempts: 2,
    onFailure: new SqsDestination(deadLetterQueue),
  });
  stateMachine.grantStartExecution(start.role);
  // The result check: a HEAD on the result key, nothing else under the prefixes.
  grantObjectAccessFor(start.role, props, { readResults: true });
  return start;
}
