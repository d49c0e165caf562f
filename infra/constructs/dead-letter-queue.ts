/**
 * A dead-letter queue that someone notices: encrypted, kept as long as SQS
 * allows, and an alarm as soon as it holds a message.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Props of {@link MonitoredDeadLetterQueue}. */
export interface MonitoredDeadLetterQueueProps {
  /** What ends up in this queue, for the alarm's description. */
  readonly purpose: string;
  /**
   * How long a message is kept.
   * @default Duration.days(14) (the SQS maximum)
   */
  readonly retentionPeriod?: Duration;
}

/**
 * An SQS queue (SQS-managed encryption, TLS only, 14-day retention) and a
 * CloudWatch alarm on `ApproximateNumberOfMessagesVisible > 0`.
 *
 * The alarm has no action: subscribe it to your own SNS topic
 * (`alarm.addAlarmAction(new SnsAction(topic))`).
 */
export class MonitoredDeadLetterQueue extends Construct {
  /** The queue. */
  public readonly queue: sqs.Queue;
  /** Alarms when the queue holds at least one message. */
  public readonly alarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: MonitoredDeadLetterQueueProps) {
    super(scope, id);
    this.queue = new sqs.Queue(this, 'Queue', {
      // SQS-managed keys: nothing to grant to the senders (Lambda, S3) and no key to pay for.
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: props.retentionPeriod ?? Duration.days(14),
    });
    this.alarm = new cloudwatch.Alarm(this, 'NotEmpty', {
      alarmDescription: `${props.purpose} At least one message is waiting in the dead-letter queue; each one is an image without a result document.`,
      metric: this.queue.metricApproximateNumberOfMessagesVisible({
        period: Duration.minutes(1),
        statistic: cloudwatch.Stats.MAXIMUM,
      }),
      threshold: 0,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      // An idle queue publishes no data points; that is the healthy case.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
