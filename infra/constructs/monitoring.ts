/**
 * Alarms and one dashboard over everything fieldlens runs: the metrics its
 * functions publish (`functions/telemetry/catalogue.ts`, namespace
 * `fieldlens`, dimension `service` = the stack's name), Lambda's own
 * metrics of each function, the state machines' failed executions and the
 * dead-letter queues. Optionally every alarm notifies an SNS topic: a new
 * one with an e-mail subscription, or an existing one.
 *
 * Deploys infrastructure only; the names of the metrics come from the
 * functions' catalogue, so the dashboard cannot drift from what they publish.
 */
import { Duration, Stack } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { METRICS, METRICS_NAMESPACE, type MetricName } from '../../functions/telemetry/catalogue';
import { FieldlensPropsError } from '../errors';
import type { MonitoredDeadLetterQueue } from './dead-letter-queue';
import type { FieldlensFunction } from './lambda-defaults';

/** Where the alarms send their notifications: a new topic with an e-mail subscription, or an existing topic. */
export interface AlarmNotifications {
  /**
   * A new topic (encrypted with a key of its own) with this address subscribed.
   * @default - no new topic
   */
  readonly email?: string;
  /**
   * An existing topic's ARN (never together with `email`). A topic
   * encrypted with a KMS key must let `cloudwatch.amazonaws.com` use it.
   * @default - no existing topic
   */
  readonly existingTopicArn?: string;
}

/** Thresholds of the alarms. */
export const ALARM_THRESHOLDS = Object.freeze({
  /** % of the documents of 5 minutes that are `failed`, in 2 of 3 periods. */
  failedDocumentPercent: 10,
  /** % of the model requests of 5 minutes that failed for a reason other than a rate limit, in 2 of 3 periods. */
  modelErrorPercent: 20,
  /** % of the model requests of 5 minutes the endpoint refused with a rate limit, for 3 periods in a row. */
  rateLimitedPercent: 50,
  /** A function's throttled invocations: any, for this many 5-minute periods in a row (short bursts are the budget at work). */
  throttledPeriods: 6,
  /** Share of a function's timeout its slowest invocation of 5 minutes may take. */
  durationShareOfTimeout: 0.8,
});

/** Props of {@link Monitoring}. */
export interface MonitoringProps {
  /** The `service` dimension the functions publish under: the stack's name. */
  readonly serviceName: string;
  /** The functions to watch (errors, duration near the timeout, throttles). */
  readonly functions: readonly FieldlensFunction[];
  /** The state machines to watch (failed executions). */
  readonly stateMachines?: readonly sfn.IStateMachine[];
  /** The dead-letter queues; their alarms are kept and notify the topic too. */
  readonly deadLetterQueues?: readonly MonitoredDeadLetterQueue[];
  /** @default - alarms without actions */
  readonly notifications?: AlarmNotifications;
  /** The functions share a fleet gate: alarm when its store fails. @default false */
  readonly fleetGate?: boolean;
}

const PERIOD = Duration.minutes(5);

/**
 * @example
 * ```ts
 * new Monitoring(stack, 'Monitoring', { serviceName: stack.stackName, functions, notifications: { email: 'ops@example.com' } });
 * ```
 */
export class Monitoring extends Construct {
  /** Every alarm created here (the dead-letter queues' own alarms not included). */
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** The dashboard. */
  public readonly dashboard: cloudwatch.Dashboard;
  /** The topic the alarms notify, when one was asked for. */
  public readonly topic?: sns.ITopic;

  constructor(scope: Construct, id: string, props: MonitoringProps) {
    super(scope, id);
    const { email, existingTopicArn } = props.notifications ?? {};
    if (email !== undefined && existingTopicArn !== undefined) {
      throw new FieldlensPropsError('alarms: give an e-mail address for a new topic, or an existing topic ARN, not both');
    }
    if (email !== undefined && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(email)) {
      throw new FieldlensPropsError(`alarms.email: expected an e-mail address, such as ops@example.com (got ${JSON.stringify(email)})`);
    }
    if (existingTopicArn !== undefined) this.topic = sns.Topic.fromTopicArn(this, 'Topic', existingTopicArn);
    else if (email !== undefined) this.topic = this.newTopic(email);

    const m = (name: MetricName, statistic: string, dims: Record<string, string> = {}, label?: string) =>
      new cloudwatch.Metric({
        namespace: METRICS_NAMESPACE,
        metricName: name,
        dimensionsMap: { service: props.serviceName, ...dims },
        statistic,
        period: PERIOD,
        ...(label ? { label } : {}),
      });
    const alarms: cloudwatch.Alarm[] = [];
    const alarm = (alarmId: string, options: cloudwatch.AlarmProps): cloudwatch.Alarm => {
      const a = new cloudwatch.Alarm(this, alarmId, { treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING, ...options });
      alarms.push(a);
      return a;
    };

    alarm('FailedDocuments', {
      alarmDescription: `More than ${ALARM_THRESHOLDS.failedDocumentPercent}% of the result documents are failed (no field answered): look at fieldResults.*.error.code in them, or the FieldErrors widget.`,
      metric: new cloudwatch.MathExpression({
        expression: '100 * FILL(failed, 0) / documents',
        usingMetrics: { failed: m('Documents', 'Sum', { status: 'failed' }), documents: m('Documents', 'Sum') },
        period: PERIOD,
        label: 'failed documents (%)',
      }),
      threshold: ALARM_THRESHOLDS.failedDocumentPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    alarm('ModelErrors', {
      alarmDescription: `More than ${ALARM_THRESHOLDS.modelErrorPercent}% of the model requests failed (rate limits left out; they have their own alarm): the ModelErrors widget shows the codes.`,
      metric: new cloudwatch.MathExpression({
        expression: '100 * (FILL(errors, 0) - FILL(limited, 0)) / requests',
        usingMetrics: { errors: m('ModelErrors', 'Sum'), limited: m('RateLimited', 'Sum'), requests: m('ModelRequests', 'Sum') },
        period: PERIOD,
        label: 'model errors (%)',
      }),
      threshold: ALARM_THRESHOLDS.modelErrorPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 2,
    });
    alarm('ModelThrottling', {
      alarmDescription: `The model endpoint refused more than ${ALARM_THRESHOLDS.rateLimitedPercent}% of the requests with a rate limit for 15 minutes: documents still finish (rate limits are waited out) but slowly; lower modelMaxConcurrency or raise the endpoint's limit.`,
      metric: new cloudwatch.MathExpression({
        expression: '100 * FILL(limited, 0) / requests',
        usingMetrics: { limited: m('RateLimited', 'Sum'), requests: m('ModelRequests', 'Sum') },
        period: PERIOD,
        label: 'rate-limited requests (%)',
      }),
      threshold: ALARM_THRESHOLDS.rateLimitedPercent,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    if (props.fleetGate) {
      alarm('FleetGateUnavailable', {
        alarmDescription:
          'Invocations went on without the fleet gate (FLEET_GATE_UNAVAILABLE in their logs) in 2 periods in a row: DynamoDB refused or failed its item ' +
          "(permissions, throttling, the table gone). Images are still processed, each invocation under its own limit, so the endpoint may get more than the fleet's limit.",
        metric: m('FleetGateUnavailable', 'Sum'),
        threshold: 1,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 2,
      });
    }
    if (props.functions.length > 0) {
      const throttles = Object.fromEntries(
        props.functions.map((f, i) => [`t${i}`, f.function.metricThrottles({ period: PERIOD, statistic: cloudwatch.Stats.SUM })]),
      );
      alarm('FunctionThrottles', {
        alarmDescription: `Lambda throttled invocations of a fieldlens function in ${ALARM_THRESHOLDS.throttledPeriods} 5-minute periods in a row: more images arrive than the reserved concurrency (the endpoint budget) lets through; they wait in Lambda's retries and may reach the dead-letter queue.`,
        metric: new cloudwatch.MathExpression({
          expression: Object.keys(throttles).map((k) => `FILL(${k}, 0)`).join(' + '),
          usingMetrics: throttles,
          period: PERIOD,
          label: 'throttled invocations',
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: ALARM_THRESHOLDS.throttledPeriods,
      });
    }
    for (const f of props.functions) {
      const name = f.node.id;
      alarm(`${name}Errors`, {
        alarmDescription: `The ${name} function failed invocations in 2 of 3 5-minute periods; its log group says why (level ERROR).`,
        metric: f.function.metricErrors({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        datapointsToAlarm: 2,
      });
      const timeout = f.function.timeout ?? Duration.seconds(3);
      const limitMs = Math.floor(timeout.toMilliseconds() * ALARM_THRESHOLDS.durationShareOfTimeout);
      alarm(`${name}DurationNearTimeout`, {
        alarmDescription: `An invocation of the ${name} function took over ${ALARM_THRESHOLDS.durationShareOfTimeout * 100}% of its ${timeout.toSeconds()} s timeout: the model is slow enough that documents come out partial at the deadline.`,
        metric: f.function.metricDuration({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM }),
        threshold: limitMs,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    for (const [i, machine] of (props.stateMachines ?? []).entries()) {
      alarm(`StateMachine${i === 0 ? '' : i + 1}FailedExecutions`, {
        alarmDescription: 'A Step Functions execution failed, timed out or was aborted: its history shows the state that broke.',
        metric: new cloudwatch.MathExpression({
          expression: 'FILL(failed, 0) + FILL(timedOut, 0) + FILL(aborted, 0)',
          usingMetrics: {
            failed: machine.metricFailed({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
            timedOut: machine.metricTimedOut({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
            aborted: machine.metricAborted({ period: PERIOD, statistic: cloudwatch.Stats.SUM }),
          },
          period: PERIOD,
          label: 'failed executions',
        }),
        threshold: 0,
        comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
      });
    }
    this.alarms = alarms;

    const deadLetterAlarms = (props.deadLetterQueues ?? []).map((q) => q.alarm);
    if (this.topic) {
      const action = new actions.SnsAction(this.topic);
      for (const a of [...alarms, ...deadLetterAlarms]) {
        a.addAlarmAction(action);
        a.addOkAction(action);
      }
    }

    this.dashboard = new cloudwatch.Dashboard(this, 'Dashboard', {
      defaultInterval: Duration.hours(3),
      widgets: dashboardRows(props, m, [...alarms, ...deadLetterAlarms]),
    });
  }

  /** A topic encrypted with its own key, which CloudWatch alarms may use to publish. */
  private newTopic(email: string): sns.Topic {
    const key = new kms.Key(this, 'TopicKey', {
      description: `Encrypts the fieldlens alarm topic of ${Stack.of(this).stackName}`,
      enableKeyRotation: true,
    });
    // CloudWatch publishes the alarms' notifications; an encrypted topic needs it to use the key.
    key.addToResourcePolicy(
      new iam.PolicyStatement({
        principals: [new iam.ServicePrincipal('cloudwatch.amazonaws.com')],
        actions: ['kms:Decrypt', 'kms:GenerateDataKey*'],
        resources: ['*'],
      }),
    );
    const topic = new sns.Topic(this, 'Topic', { displayName: 'fieldlens alarms', masterKey: key, enforceSSL: true });
    topic.addSubscription(new subscriptions.EmailSubscription(email));
    return topic;
  }
}

type MetricOf = (name: MetricName, statistic: string, dims?: Record<string, string>, label?: string) => cloudwatch.Metric;

/** The dashboard, row by row: documents, fields and latency, the model, tokens and cost, the platform, the alarms. */
function dashboardRows(props: MonitoringProps, m: MetricOf, alarms: readonly cloudwatch.IAlarm[]): cloudwatch.IWidget[][] {
  const graph = (title: string, left: cloudwatch.IMetric[], options: Partial<cloudwatch.GraphWidgetProps> = {}) =>
    new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, ...options });
  const byDimension = (name: MetricName, dimension: string, title: string) =>
    graph(title, [
      new cloudwatch.MathExpression({
        expression: `SEARCH('{${METRICS_NAMESPACE},service,${dimension}} MetricName="${name}" service="${props.serviceName}"', 'Sum', 300)`,
        label: '',
        period: PERIOD,
      }),
    ], { stacked: true });
  const latency = (name: MetricName, title: string) =>
    graph(title, [m(name, 'p50', {}, 'p50'), m(name, 'p95', {}, 'p95'), m(name, 'Maximum', {}, 'max')], {
      leftYAxis: { label: 'ms', showUnits: false, min: 0 },
    });
  const sums = (title: string, names: MetricName[]) => graph(title, names.map((n) => m(n, 'Sum', {}, n)));

  const fns = props.functions;
  const perFunction = (title: string, metric: (f: FieldlensFunction) => cloudwatch.IMetric) =>
    graph(title, fns.map(metric), { width: 6 });
  const rows: cloudwatch.IWidget[][] = [
    [
      new cloudwatch.TextWidget({
        markdown:
          `## fieldlens — ${props.serviceName}\n` +
          `Metrics in namespace \`${METRICS_NAMESPACE}\`, dimension \`service=${props.serviceName}\`: ` +
          Object.keys(METRICS).map((n) => `\`${n}\``).join(', ') +
          '. See docs/operations.md for what each one counts.',
        width: 24,
        height: 2,
      }),
    ],
    [
      byDimension('Documents', 'status', 'Documents by status'),
      byDimension('Fields', 'outcome', 'Fields by outcome'),
      byDimension('FieldErrors', 'errorCode', 'Failed fields by error code'),
    ],
    [latency('FieldLatency', 'Field latency'), latency('SlowestFieldLatency', 'Slowest field per image'), latency('ImageDuration', 'Image duration')],
    [
      sums('Model requests', ['ModelRequests', 'Retries', 'ReAsks', 'RateLimited']),
      byDimension('ModelErrors', 'errorCode', 'Model errors by code'),
      latency('ModelLatency', 'Model request latency'),
    ],
    [
      sums('Tokens', ['InputTokens', 'CachedInputTokens', 'OutputTokens']),
      sums('Cost (at the configured prices)', ['Cost']),
      sums('Work saved and review', ['DuplicatesSkipped', 'CacheHits', 'ReviewNeeded']),
    ],
  ];
  if (fns.length > 0) {
    rows.push([
      perFunction('Invocations', (f) => f.function.metricInvocations({ period: PERIOD, label: f.node.id })),
      perFunction('Errors', (f) => f.function.metricErrors({ period: PERIOD, label: f.node.id })),
      perFunction('Throttles', (f) => f.function.metricThrottles({ period: PERIOD, label: f.node.id })),
      perFunction('Duration (max)', (f) => f.function.metricDuration({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM, label: f.node.id })),
    ]);
  }
  const platform: cloudwatch.IWidget[] = [];
  for (const machine of props.stateMachines ?? []) {
    platform.push(
      graph('Step Functions executions', [
        machine.metricStarted({ period: PERIOD }),
        machine.metricSucceeded({ period: PERIOD }),
        machine.metricFailed({ period: PERIOD }),
        machine.metricTimedOut({ period: PERIOD }),
      ]),
    );
  }
  if ((props.deadLetterQueues ?? []).length > 0) {
    platform.push(
      graph(
        'Dead-letter queue (messages visible)',
        (props.deadLetterQueues ?? []).map((q) => q.queue.metricApproximateNumberOfMessagesVisible({ period: PERIOD, statistic: cloudwatch.Stats.MAXIMUM })),
      ),
    );
  }
  if (platform.length > 0) rows.push(platform);
  rows.push([new cloudwatch.AlarmStatusWidget({ title: 'Alarms', alarms: [...alarms], width: 24, height: 4 })]);
  return rows;
}
