/**
 * The `on-upload` handler as a function: fieldlens's function defaults, the
 * environment contract, and exactly the access the handler needs.
 */
import { fileURLToPath } from 'node:url';
import type { Construct } from 'constructs';
import { grantModelAccess, grantObjectAccess } from './access-grants';
import { grantContentCacheAccess, resolveContentCache } from './content-cache';
import { functionEnvironment } from './function-environment';
import { FieldlensFunction, type FieldlensFunctionProps } from './lambda-defaults';
import { functionTelemetry, PIPELINE_DEFAULTS, type PipelineProps } from './pipeline-props';
import { validatePipelineProps } from './pipeline-validation';

/** The handler shipped with fieldlens. */
export const ON_UPLOAD_ENTRY = fileURLToPath(new URL('../../functions/on-upload.ts', import.meta.url));

/** Props of {@link OnUploadFunction}. */
export interface OnUploadFunctionProps extends PipelineProps {
  /** Requests one invocation keeps in flight (`MODEL_MAX_CONCURRENCY`), from the endpoint budget. */
  readonly perImageConcurrency: number;
  /**
   * Function settings a pipeline adds: reserved concurrency, asynchronous
   * invocation settings, a description.
   * @default - none
   */
  readonly functionOptions?: Pick<
    FieldlensFunctionProps,
    'reservedConcurrentExecutions' | 'maxEventAge' | 'retryAttempts' | 'onFailure' | 'description'
  >;
}

/**
 * The `on-upload` function with its environment, its log group and a role
 * that may read images under the input prefix, read and write results under
 * the output prefix, read the API key secret (or invoke the one Bedrock
 * model), take part in the fleet gate when there is one, and write its own
 * logs.
 */
export class OnUploadFunction extends FieldlensFunction {
  constructor(scope: Construct, id: string, props: OnUploadFunctionProps) {
    validatePipelineProps(props);
    super(scope, id, {
      entry: props.handlerEntry ?? ON_UPLOAD_ENTRY,
      memorySize: props.memorySize ?? PIPELINE_DEFAULTS.memorySize,
      timeout: props.timeout ?? PIPELINE_DEFAULTS.timeout,
      logRetention: props.logRetention ?? PIPELINE_DEFAULTS.logRetention,
      environment: functionEnvironment(props, props.perImageConcurrency),
      telemetry: functionTelemetry(props),
      description: 'fieldlens: turns each image under the input prefix into a JSON result document',
      // It asks the model, so it goes wherever the endpoint is reachable from.
      ...(props.vpcConfig ? { vpcConfig: props.vpcConfig } : {}),
      ...props.functionOptions,
    });
    grantObjectAccess(this.role, props);
    grantContentCacheAccess(this.role, props.outputBucket, props.outputPrefix, resolveContentCache(props));
    grantModelAccess(this.role, props.model);
    props.fleetGate?.grantAccess(this.role);
  }
}
