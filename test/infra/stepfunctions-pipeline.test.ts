import { App, Duration } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_FIELDS, type FieldSet } from '../../functions/core/fields';

/** The first `n` label fields, without the checks that read fields a subset may leave out. */
const labelFieldsWithoutChecks = (n: number): FieldSet => DEFAULT_LABEL_FIELDS.slice(0, n).map(({ checks: _checks, ...field }) => field);
import { LAMBDA_SERVICE_ERRORS, LAMBDA_THROTTLED, RUN_RETRYABLE_ERROR, SFN_STATES } from '../../infra/constructs/stepfunctions-definition';
import { ENDPOINT_VARIABLES } from '../../infra/constructs/function-environment';
import type { StepFunctionsPipeline } from '../../infra/constructs/stepfunctions-pipeline';
import { FieldlensStack, type FieldlensStackProps } from '../../infra/fieldlens-stack';
import { functionLogicalId, synthesizedStateMachine } from '../support/local-state-machine';
import { buildStack, CDK_JSON_CONTEXT, logicalId, MODEL } from './support';

type State = Record<string, any>;

const built = new Map<string, ReturnType<typeof synthesize>>();

/**
 * The Step Functions stack, its template, and its state machine's states by
 * name (Map iterations included); synthesized once per set of props, since
 * no test changes a stack.
 */
function sfnStack(props: Partial<FieldlensStackProps> = {}) {
  const key = JSON.stringify(props);
  if (!built.has(key)) built.set(key, synthesize(props));
  return built.get(key)!;
}

function synthesize(props: Partial<FieldlensStackProps>) {
  const result = buildStack({ ...props, fanout: 'stepfunctions' });
  const pipeline = result.stack.pipeline as StepFunctionsPipeline;
  const machine = synthesizedStateMachine(result.stack);
  const states: Record<string, State> = {};
  const collect = (s: Record<string, State>) => {
    for (const [name, state] of Object.entries(s)) {
      states[name] = state;
      if (state.ItemProcessor) collect(state.ItemProcessor.States);
    }
  };
  collect((machine.definition as { States: Record<string, State> }).States);
  return { ...result, pipeline, machine, states, definition: machine.definition as State };
}

function functionProps(template: Template, hint: string): Record<string, any> {
  return template.findResources('AWS::Lambda::Function')[logicalId(template, 'AWS::Lambda::Function', hint)]!.Properties;
}

describe('StepFunctionsPipeline: the trigger', () => {
  it('sends object-created events under the input prefix to the starter, and only those', () => {
    // Act
    const { template } = sfnStack({ inputPrefix: 'uploads/' });

    // Assess
    const starter = logicalId(template, 'AWS::Lambda::Function', 'PipelineStartFunction');
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      NotificationConfiguration: {
        LambdaFunctionConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'uploads/' }] } },
            LambdaFunctionArn: { 'Fn::GetAtt': [starter, 'Arn'] },
          },
        ],
      },
    });
    template.hasResourceProperties('AWS::Lambda::Permission', {
      Action: 'lambda:InvokeFunction',
      Principal: 's3.amazonaws.com',
      FunctionName: { 'Fn::GetAtt': [starter, 'Arn'] },
    });
  });

  it('tells the starter which state machine to start, which prefixes are its own and what the fingerprint covers, not the endpoint', () => {
    const fields = labelFieldsWithoutChecks(2);
    const { template } = sfnStack({ inputPrefix: 'uploads/', outputPrefix: 'out/', fields });

    const machine = logicalId(template, 'AWS::StepFunctions::StateMachine', 'StateMachine');
    const env = functionProps(template, 'PipelineStartFunction').Environment.Variables;
    expect(env).toMatchObject({
      STATE_MACHINE_ARN: { Ref: machine },
      INPUT_PREFIX: 'uploads/',
      OUTPUT_PREFIX: 'out/',
      MODEL_NAME: MODEL.name,
      MODEL_RESPONSE_FORMAT: 'json_schema',
    });
    // Results go to the source bucket: OUTPUT_BUCKET unset says so (and lets the starter refuse overlapping prefixes).
    expect(env.OUTPUT_BUCKET).toBeUndefined();
    expect(JSON.parse(env.FIELDS)).toEqual(fields);
    for (const name of ENDPOINT_VARIABLES) expect(env[name], name).toBeUndefined();
  });

  it('retries a failed start, keeps S3 events up to 6 hours, then sends them to the dead-letter queue', () => {
    const { template } = sfnStack();

    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
      FunctionName: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineStartFunction') },
      MaximumEventAgeInSeconds: 6 * 3600,
      MaximumRetryAttempts: 2,
      DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [dlq, 'Arn'] } } },
    });
  });

  it('sends runs that failed, timed out or were aborted to the dead-letter queue, which alarms', () => {
    const { template } = sfnStack();

    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    const machine = logicalId(template, 'AWS::StepFunctions::StateMachine', 'StateMachine');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.states'],
        'detail-type': ['Step Functions Execution Status Change'],
        detail: { status: ['FAILED', 'TIMED_OUT', 'ABORTED'], stateMachineArn: [{ Ref: machine }] },
      },
      Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } })],
    });
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
      Threshold: 0,
    });
  });
});

describe('StepFunctionsPipeline: the state machine', () => {
  it('is a standard state machine (names are unique for 90 days) with X-Ray and every state event logged, without state data', () => {
    const { template } = sfnStack();

    const logGroup = logicalId(template, 'AWS::Logs::LogGroup', 'PipelineRunLogs');
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', {
      StateMachineType: 'STANDARD',
      TracingConfiguration: { Enabled: true },
      LoggingConfiguration: {
        Level: 'ALL',
        IncludeExecutionData: false,
        Destinations: [{ CloudWatchLogsLogGroup: { LogGroupArn: { 'Fn::GetAtt': [logGroup, 'Arn'] } } }],
      },
    });
    template.hasResourceProperties('AWS::Logs::LogGroup', {
      LogGroupName: '/aws/vendedlogs/states/Fieldlens-fieldlens-runs',
      RetentionInDays: 30,
    });
  });

  it('uses the JSONPath query language throughout (no JSONata), so it runs locally', () => {
    const { definition } = sfnStack();

    const text = JSON.stringify(definition);
    expect(text).not.toContain('JSONata');
    expect(text).not.toContain('{%');
    expect(definition.QueryLanguage ?? 'JSONPath').toBe('JSONPath');
  });

  it('goes Prepare → IsAdmitted → ExtractFields (Map) → Merge → IsRetryableFailure, or to Done when nothing is left', () => {
    const { definition, states } = sfnStack();

    expect(definition.StartAt).toBe(SFN_STATES.prepare);
    expect(states.Prepare).toMatchObject({ Type: 'Task', ResultPath: '$.prepared', Next: SFN_STATES.isAdmitted });
    expect(states.IsAdmitted).toEqual({
      Type: 'Choice',
      Choices: [{ Variable: '$.prepared.action', StringEquals: 'extract', Next: SFN_STATES.extractFields }],
      Default: SFN_STATES.done,
    });
    expect(states.ExtractFields).toMatchObject({ Type: 'Map', Next: SFN_STATES.merge, ResultPath: '$.outcomes' });
    expect(states.Merge).toMatchObject({
      Type: 'Task',
      Next: SFN_STATES.isRetryableFailure,
      Parameters: {
        'source.$': '$.prepared.source',
        'resultRef.$': '$.prepared.resultRef',
        'resultEtag.$': '$.prepared.resultEtag',
        'startedAt.$': '$.prepared.startedAt',
        'runs.$': '$.prepared.runs',
        'kept.$': '$.prepared.kept',
        'outcomes.$': '$.outcomes',
      },
    });
    expect(states.Done).toMatchObject({ Type: 'Succeed', OutputPath: '$.prepared' });
  });

  it('fails the run (RESULT_RETRYABLE) after a failed, retryable document, and succeeds otherwise', () => {
    const { states } = sfnStack();

    expect(states.IsRetryableFailure).toEqual({
      Type: 'Choice',
      Choices: [
        {
          And: [
            { Variable: '$.retryable', IsPresent: true },
            { Variable: '$.status', StringEquals: 'failed' },
            { Variable: '$.retryable', BooleanEquals: true },
          ],
          Next: SFN_STATES.retryLater,
        },
      ],
      Default: SFN_STATES.finished,
    });
    expect(states.RetryLater).toMatchObject({ Type: 'Fail', Error: RUN_RETRYABLE_ERROR });
    expect(RUN_RETRYABLE_ERROR).toBe('RESULT_RETRYABLE');
    expect(states.Finished).toMatchObject({ Type: 'Succeed' });
  });

  it('invokes each function by its ARN and returns its payload as is', () => {
    const { machine, pipeline } = sfnStack();

    const f = pipeline.functions;
    expect(machine.taskFunctions).toEqual({
      [SFN_STATES.prepare]: functionLogicalId(f.prepare.function),
      [SFN_STATES.extractField]: functionLogicalId(f.extractField.function),
      [SFN_STATES.recordFieldFailure]: functionLogicalId(f.recordFailure.function),
      [SFN_STATES.merge]: functionLogicalId(f.merge.function),
      [SFN_STATES.recordFailure]: functionLogicalId(f.recordFailure.function),
    });
  });

  it('maps over the fields to ask, handing each iteration references only (the field, the source, the run number)', () => {
    const { states } = sfnStack();

    expect(states.ExtractFields).toMatchObject({
      ItemsPath: '$.prepared.fields',
      ItemSelector: { 'field.$': '$$.Map.Item.Value', 'source.$': '$.prepared.source', 'runs.$': '$.prepared.runs' },
      ItemProcessor: { StartAt: SFN_STATES.extractField },
    });
  });

  it('gives every task a time limit above its function\'s timeout', () => {
    const { states, template } = sfnStack({ timeout: Duration.minutes(2) });

    expect(states.ExtractField!.TimeoutSeconds).toBeGreaterThan(functionProps(template, 'PipelineExtractFieldFunction').Timeout);
    for (const name of [SFN_STATES.prepare, SFN_STATES.merge, SFN_STATES.recordFailure]) {
      expect(states[name]!.TimeoutSeconds, name).toBeGreaterThan(functionProps(template, `Pipeline${name}Function`).Timeout);
    }
  });
});

describe('StepFunctionsPipeline: the endpoint budget', () => {
  it.each([
    [10, DEFAULT_LABEL_FIELDS.length, 5, 10],
    [2, DEFAULT_LABEL_FIELDS.length, 2, 2],
    [10, 3, 3, 9],
    [1, 3, 1, 1],
  ])(
    'capacity %i and %i fields: Map MaxConcurrency %i, ExtractField reserved concurrency %i',
    (capacity, fieldCount, maxConcurrency, reserved) => {
      // Act
      const { states, template, pipeline } = sfnStack({
        model: { ...MODEL, maxConcurrency: capacity },
        fields: labelFieldsWithoutChecks(fieldCount),
      });

      // Assess
      expect(states.ExtractFields!.MaxConcurrency).toBe(maxConcurrency);
      const extract = functionProps(template, 'PipelineExtractFieldFunction');
      expect(extract.ReservedConcurrentExecutions).toBe(reserved);
      expect(reserved).toBeLessThanOrEqual(capacity);
      expect(pipeline.budget.maxInFlight).toBe(reserved);
      // One request per invocation: the reservation is the requests in flight.
      expect(extract.Environment.Variables.MODEL_MAX_CONCURRENCY).toBe('1');
    },
  );

  it('reserves concurrency on ExtractField only', () => {
    const { template } = sfnStack();

    const reserved = Object.entries(template.findResources('AWS::Lambda::Function'))
      .filter(([, r]) => r.Properties.ReservedConcurrentExecutions !== undefined)
      .map(([id]) => id);
    expect(reserved).toEqual([logicalId(template, 'AWS::Lambda::Function', 'PipelineExtractFieldFunction')]);
  });

  it('drops the reservation when switched off, keeps the Map\'s cap, and warns', () => {
    const { template, states, stack } = sfnStack({ reserveConcurrency: false });

    expect(functionProps(template, 'PipelineExtractFieldFunction').ReservedConcurrentExecutions).toBeUndefined();
    expect(states.ExtractFields!.MaxConcurrency).toBe(5);
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('nothing limits how many runs ask the model at once'));
  });

  it('states the budget in an output', () => {
    const { template } = sfnStack();

    template.hasOutput('EndpointBudget', { Value: '5 requests per image x 2 images at once = 10 in flight at most' });
  });

  it('caps the per-image figure at the 40 iterations an inline Map runs, in the Map, the reservation and the output, and warns', () => {
    // Prepare: 50 fields against an endpoint that could take 100 at once
    const fields: FieldSet = Array.from({ length: 50 }, (_, i) => ({ name: `f${i}`, type: 'string', prompt: `Question ${i}?` }));

    // Act
    const { states, template, stack, pipeline } = sfnStack({ model: { ...MODEL, maxConcurrency: 100 }, fields });

    // Assess: 40 per image leaves room for 2 images (80 of the 100)
    expect(states.ExtractFields!.MaxConcurrency).toBe(40);
    expect(pipeline.budget).toEqual({ perImage: 40, concurrentImages: 2, maxInFlight: 80, roundsPerImage: 2 });
    expect(functionProps(template, 'PipelineExtractFieldFunction').ReservedConcurrentExecutions).toBe(80);
    template.hasOutput('EndpointBudget', { Value: '40 requests per image x 2 images at once = 80 in flight at most' });
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('an inline Map runs at most 40 iterations at once'));
  });
});

describe('StepFunctionsPipeline: Retry and Catch', () => {
  const tasks = [SFN_STATES.prepare, SFN_STATES.extractField, SFN_STATES.recordFieldFailure, SFN_STATES.merge, SFN_STATES.recordFailure];

  it.each(tasks)('%s retries Lambda service errors and throttling with backoff and full jitter, and nothing else', (name) => {
    const { states } = sfnStack();

    const retry = states[name]!.Retry as State[];
    expect(retry).toEqual([
      { ErrorEquals: [LAMBDA_THROTTLED], IntervalSeconds: 1, BackoffRate: 2, MaxDelaySeconds: 60, MaxAttempts: 200, JitterStrategy: 'FULL' },
      { ErrorEquals: [...LAMBDA_SERVICE_ERRORS], IntervalSeconds: 2, BackoffRate: 2, MaxDelaySeconds: 30, MaxAttempts: 6, JitterStrategy: 'FULL' },
    ]);
    expect(retry[1]!.ErrorEquals).toContain('Lambda.ClientExecutionTimeoutException');
    // Model retries stay in the client: a failure of the function's own code is never retried here.
    expect(JSON.stringify(retry)).not.toMatch(/States\.(ALL|TaskFailed)/);
  });

  it.each([SFN_STATES.prepare, SFN_STATES.extractFields, SFN_STATES.merge])(
    '%s catches every error into RecordFailure, keeping the state under $.failure',
    (name) => {
      const { states } = sfnStack();

      expect(states[name]!.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.failure', Next: SFN_STATES.recordFailure }]);
    },
  );

  it("catches a broken field task into RecordFieldFailure, which writes the failure as the field's outcome", () => {
    const { states } = sfnStack();

    expect(states.ExtractField!.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.taskError', Next: SFN_STATES.recordFieldFailure }]);
    expect(states.RecordFieldFailure).toMatchObject({
      Type: 'Task',
      End: true,
      Parameters: { fieldFailure: { 'field.$': '$.field', 'source.$': '$.source', 'runs.$': '$.runs', 'taskError.$': '$.taskError' } },
    });
  });

  it("keeps only the error's name when even the failure cannot be written, so the Map's result stays bounded", () => {
    const { states } = sfnStack();

    expect(states.RecordFieldFailure!.Catch).toEqual([{ ErrorEquals: ['States.ALL'], ResultPath: '$.recordError', Next: SFN_STATES.fieldTaskFailed }]);
    expect(states.FieldTaskFailed).toMatchObject({ Type: 'Pass', End: true, Parameters: { 'name.$': '$.field', taskError: { 'Error.$': '$.taskError.Error' } } });
    expect(JSON.stringify(states.FieldTaskFailed)).not.toContain('Cause');
  });

  it('hands RecordFailure the whole state and the execution start, then the same Choice as Merge', () => {
    const { states } = sfnStack();

    expect(states.RecordFailure).toMatchObject({
      Next: SFN_STATES.isRetryableFailure,
      Parameters: { 'run.$': '$', 'executionStartedAt.$': '$$.Execution.StartTime' },
    });
    expect(states.RecordFailure!.Catch).toBeUndefined();
  });

  it('has a Catch on every task but the one every Catch leads to', () => {
    const { states } = sfnStack();

    const uncaught = Object.entries(states)
      .filter(([, s]) => s.Type === 'Task' || s.Type === 'Map')
      .filter(([, s]) => !s.Catch)
      .map(([name]) => name);
    expect(uncaught).toEqual([SFN_STATES.recordFailure]);
  });
});

describe('StepFunctionsPipeline: the functions', () => {
  it('run the Step Functions handlers on Node.js 22, arm64, each with its own log group', () => {
    const { template } = sfnStack();

    for (const name of ['Start', 'Prepare', 'ExtractField', 'Merge', 'RecordFailure']) {
      const fn = functionProps(template, `Pipeline${name}Function`);
      expect(fn, name).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'] });
      expect(fn.LoggingConfig, name).toEqual({ LogGroup: { Ref: logicalId(template, 'AWS::Logs::LogGroup', `Pipeline${name}LogGroup`) } });
    }
  });

  it('give ExtractField the memory and timeout of the props (one field may take that long)', () => {
    const { template } = sfnStack({ memorySize: 1024, timeout: Duration.minutes(3) });

    expect(functionProps(template, 'PipelineExtractFieldFunction')).toMatchObject({ MemorySize: 1024, Timeout: 180 });
  });

  it('give the task functions the environment contract, with a custom field set as JSON; the endpoint only to ExtractField', () => {
    const fields = labelFieldsWithoutChecks(2);
    const { template } = sfnStack({ fields, inputPrefix: 'in/', outputPrefix: 'out/' });

    for (const name of ['Prepare', 'ExtractField', 'Merge', 'RecordFailure']) {
      const env = functionProps(template, `Pipeline${name}Function`).Environment.Variables;
      expect(env, name).toMatchObject({ MODEL_NAME: MODEL.name, MODEL_RESPONSE_FORMAT: 'json_schema', INPUT_PREFIX: 'in/', OUTPUT_PREFIX: 'out/' });
      expect(JSON.parse(env.FIELDS), name).toEqual(fields);
      if (name === 'ExtractField') {
        expect(env).toMatchObject({ MODEL_BASE_URL: MODEL.baseUrl, MODEL_TIMEOUT_MS: '60000', MODEL_MAX_RETRIES: '3', MODEL_MAX_CONCURRENCY: '1' });
      } else {
        for (const variable of ENDPOINT_VARIABLES) expect(env[variable], `${name} ${variable}`).toBeUndefined();
      }
    }
  });

  it('give log-probabilities to ExtractField only, and the review threshold to every task function', () => {
    const { template } = sfnStack({ model: { ...MODEL, logprobs: true }, reviewConfidenceThreshold: 0.7 });

    const env = (name: string) => functionProps(template, `Pipeline${name}Function`).Environment.Variables;
    expect(env('ExtractField')).toMatchObject({ MODEL_LOGPROBS: 'true', REVIEW_CONFIDENCE_THRESHOLD: '0.7' });
    expect(env('Merge').REVIEW_CONFIDENCE_THRESHOLD).toBe('0.7');
    expect(env('Merge').MODEL_LOGPROBS).toBeUndefined();
  });
});

describe('StepFunctionsPipeline: field parts', () => {
  it('expires parts left behind after a day, on a bucket the stack created', () => {
    const { template, pipeline } = sfnStack({ outputPrefix: 'out/' });

    expect(pipeline.fieldPartsExpire).toBe(true);
    template.hasResourceProperties('AWS::S3::Bucket', {
      LifecycleConfiguration: { Rules: Match.arrayWith([{ Id: 'expire-fieldlens-parts', Prefix: 'out/.fieldlens/parts/', ExpirationInDays: 1, Status: 'Enabled' }]) },
    });
  });

  it("leaves an existing bucket's lifecycle alone (Merge deletes the parts it read)", () => {
    const { pipeline } = sfnStack({ existingBucketName: 'my-images' });

    expect(pipeline.fieldPartsExpire).toBe(false);
  });
});

describe('StepFunctionsPipeline: outputs and props', () => {
  it('outputs the state machine and its log group', () => {
    const { template } = sfnStack();

    const machine = logicalId(template, 'AWS::StepFunctions::StateMachine', 'StateMachine');
    template.hasOutput('StateMachineArn', { Value: { Ref: machine } });
    template.hasOutput('StateMachineLogGroupName', {});
    template.hasOutput('FunctionName', { Value: { Ref: logicalId(template, 'AWS::Lambda::Function', 'PipelineStartFunction') } });
  });

  it('refuses handlerEntry, which only the lambda fan-out uses', () => {
    expect(() => sfnStack({ handlerEntry: 'functions/on-upload.ts' })).toThrow(/handlerEntry: only the lambda fan-out/);
  });

  it('deploys side by side with the direct mode on one existing bucket, on different prefixes', () => {
    // Prepare
    const app = new App({ context: { ...CDK_JSON_CONTEXT, 'aws:cdk:bundling-stacks': [] } });
    const common = { model: MODEL, existingBucketName: 'my-images' };

    // Act
    const direct = new FieldlensStack(app, 'Direct', { ...common, stackName: 'FieldlensDirect' });
    const sfn = new FieldlensStack(app, 'Sfn', {
      ...common,
      stackName: 'FieldlensSfn',
      fanout: 'stepfunctions',
      inputPrefix: 'incoming-sfn/',
      outputPrefix: 'results-sfn/',
    });

    // Assess
    const filter = (stack: FieldlensStack) =>
      Template.fromStack(stack).findResources('Custom::S3BucketNotifications')[
        logicalId(Template.fromStack(stack), 'Custom::S3BucketNotifications', 'BucketNotifications')
      ]!.Properties.NotificationConfiguration.LambdaFunctionConfigurations[0].Filter.Key.FilterRules[0].Value;
    expect([filter(direct), filter(sfn)]).toEqual(['incoming/', 'incoming-sfn/']);
    Template.fromStack(sfn).hasResourceProperties('Custom::S3BucketNotifications', { Managed: false });
    Template.fromStack(sfn).hasResourceProperties('AWS::Logs::LogGroup', { LogGroupName: '/aws/vendedlogs/states/FieldlensSfn-fieldlens-runs' });
  });
});
