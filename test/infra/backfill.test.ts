import { App } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { BACKFILL_STATES } from '../../infra/constructs/backfill';
import { FieldlensStack, type FieldlensStackProps } from '../../infra/fieldlens-stack';
import { synthesizedStateMachine } from '../support/local-state-machine';
import { allowedPermissions, buildStack, logicalId, MODEL } from './support';

type State = Record<string, any>;

/** The stack, its template and the backfill state machine's definition. */
function backfillStack(props: Partial<FieldlensStackProps> = {}) {
  const built = buildStack({ backfill: {}, ...props });
  const bucket = logicalId(built.template, 'AWS::S3::Bucket', 'Bucket');
  const { definition } = synthesizedStateMachine(built.stack, { machine: built.stack.backfill!.stateMachine, refs: { [bucket]: 'labels' } });
  const states = (definition as unknown as { States: Record<string, State> }).States;
  return { ...built, states };
}

function functionProps(template: Template, hint: string): Record<string, any> {
  return template.toJSON().Resources[logicalId(template, 'AWS::Lambda::Function', hint)].Properties;
}

describe('the backfill: off unless asked for', () => {
  it('adds no state machine and keeps the whole capacity for uploads by default', () => {
    // Act
    const { template, stack } = buildStack();

    // Assess
    expect(stack.backfill).toBeUndefined();
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
    template.hasOutput('EndpointBudget', { Value: '5 requests per image x 2 images at once = 10 in flight at most' });
    expect(Object.keys(template.findOutputs('*'))).not.toContain('BackfillStateMachineArn');
  });
});

describe('the backfill state machine', () => {
  it('lists the prefix from the run input with ListObjectsV2 and batches the objects', () => {
    // Act
    const { states } = backfillStack();

    // Assess
    const map = states[BACKFILL_STATES.objects]!;
    expect(map.Type).toBe('Map');
    expect(map.ItemProcessor.ProcessorConfig).toEqual({ Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' });
    expect(map.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:listObjectsV2',
      Parameters: { Bucket: 'labels', 'Prefix.$': '$.args.prefix' },
    });
    expect(map.ItemBatcher).toMatchObject({
      MaxItemsPerBatch: 100,
      BatchInput: { bucket: 'labels', 'only.$': '$.args.only', 'dryRun.$': '$.args.dryRun', 'prefix.$': '$.args.prefix', source: 'list' },
    });
    expect(map.ToleratedFailurePercentage).toBe(5);
    expect(map.Label).toBe('Backfill');
  });

  it('writes the Map Run results (the batch tallies) under the output prefix', () => {
    const { states } = backfillStack();

    expect(states[BACKFILL_STATES.objects]!.ResultWriter).toMatchObject({
      Resource: 'arn:aws:states:::s3:putObject',
      Parameters: { Prefix: 'results/.fieldlens/backfill/' },
      WriterConfig: { Transformation: 'COMPACT', OutputType: 'JSON' },
    });
  });

  it('runs the child workflow as ProcessBatch, then again while items are left, then the tally', () => {
    const { states, template } = backfillStack();

    const child = states[BACKFILL_STATES.objects]!.ItemProcessor;
    expect(child.StartAt).toBe(BACKFILL_STATES.processBatch);
    const process = child.States[BACKFILL_STATES.processBatch];
    expect(process.Resource).toContain(logicalId(template, 'AWS::Lambda::Function', 'BackfillItems'));
    expect(process.Next).toBe(BACKFILL_STATES.moreItems);
    expect(child.States[BACKFILL_STATES.moreItems].Choices).toEqual([{ Variable: '$.Items[0]', IsPresent: true, Next: BACKFILL_STATES.processBatch }]);
    expect(child.States[BACKFILL_STATES.batchDone]).toMatchObject({ Type: 'Succeed', OutputPath: '$.tally' });
    expect(process.Retry.map((r: { ErrorEquals: string[] }) => r.ErrorEquals[0])).toEqual([
      'Lambda.TooManyRequestsException',
      'Lambda.ServiceException',
      'BackfillBatchError',
    ]);
  });

  it('refuses a prefix outside the input prefix before listing anything', () => {
    const { states } = backfillStack({ inputPrefix: 'uploads/', outputPrefix: 'out/' });

    expect(states[BACKFILL_STATES.prefixAllowed]!.Choices).toEqual([{ Variable: '$.args.prefix', StringMatches: 'uploads/*', Next: BACKFILL_STATES.objects }]);
    expect(states[BACKFILL_STATES.prefixAllowed]!.Default).toBe(BACKFILL_STATES.prefixOutsideInput);
    expect(states[BACKFILL_STATES.defaults]!.Result).toEqual({ prefix: 'uploads/', only: 'all', dryRun: false, source: 'list' });
  });

  it('takes the batch size and the tolerated failures from its props', () => {
    const { states } = backfillStack({ backfill: { batchSize: 25, toleratedFailurePercentage: 0 } });

    expect(states[BACKFILL_STATES.objects]!.ItemBatcher.MaxItemsPerBatch).toBe(25);
    expect(states[BACKFILL_STATES.objects]!.ToleratedFailurePercentage).toBeUndefined(); // 0: none tolerated, the ASL default
  });

  it('logs every state without state data and traces', () => {
    const { template, stack } = backfillStack();

    const id = stack.getLogicalId(stack.backfill!.stateMachine.node.defaultChild as never);
    const sm = template.toJSON().Resources[id].Properties;
    expect(sm.LoggingConfiguration).toMatchObject({ Level: 'ALL', IncludeExecutionData: false });
    expect(sm.TracingConfiguration).toEqual({ Enabled: true });
    template.hasOutput('BackfillStateMachineArn', { Value: { Ref: id } });
  });
});

describe('the backfill: the endpoint budget with live uploads', () => {
  it('splits the capacity: uploads and backfill reserve their parts, the Map runs the backfill part', () => {
    // Act
    const { template, states } = backfillStack();

    // Assess
    const live = functionProps(template, 'PipelineOnUpload');
    const backfill = functionProps(template, 'BackfillItems');
    expect(live.ReservedConcurrentExecutions).toBe(1);
    expect(live.Environment.Variables.MODEL_MAX_CONCURRENCY).toBe('5');
    expect(backfill.ReservedConcurrentExecutions).toBe(1);
    expect(backfill.Environment.Variables.MODEL_MAX_CONCURRENCY).toBe('5');
    expect(states[BACKFILL_STATES.objects]!.MaxConcurrency).toBe(1);
    template.hasOutput('EndpointBudget', { Value: Match.stringLikeRegexp("^uploads: 5 requests per image x 1 .*backfill \\(share 0.5\\): 5 requests per image x 1 .*together 10 of the endpoint's 10$") });
  });

  it('follows the share the user sets', () => {
    const { template, states } = backfillStack({ model: { ...MODEL, maxConcurrency: 20 }, backfill: { share: 0.75 } });

    expect(functionProps(template, 'PipelineOnUpload').ReservedConcurrentExecutions).toBe(1);
    expect(functionProps(template, 'BackfillItems').ReservedConcurrentExecutions).toBe(3);
    expect(states[BACKFILL_STATES.objects]!.MaxConcurrency).toBe(3);
  });

  it('with Step Functions uploads: ExtractField reserves the uploads part, the backfill its own', () => {
    const { template } = backfillStack({ fanout: 'stepfunctions' });

    expect(functionProps(template, 'PipelineExtractField').ReservedConcurrentExecutions).toBe(5);
    expect(functionProps(template, 'BackfillItems').ReservedConcurrentExecutions).toBe(1);
    template.resourceCountIs('AWS::StepFunctions::StateMachine', 2);
  });

  it('with the queue trigger: the event source gets the uploads part and the backfill reserves nothing, with a warning', () => {
    const { template, stack, states } = backfillStack({ trigger: 'queue' });

    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { ScalingConfig: { MaximumConcurrency: 2 } });
    expect(functionProps(template, 'BackfillItems').ReservedConcurrentExecutions).toBeUndefined();
    expect(states[BACKFILL_STATES.objects]!.MaxConcurrency).toBe(1);
    Annotations.fromStack(stack).hasWarning('*', Match.stringLikeRegexp('two runs at once would ask twice as much'));
  });

  it('refuses an endpoint too small to share, naming the keys to change', () => {
    const act = () => buildStack({ backfill: {}, model: { ...MODEL, maxConcurrency: 1 } });

    expect(act).toThrow(/backfill\.share \(context backfillShare\) with model\.maxConcurrency \(modelMaxConcurrency\) 1: .*cannot be shared/);
  });
});

describe('the backfill: least privilege', () => {
  it('may list the input prefix only and write results under its own folder', () => {
    // Act
    const { template } = backfillStack();

    // Assess
    const bucket = logicalId(template, 'AWS::S3::Bucket', 'Bucket');
    const listing = Object.values(template.findResources('AWS::IAM::Policy'))
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Array<Record<string, any>>)
      .filter((s) => ([] as string[]).concat(s.Action).includes('s3:ListBucket'));
    expect(listing).toEqual([
      expect.objectContaining({ Resource: { 'Fn::GetAtt': [bucket, 'Arn'] }, Condition: { StringLike: { 's3:prefix': ['incoming/*'] } } }),
    ]);
    const s3Writes = allowedPermissions(template).filter((p) => p.action === 's3:PutObject').map((p) => p.resource);
    expect(new Set(s3Writes)).toEqual(new Set([`<${bucket}.Arn>/results/*`, `<${bucket}.Arn>/results/.fieldlens/backfill/*`]));
    expect(allowedPermissions(template).filter((p) => p.resource.endsWith(`<${bucket}.Arn>/*`))).toEqual([]);
  });

  it("gives the item function exactly the upload function's access", () => {
    const { template } = backfillStack();
    const lines = (hint: string) => {
      const policy = logicalId(template, 'AWS::IAM::Policy', `${hint}RoleDefaultPolicy`);
      return allowedPermissions(template)
        .filter((p) => p.policy === policy && !p.action.startsWith('logs:') && !p.action.startsWith('sqs:'))
        .map((p) => `${p.action} on ${p.resource}`)
        .sort();
    };

    expect(lines('BackfillItems')).toEqual(lines('PipelineOnUpload'));
  });

  it('reads S3 Inventory reports under their prefix only, from a second Map', () => {
    const { template, states } = backfillStack({ backfill: { inventory: { bucketName: 'my-inventory', prefix: 'reports/' } } });

    const inventory = states[BACKFILL_STATES.inventory]!;
    expect(inventory.ItemReader).toEqual({
      Resource: 'arn:aws:states:::s3:getObject',
      ReaderConfig: { InputType: 'MANIFEST' },
      Parameters: { Bucket: 'my-inventory', 'Key.$': '$.args.manifestKey' },
    });
    expect(inventory.ItemBatcher.BatchInput.source).toBe('inventory');
    expect(states[BACKFILL_STATES.source]!.Default).toBe(BACKFILL_STATES.objects);
    const reads = allowedPermissions(template).filter((p) => p.resource.includes('my-inventory'));
    expect(reads.map((p) => `${p.action} on ${p.resource}`)).toEqual(['s3:GetObject on arn:<AWS::Partition>:s3:::my-inventory/reports/*']);
  });
});

describe('the backfill: its props', () => {
  it.each<[string, FieldlensStackProps['backfill'], RegExp]>([
    ['a batch size of 0', { batchSize: 0 }, /backfill\.batchSize: expected a whole number from 1 to 1000/],
    ['a tolerated percentage over 100', { toleratedFailurePercentage: 101 }, /toleratedFailurePercentage: expected a number from 0 to 100/],
  ])('refuses %s', (_name, backfill, message) => {
    expect(() => buildStack({ backfill: backfill! })).toThrow(message);
  });

  it('refuses an inventory without a bucket', () => {
    expect(() => buildStack({ backfill: { inventory: { prefix: 'reports/' } } })).toThrow(/give exactly one of bucket and bucketName/);
  });

  it('names the feature flag it needs when the app lacks it', () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });

    const act = () => new FieldlensStack(app, 'Fieldlens', { model: MODEL, backfill: {} });

    expect(act).toThrow(/@aws-cdk\/aws-stepfunctions:useDistributedMapResultWriterV2/);
  });
});
