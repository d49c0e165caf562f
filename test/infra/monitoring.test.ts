/**
 * The stack's alarms, dashboard, alarm topic and tracing, as CloudFormation
 * sees them.
 */
import { Match, Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { METRICS, METRICS_NAMESPACE } from '../../functions/telemetry/catalogue';
import { parseContext, stackPropsFromContext } from '../../infra/context';
import { ALARM_THRESHOLDS } from '../../infra/constructs/monitoring';
import { FieldlensPropsError } from '../../infra/errors';
import type { FieldlensStackProps } from '../../infra/fieldlens-stack';
import { buildStack, nagFindings, newStack } from './support';

const TOPIC_ARN = 'arn:aws:sns:eu-west-1:123456789012:ops-alarms';

type Resource = { Properties: Record<string, unknown> };

function alarmsOf(template: Template): Record<string, Resource> {
  return template.findResources('AWS::CloudWatch::Alarm') as Record<string, Resource>;
}

/** The metric names an alarm reads, from its own metric or its math expression's metrics. */
function alarmMetricNames(alarm: Resource): string[] {
  const p = alarm.Properties as { MetricName?: string; Metrics?: Array<{ MetricStat?: { Metric: { MetricName: string } } }> };
  return p.MetricName ? [p.MetricName] : (p.Metrics ?? []).flatMap((m) => (m.MetricStat ? [m.MetricStat.Metric.MetricName] : []));
}

function functionsOf(template: Template): Resource[] {
  return Object.values(template.findResources('AWS::Lambda::Function') as Record<string, Resource>).filter(
    (f) => (f.Properties.Runtime as string | undefined) === 'nodejs22.x',
  );
}

describe('alarms', () => {
  it('cover failed documents, model errors, throttling, each function’s errors and duration, and keep the dead-letter alarm', () => {
    // Act
    const { template } = buildStack();

    // Assess
    const alarms = Object.values(alarmsOf(template));
    const reads = alarms.map(alarmMetricNames);
    expect(reads).toContainEqual(['Documents', 'Documents']);
    expect(reads).toContainEqual(['ModelErrors', 'RateLimited', 'ModelRequests']);
    expect(reads).toContainEqual(['RateLimited', 'ModelRequests']);
    expect(reads).toContainEqual(['Throttles']);
    expect(reads).toContainEqual(['Errors']);
    expect(reads).toContainEqual(['Duration']);
    expect(reads).toContainEqual(['ApproximateNumberOfMessagesVisible']);
    // Our metrics are read in the fieldlens namespace with the stack's name as `service`.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      Threshold: ALARM_THRESHOLDS.failedDocumentPercent,
      Metrics: Match.arrayWith([
        Match.objectLike({
          MetricStat: Match.objectLike({
            Metric: {
              Namespace: METRICS_NAMESPACE,
              MetricName: 'Documents',
              Dimensions: Match.arrayWith([{ Name: 'service', Value: 'Fieldlens' }, { Name: 'status', Value: 'failed' }]),
            },
          }),
        }),
      ]),
    });
    // Nothing to notify without a topic.
    for (const a of alarms) expect(a.Properties.AlarmActions).toBeUndefined();
  });

  it('alarms when an invocation takes over 80% of the function’s timeout', () => {
    // Act
    const { template } = buildStack({ timeout: undefined });

    // Assess: the on-upload function's timeout is 5 minutes.
    template.hasResourceProperties('AWS::CloudWatch::Alarm', {
      MetricName: 'Duration',
      Namespace: 'AWS/Lambda',
      Statistic: 'Maximum',
      Threshold: 0.8 * 300_000,
    });
  });

  it('watches every Step Functions task and each state machine’s failed executions', () => {
    // Act
    const { template } = buildStack({ fanout: 'stepfunctions', backfill: {} });

    // Assess: Prepare, ExtractField, Merge, RecordFailure, Start and the backfill's Items.
    const reads = Object.values(alarmsOf(template)).map(alarmMetricNames);
    expect(reads.filter((r) => r.length === 1 && r[0] === 'Errors')).toHaveLength(6);
    expect(reads.filter((r) => r.length === 1 && r[0] === 'Duration')).toHaveLength(6);
    expect(reads.filter((r) => r.join() === 'ExecutionsFailed,ExecutionsTimedOut,ExecutionsAborted')).toHaveLength(2);
  });
});

describe('the alarm topic', () => {
  it('is new, encrypted and subscribed with alarms.email, and every alarm (dead-letter included) notifies it', () => {
    // Act
    const { template } = buildStack({ alarms: { email: 'ops@example.com' } });

    // Assess
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: Match.anyValue() });
    template.hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'ops@example.com' });
    const topic = Object.keys(template.findResources('AWS::SNS::Topic'))[0]!;
    for (const a of Object.values(alarmsOf(template))) {
      expect(a.Properties.AlarmActions).toEqual([{ Ref: topic }]);
      expect(a.Properties.OKActions).toEqual([{ Ref: topic }]);
    }
    template.hasOutput('AlarmTopicArn', { Value: { Ref: topic } });
  });

  it('is the existing one with alarms.existingTopicArn, and none is created', () => {
    // Act
    const { template } = buildStack({ alarms: { existingTopicArn: TOPIC_ARN } });

    // Assess
    template.resourceCountIs('AWS::SNS::Topic', 0);
    for (const a of Object.values(alarmsOf(template))) expect(a.Properties.AlarmActions).toEqual([TOPIC_ARN]);
  });

  it('refuses an e-mail address and an existing topic together, and a malformed address', () => {
    expect(() => newStack({ alarms: { email: 'ops@example.com', existingTopicArn: TOPIC_ARN } })).toThrow(FieldlensPropsError);
    expect(() => newStack({ alarms: { email: 'not-an-address' } })).toThrow(/expected an e-mail address/);
  });

  it('comes from the context keys alarmEmail or alarmTopicArn, never both', () => {
    const base = { modelBaseUrl: 'https://m.example.com/v1', modelName: 'm' };
    const read = (raw: Record<string, unknown>) => stackPropsFromContext(parseContext({ ...base, ...raw }), () => '');
    expect(read({ alarmEmail: 'ops@example.com' }).alarms).toEqual({ email: 'ops@example.com' });
    expect(read({ alarmTopicArn: TOPIC_ARN }).alarms).toEqual({ existingTopicArn: TOPIC_ARN });
    expect(() => read({ alarmEmail: 'ops@example.com', alarmTopicArn: TOPIC_ARN })).toThrow(/not both/);
    expect(() => read({ alarmTopicArn: 'ops-alarms' })).toThrow(/ARN of an SNS topic/);
  });
});

describe('the dashboard', () => {
  it('is one dashboard, named in the outputs, graphing every metric of the catalogue for this stack', () => {
    // Act
    const { template } = buildStack();

    // Assess
    template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    const [id, dashboard] = Object.entries(template.findResources('AWS::CloudWatch::Dashboard'))[0]!;
    const body = JSON.stringify((dashboard as Resource).Properties.DashboardBody);
    for (const name of Object.keys(METRICS)) expect(body, name).toContain(name);
    expect(body).toContain('service');
    expect(body).toContain('Fieldlens');
    template.hasOutput('DashboardName', { Value: { Ref: id } });
  });
});

describe('tracing and the Powertools environment', () => {
  it('is off by default: no active tracing, POWERTOOLS_TRACE_ENABLED=false, the stack’s name as the service', () => {
    // Act
    const { template } = buildStack();

    // Assess
    for (const f of functionsOf(template)) {
      expect(f.Properties.TracingConfig).toBeUndefined();
      expect((f.Properties.Environment as { Variables: Record<string, string> }).Variables).toMatchObject({
        POWERTOOLS_SERVICE_NAME: 'Fieldlens',
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
        POWERTOOLS_TRACE_ENABLED: 'false',
      });
    }
  });

  it('with tracing on, every function traces actively and may write to X-Ray, and the state machines trace', () => {
    // Act
    const { template } = buildStack({ fanout: 'stepfunctions', tracing: true, debugLogSampleRate: 0.1 });

    // Assess
    const fns = functionsOf(template);
    expect(fns.length).toBe(5);
    for (const f of fns) {
      expect(f.Properties.TracingConfig).toEqual({ Mode: 'Active' });
      expect((f.Properties.Environment as { Variables: Record<string, string> }).Variables).toMatchObject({
        POWERTOOLS_TRACE_ENABLED: 'true',
        POWERTOOLS_LOGGER_SAMPLE_RATE: '0.1',
      });
    }
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: ['xray:PutTelemetryRecords', 'xray:PutTraceSegments'] })]) },
    });
    template.hasResourceProperties('AWS::StepFunctions::StateMachine', { TracingConfiguration: { Enabled: true } });
  });

  it('refuses a debug-log sample rate outside 0-1, in props and in context', () => {
    expect(() => newStack({ debugLogSampleRate: 1.5 })).toThrow(/POWERTOOLS_LOGGER_SAMPLE_RATE/);
    const read = (v: unknown) => parseContext({ modelBaseUrl: 'https://m.example.com/v1', modelName: 'm', debugLogSampleRate: v });
    expect(read('0.25').debugLogSampleRate).toBe(0.25);
    expect(() => read('2')).toThrow(/debugLogSampleRate/);
    expect(parseContext({ modelBaseUrl: 'https://m.example.com/v1', modelName: 'm', tracing: 'true' }).tracing).toBe(true);
  });
});

describe('cdk-nag AwsSolutions', () => {
  it.each<[string, Partial<FieldlensStackProps>]>([
    ['an alarm topic and tracing', { alarms: { email: 'ops@example.com' }, tracing: true }],
    ['Step Functions with tracing and an existing topic', { fanout: 'stepfunctions', tracing: true, alarms: { existingTopicArn: TOPIC_ARN } }],
  ])('%s: no unacknowledged finding', (_name, props) => {
    // Act
    const findings = nagFindings(props);

    // Assess
    expect(findings).toEqual([]);
  });
});
