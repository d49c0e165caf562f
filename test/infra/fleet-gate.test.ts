import { Duration } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../functions/config';
import { ErrorCode } from '../../functions/core/errors';
import { bedrockCapacity } from '../../infra/budget';
import { FLEET_GATE_ACTIONS } from '../../infra/constructs/fleet-gate';
import { parseContext, stackPropsFromContext } from '../../infra/context';
import { ContextError, FieldlensPropsError } from '../../infra/errors';
import { FieldlensStack, type FieldlensStackProps } from '../../infra/fieldlens-stack';
import { allowedPermissions, buildStack, logicalId, MODEL, testApp } from './support';

type FunctionResource = { Properties: { Role: { 'Fn::GetAtt': [string, string] }; Environment?: { Variables?: Record<string, unknown> } } };

/** Every Lambda function of the template, by logical id. */
function functions(template: Template): Record<string, FunctionResource> {
  return template.findResources('AWS::Lambda::Function') as Record<string, FunctionResource>;
}

/** The function's `FLEET_GATE_*` variables. */
function gateVariables(fn: FunctionResource): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fn.Properties.Environment?.Variables ?? {}).filter(([k]) => k.startsWith('FLEET_GATE_')));
}

/** Every DynamoDB permission, as "action on resource" lines, by the role its policy is attached to. */
function dynamodbPermissionsByRole(template: Template): Record<string, string[]> {
  const policies = template.findResources('AWS::IAM::Policy');
  const byRole: Record<string, string[]> = {};
  for (const p of allowedPermissions(template).filter((p) => p.action.startsWith('dynamodb:'))) {
    for (const role of (policies[p.policy]?.Properties.Roles ?? [{ Ref: p.policy }]) as Array<{ Ref: string }>) {
      (byRole[role.Ref] ??= []).push(`${p.action} on ${p.resource}`);
    }
  }
  for (const lines of Object.values(byRole)) lines.sort();
  return byRole;
}

const SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:fieldlens-key-AbCdEf';

/** Each pipeline shape, and the functions in it that ask the model (logical id hints). */
const shapes: Array<[string, Partial<FieldlensStackProps>, string[]]> = [
  ['direct trigger', {}, ['PipelineOnUpload']],
  ['queue trigger', { trigger: 'queue' }, ['PipelineOnUpload']],
  ['EventBridge trigger', { trigger: 'eventbridge', existingBucketName: 'my-images' }, ['PipelineOnUpload']],
  ['Step Functions', { fanout: 'stepfunctions' }, ['PipelineExtractField']],
  ['direct trigger with a backfill', { backfill: {} }, ['PipelineOnUpload', 'BackfillItems']],
  ['queue trigger with a backfill', { trigger: 'queue', backfill: {} }, ['PipelineOnUpload', 'BackfillItems']],
  ['Step Functions with a backfill', { fanout: 'stepfunctions', backfill: { share: 0.3 } }, ['PipelineExtractField', 'BackfillItems']],
];

describe('the fleet gate: off unless asked for', () => {
  it.each(shapes)('%s: no table, no FLEET_GATE_* variable, no DynamoDB permission, no output', (_shape, props) => {
    // Act
    const { template, stack } = buildStack(props);

    // Assess
    expect(stack.fleetGate).toBeUndefined();
    template.resourceCountIs('AWS::DynamoDB::Table', 0);
    for (const [id, fn] of Object.entries(functions(template))) expect(gateVariables(fn), id).toEqual({});
    expect(dynamodbPermissionsByRole(template)).toEqual({});
    expect(Object.keys(template.findOutputs('*'))).not.toContain('FleetGateTable');
    template.hasOutput('EndpointBudget', { Description: 'How the model endpoint capacity is shared' });
    expect(JSON.stringify(template.findResources('AWS::CloudWatch::Alarm'))).not.toContain('FleetGateUnavailable');
  });

  it('stays off without any fleet gate key in the context, and with fleetGate=false', () => {
    const required = { modelBaseUrl: MODEL.baseUrl, modelName: MODEL.name };

    expect(stackPropsFromContext(parseContext(required), () => '').fleetGate).toBeUndefined();
    expect(stackPropsFromContext(parseContext({ ...required, fleetGate: 'false' }), () => '').fleetGate).toBeUndefined();
  });
});

describe('the fleet gate alarm', () => {
  it('goes off when invocations went on without the gate in two periods in a row', () => {
    // Act
    const { template } = buildStack({ fleetGate: {} });

    // Assess
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'FleetGateUnavailable',
      Namespace: 'fieldlens',
      Statistic: 'Sum',
      Threshold: 1,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      EvaluationPeriods: 2,
      TreatMissingData: 'notBreaching',
    });
  });
});

describe('the fleet gate table', () => {
  it('is one on-demand table keyed by the string pk, deleted with the stack, without TTL, streams or backups', () => {
    // Act
    const { template } = buildStack({ fleetGate: {} });

    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const id = logicalId(template, 'AWS::DynamoDB::Table', 'FleetGate');
    const table = template.toJSON().Resources[id];
    expect(table.DeletionPolicy).toBe('Delete');
    expect(table.UpdateReplacePolicy).toBe('Delete');
    expect(table.Properties).toEqual({
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    });
  });

  it('is named in the FleetGateTable output, and the EndpointBudget output says the gate holds everyone to C', () => {
    // Act
    const { template } = buildStack({ fleetGate: {}, model: { ...MODEL, maxConcurrency: 16 } });

    // Assess
    const id = logicalId(template, 'AWS::DynamoDB::Table', 'FleetGate');
    template.hasOutput('FleetGateTable', { Value: { Ref: id } });
    const budget = template.findOutputs('EndpointBudget').EndpointBudget!;
    expect(budget.Value).toBe('5 requests per image x 3 images at once = 15 in flight at most');
    expect(budget.Description).toContain('fleet gate (FleetGateTable)');
    expect(budget.Description).toContain('at most 16');
  });
});

describe('the fleet gate: only the functions that ask the model take part', () => {
  it.each(shapes)('%s: they get the table and the capacity, and exactly the three actions on the table; the others nothing', (_shape, props, askers) => {
    // Act
    const { template } = buildStack({ ...props, fleetGate: {} });

    // Assess
    const table = logicalId(template, 'AWS::DynamoDB::Table', 'FleetGate');
    const all = functions(template);
    const asking = askers.map((hint) => logicalId(template, 'AWS::Lambda::Function', `${hint}Function`));
    for (const [id, fn] of Object.entries(all)) {
      if (asking.includes(id)) expect(gateVariables(fn), id).toEqual({ FLEET_GATE_TABLE: { Ref: table }, FLEET_GATE_CAPACITY: '10' });
      else expect(gateVariables(fn), id).toEqual({});
    }
    const roles = asking.map((id) => all[id]!.Properties.Role['Fn::GetAtt'][0]);
    const expected = Object.fromEntries(roles.map((role) => [role, FLEET_GATE_ACTIONS.map((a) => `${a} on <${table}.Arn>`).sort()]));
    expect(dynamodbPermissionsByRole(template)).toEqual(expected);
  });

  it('gives the whole capacity C, not the uploads\' or the backfill\'s part, to every function', () => {
    // Act
    const { template, stack } = buildStack({ model: { ...MODEL, maxConcurrency: 20 }, backfill: { share: 0.3 }, fleetGate: {} });

    // Assess
    expect(stack.sharedBudget!.live.maxInFlight).toBeLessThan(20);
    for (const hint of ['PipelineOnUpload', 'BackfillItems']) {
      const fn = functions(template)[logicalId(template, 'AWS::Lambda::Function', `${hint}Function`)]!;
      expect(gateVariables(fn).FLEET_GATE_CAPACITY, hint).toBe('20');
    }
  });

  it('gives the capacity the Bedrock quota gave', () => {
    // Prepare
    const quota = { requestsPerMinute: 400, tokensPerMinute: 400_000 };

    // Act
    const { template } = buildStack({ model: { provider: 'bedrock', modelId: 'amazon.nova-lite-v1:0', quota }, fleetGate: {} });

    // Assess
    const fn = functions(template)[logicalId(template, 'AWS::Lambda::Function', 'PipelineOnUploadFunction')]!;
    expect(gateVariables(fn).FLEET_GATE_CAPACITY).toBe(String(bedrockCapacity(quota)));
  });

  it('gives an environment the function itself accepts as a fleet gate', () => {
    // Prepare: the template's values, with names standing in for its tokens
    const { template } = buildStack({ fleetGate: { pollInterval: Duration.millis(40) }, model: { ...MODEL, existingApiKeySecretArn: SECRET_ARN } });
    const fn = functions(template)[logicalId(template, 'AWS::Lambda::Function', 'PipelineOnUploadFunction')]!;
    const env = Object.fromEntries(Object.entries(fn.Properties.Environment!.Variables!).filter(([, v]) => typeof v === 'string')) as Record<string, string>;

    // Act
    const config = loadConfig({ ...env, FLEET_GATE_TABLE: 'Fieldlens-FleetGateTable543504DA-1A2B3C' });

    // Assess
    expect(config.model.fleetGate).toMatchObject({ table: 'Fieldlens-FleetGateTable543504DA-1A2B3C', capacity: 10, pollMs: 40 });
  });
});

describe('the fleet gate from the context', () => {
  const required = { modelBaseUrl: MODEL.baseUrl, modelName: MODEL.name };
  const stackFrom = (raw: Record<string, unknown>) => new FieldlensStack(testApp(), 'Fieldlens', stackPropsFromContext(parseContext({ ...required, ...raw }), () => ''));

  it('turns it on with fleetGate=true, leaving the poll interval to the function', () => {
    // Act
    const template = Template.fromStack(stackFrom({ fleetGate: 'true' }));

    // Assess
    template.resourceCountIs('AWS::DynamoDB::Table', 1);
    const fn = functions(template)[logicalId(template, 'AWS::Lambda::Function', 'PipelineOnUploadFunction')]!;
    expect(Object.keys(gateVariables(fn)).sort()).toEqual(['FLEET_GATE_CAPACITY', 'FLEET_GATE_TABLE']);
  });

  it('passes fleetGatePollMs through as FLEET_GATE_POLL_MS', () => {
    // Act
    const props = stackPropsFromContext(parseContext({ ...required, fleetGate: true, fleetGatePollMs: '100' }), () => '');
    const template = Template.fromStack(new FieldlensStack(testApp(), 'Fieldlens', { ...props, fanout: 'stepfunctions' }));

    // Assess
    expect(props.fleetGate).toEqual({ pollInterval: Duration.millis(100) });
    const fn = functions(template)[logicalId(template, 'AWS::Lambda::Function', 'PipelineExtractFieldFunction')]!;
    expect(gateVariables(fn).FLEET_GATE_POLL_MS).toBe('100');
  });

  it.each([[{}], [{ fleetGate: 'false' }]])('refuses fleetGatePollMs without fleetGate=true, naming both keys (%j)', (extra) => {
    // Act
    const act = () => stackPropsFromContext(parseContext({ ...required, ...extra, fleetGatePollMs: '50' }), () => '');

    // Assess
    expect(act).toThrow(ContextError);
    expect(act).toThrow(/context keys "fleetGatePollMs" and "fleetGate"/);
  });

  it('names the context key when fleetGatePollMs is not a number', () => {
    const act = () => parseContext({ ...required, fleetGate: 'true', fleetGatePollMs: 'often' });

    expect(act).toThrow(ContextError);
    expect(act).toThrow('context key "fleetGatePollMs": expected a whole number (0 or more) (got "often")');
  });

  it.each([['3'], ['6000']])('leaves the range to the function: fleetGatePollMs=%s gets its message at synth', (value) => {
    // Act
    let error: unknown;
    try {
      stackFrom({ fleetGate: 'true', fleetGatePollMs: value });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(FieldlensPropsError);
    expect((error as FieldlensPropsError).code).toBe(ErrorCode.PROPS_INVALID);
    expect((error as Error).message).toBe(`invalid configuration:\n  FLEET_GATE_POLL_MS: expected a whole number from 5 to 5000 (got "${value}")`);
  });
});
