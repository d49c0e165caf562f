import { describe, expect, it } from 'vitest';
import { buildStack, logicalId } from './support';

describe('trigger=eventbridge', () => {
  it('turns on EventBridge notifications of a bucket it creates, and adds no S3 notification', () => {
    // Act
    const { template } = buildStack({ trigger: 'eventbridge' });

    // Assess
    const notifications = Object.values(template.findResources('Custom::S3BucketNotifications'));
    expect(notifications).toHaveLength(1);
    expect(notifications[0]!.Properties.NotificationConfiguration).toEqual({ EventBridgeConfiguration: {} });
  });

  it('leaves an existing bucket’s notification configuration alone', () => {
    const { template } = buildStack({ trigger: 'eventbridge', existingBucketName: 'my-images' });

    template.resourceCountIs('Custom::S3BucketNotifications', 0);
  });

  it('matches Object Created events of the bucket under the input prefix, for the function', () => {
    // Act
    const { template } = buildStack({ trigger: 'eventbridge', existingBucketName: 'my-images', inputPrefix: 'uploads/', outputPrefix: 'out/' });

    // Assess
    const fn = logicalId(template, 'AWS::Lambda::Function', 'PipelineOnUpload');
    const dlq = logicalId(template, 'AWS::SQS::Queue', 'DeadLetters');
    template.hasResourceProperties('AWS::Events::Rule', {
      EventPattern: {
        source: ['aws.s3'],
        'detail-type': ['Object Created'],
        detail: { bucket: { name: ['my-images'] }, object: { key: [{ prefix: 'uploads/' }] } },
      },
      Targets: [
        {
          Arn: { 'Fn::GetAtt': [fn, 'Arn'] },
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [dlq, 'Arn'] } },
          RetryPolicy: { MaximumEventAgeInSeconds: 86400, MaximumRetryAttempts: 185 },
        },
      ],
    });
    template.hasResourceProperties('AWS::Lambda::Permission', { Principal: 'events.amazonaws.com', FunctionName: { 'Fn::GetAtt': [fn, 'Arn'] } });
  });

  it('keeps the direct trigger’s budget: reserved concurrency and asynchronous retries', () => {
    const { template } = buildStack({ trigger: 'eventbridge' });

    const fn = template.toJSON().Resources[logicalId(template, 'AWS::Lambda::Function', 'PipelineOnUpload')].Properties;
    expect(fn.ReservedConcurrentExecutions).toBe(2);
    template.hasResourceProperties('AWS::Lambda::EventInvokeConfig', { MaximumEventAgeInSeconds: 21600, MaximumRetryAttempts: 2 });
  });

  it('starts Step Functions runs from the rule with fanout=stepfunctions', () => {
    const { template } = buildStack({ trigger: 'eventbridge', fanout: 'stepfunctions' });

    const starter = logicalId(template, 'AWS::Lambda::Function', 'PipelineStartFunction');
    const rules = Object.values(template.findResources('AWS::Events::Rule')).filter((r) =>
      JSON.stringify(r.Properties.EventPattern).includes('Object Created'),
    );
    expect(rules).toHaveLength(1);
    expect(rules[0]!.Properties.Targets[0].Arn).toEqual({ 'Fn::GetAtt': [starter, 'Arn'] });
  });

  it('lets the dead-letter queue receive undeliverable events from that rule only', () => {
    const { template } = buildStack({ trigger: 'eventbridge' });

    const rule = logicalId(template, 'AWS::Events::Rule', 'ObjectCreated');
    const statements = Object.values(template.findResources('AWS::SQS::QueuePolicy')).flatMap(
      (p) => p.Properties.PolicyDocument.Statement as Array<Record<string, any>>,
    );
    expect(statements).toContainEqual(
      expect.objectContaining({
        Effect: 'Allow',
        Principal: { Service: 'events.amazonaws.com' },
        Action: 'sqs:SendMessage',
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rule, 'Arn'] } } },
      }),
    );
  });
});
