/**
 * A Step Functions rig for integration tests: the direct-mode rig (s3rver
 * and the OpenAI test server on loopback) plus the state machine a
 * `FieldlensStack` with `fanout: 'stepfunctions'` synthesizes, run by
 * aws-local-stepfunctions with its tasks bound to the real handlers, and
 * the real starter against a Step Functions test server.
 */
import { Pool } from 'undici';
import { createSfnClient } from '../../functions/adapters/sfn-starter';
import { createModelClient } from '../../functions/model-client';
import { loadModelRuntime, loadRuntime, loadStarterRuntime, once, type RuntimeParts } from '../../functions/runtime';
import { createSfnStartHandler, type SfnStartHandler } from '../../functions/sfn-start';
import { createSfnExtractFieldHandler } from '../../functions/sfn-extract-field';
import { createSfnMergeHandler } from '../../functions/sfn-merge';
import { createSfnPrepareHandler } from '../../functions/sfn-prepare';
import { createSfnRecordFailureHandler } from '../../functions/sfn-record-failure';
import type { StepFunctionsPipeline } from '../../infra/constructs/stepfunctions-pipeline';
import type { FieldlensStackProps } from '../../infra/fieldlens-stack';
import { newStack } from '../infra/support';
import { lambdaContext, startRig, type Rig } from './harness';
import { functionLogicalId, runLocally, synthesizedStateMachine, type LocalRun, type SynthesizedStateMachine, type TaskHandler } from './local-state-machine';
import type { TestServerOptions } from './openai-test-server';
import type { SfnTestServer } from './sfn-test-server';

/** The state machine the starter tests start. */
export const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:fieldlens-runs';

/** The four task handlers, as plain functions of their input. */
export interface TaskHandlers {
  prepare: TaskHandler;
  extractField: TaskHandler;
  merge: TaskHandler;
  recordFailure: TaskHandler;
}

export interface SfnRig extends Rig {
  /** The real handlers over a runtime with this extra environment (FIELDS, OUTPUT_PREFIX, …). */
  handlersWith(env?: Record<string, string>, parts?: Pick<RuntimeParts, 'dynamoDbClient'>): TaskHandlers;
  /** Synthesizes a Step Functions stack with these props (cached per props). */
  machine(props?: Partial<FieldlensStackProps>): SynthesizedStateMachine & { pipeline: StepFunctionsPipeline };
  /**
   * The real starter over the real runtime (s3rver for the result check,
   * the real SFNClient against `sfn`), with the task handlers' environment
   * plus `env`, so both compute the same fingerprint.
   */
  starterWith(sfn: SfnTestServer, env?: Record<string, string>): SfnStartHandler;
  /** Runs one execution of the stack's state machine with these handlers (default: `handlersWith()`). */
  run(input: unknown, options?: { props?: Partial<FieldlensStackProps>; handlers?: Partial<TaskHandlers>; env?: Record<string, string> }): Promise<LocalRun>;
}

export async function startSfnRig(options: { model?: TestServerOptions; buckets?: string[] } = {}): Promise<SfnRig> {
  const rig = await startRig(options);
  const pools: Pool[] = [];
  const machines = new Map<string, SynthesizedStateMachine & { pipeline: StepFunctionsPipeline }>();

  // The content cache is on only where asked, as in the direct mode's harness:
  // the tests upload the same few images under many keys.
  const baseEnv = { MODEL_NAME: 'test-model', DEADLINE_MARGIN_MS: '500', LOG_LEVEL: 'debug', CONTENT_CACHE: 'off' };
  const parts: RuntimeParts = { s3Client: rig.client, logWrite: (l) => void rig.logLines.push(l) };
  const handlersWith = (extra: Record<string, string> = {}, extraParts: Pick<RuntimeParts, 'dynamoDbClient'> = {}): TaskHandlers => {
    const env = {
      ...baseEnv,
      MODEL_BASE_URL: rig.model.baseUrl,
      // As the stack sets it for ExtractField: one request per invocation.
      MODEL_MAX_CONCURRENCY: '1',
      ...extra,
    };
    // The tasks that ask no model get the runtime Lambda gives them: no model client.
    const get = once(() => loadRuntime(env, parts));
    const getWithModel = once(() =>
      loadModelRuntime(
        env,
        (config) => {
          const pool = new Pool(new URL(config.model.baseUrl).origin, { connections: 4 });
          pools.push(pool);
          return createModelClient(config, { dispatcher: pool });
        },
        { ...parts, ...extraParts },
      ),
    );
    const prepare = createSfnPrepareHandler(get);
    const extractField = createSfnExtractFieldHandler(getWithModel);
    const merge = createSfnMergeHandler(get);
    const recordFailure = createSfnRecordFailureHandler(get);
    return {
      prepare: (input) => prepare(input, lambdaContext()),
      extractField: (input) => extractField(input, lambdaContext(30_000)),
      merge: (input) => merge(input, lambdaContext()),
      recordFailure: (input) => recordFailure(input, lambdaContext()),
    };
  };

  const machine = (props: Partial<FieldlensStackProps> = {}) => {
    const key = JSON.stringify(props);
    let m = machines.get(key);
    if (!m) {
      const { stack } = newStack({ ...props, fanout: 'stepfunctions' });
      m = { ...synthesizedStateMachine(stack), pipeline: stack.pipeline as StepFunctionsPipeline };
      machines.set(key, m);
    }
    return m;
  };

  const starterWith = (sfn: SfnTestServer, extra: Record<string, string> = {}): SfnStartHandler => {
    const sfnClient = createSfnClient({
      endpoint: sfn.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    // As the stack sets it for the starter: the pipeline's variables, no endpoint.
    return createSfnStartHandler(
      once(async () => loadStarterRuntime({ ...baseEnv, STATE_MACHINE_ARN, ...extra }, { ...parts, sfnClient: await sfnClient })),
    );
  };

  return {
    ...rig,
    handlersWith,
    starterWith,
    machine,
    async run(input, runOptions = {}) {
      const m = machine(runOptions.props);
      const h = { ...handlersWith(runOptions.env), ...runOptions.handlers };
      const f = m.pipeline.functions;
      return runLocally(m, input, {
        [functionLogicalId(f.prepare.function)]: h.prepare,
        [functionLogicalId(f.extractField.function)]: h.extractField,
        [functionLogicalId(f.merge.function)]: h.merge,
        [functionLogicalId(f.recordFailure.function)]: h.recordFailure,
      });
    },
    async close() {
      await Promise.all(pools.map((p) => p.destroy()));
      await rig.close();
    },
  };
}
