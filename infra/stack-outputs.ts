/**
 * The outputs a user of {@link FieldlensStack} needs next: where to upload,
 * where results appear, where to look when something goes wrong.
 */
import { CfnOutput, Fn } from 'aws-cdk-lib';
import { describeBudget, describeSharedBudget } from './backfill-budget';
import { QueuePipeline } from './constructs/queue-pipeline';
import { StepFunctionsPipeline } from './constructs/stepfunctions-pipeline';
import type { FieldlensStack } from './fieldlens-stack';

/** The prefixes the outputs name, as the stack resolved them. */
export interface StackOutputPrefixes {
  readonly inputPrefix: string;
  readonly outputPrefix: string;
  /** The endpoint's capacity, for the shared budget's output. */
  readonly capacity?: number;
  /** Where the capacity came from, when the output should say it (a Bedrock quota). */
  readonly capacityNote?: string;
}

/** Adds the outputs to `stack`; those of one pipeline kind only when it is that kind. */
export function addStackOutputs(stack: FieldlensStack, { inputPrefix, outputPrefix, capacity, capacityNote }: StackOutputPrefixes): void {
  const { bucket, outputBucket, pipeline, apiKeySecret, modelNetwork } = stack;
  const budget = pipeline.budget;
  const output = (id: string, value: string, description: string) => new CfnOutput(stack, id, { value, description });
  output('BucketName', bucket.bucketName, 'The bucket to upload images to');
  output('InputUri', `s3://${bucket.bucketName}/${inputPrefix}`, 'Upload images here (bucket + input prefix)');
  output(
    'OutputUri',
    `s3://${outputBucket.bucketName}/${outputPrefix}`,
    'Results appear here: the image key without the input prefix, plus .json',
  );
  output('FunctionName', pipeline.handler.functionName, 'The function S3 invokes for each new image');
  output('LogGroupName', pipeline.logGroup.logGroupName, 'The function logs: aws logs tail <this name> --follow');
  output('DeadLetterQueueUrl', pipeline.deadLetterQueue.queueUrl, 'Events of images that could not be processed');
  // With Bedrock there is no key: the functions' roles sign the calls.
  if (apiKeySecret) {
    output(
      'ModelApiKeySecretArn',
      apiKeySecret.secretArn,
      'Put the model API key here: aws secretsmanager put-secret-value --secret-id <this ARN> --secret-string <key>',
    );
  }
  const shared = stack.sharedBudget ? describeSharedBudget(stack.sharedBudget, capacity ?? stack.sharedBudget.maxInFlight) : describeBudget(budget);
  output(
    'EndpointBudget',
    capacityNote ? `${shared} (${capacityNote})` : shared,
    stack.fleetGate
      ? `How the model endpoint capacity is shared; the fleet gate (FleetGateTable) also holds every environment together to one count of at most ${stack.fleetGate.capacity}`
      : 'How the model endpoint capacity is shared',
  );
  if (stack.fleetGate) {
    output(
      'FleetGateTable',
      stack.fleetGate.table.tableName,
      'The fleet gate: one item with the in-flight count and learnt limit every function that asks the model shares',
    );
  }
  output('DashboardName', stack.monitoring.dashboard.dashboardName, 'The CloudWatch dashboard of this deployment: documents, fields, latency, model, tokens, cost, functions, alarms');
  if (stack.monitoring.topic) {
    output('AlarmTopicArn', stack.monitoring.topic.topicArn, 'The SNS topic every alarm notifies (and tells when it is OK again)');
  }
  if (stack.backfill) {
    output(
      'BackfillStateMachineArn',
      stack.backfill.stateMachine.stateMachineArn,
      'The backfill of the objects already in the bucket: npm run backfill (it reads this output)',
    );
    output('BackfillLogGroupName', stack.backfill.logGroup.logGroupName, 'Every state of every backfill run (no state data)');
  }
  if (pipeline instanceof StepFunctionsPipeline) {
    output(
      'StateMachineArn',
      pipeline.stateMachine.stateMachineArn,
      'One execution per image: aws stepfunctions list-executions --state-machine-arn <this ARN>',
    );
    output(
      'StateMachineLogGroupName',
      pipeline.stateMachineLogGroup.logGroupName,
      'Every state of every run (no state data): aws logs tail <this name> --follow',
    );
  }
  if (modelNetwork) {
    output(
      'ModelClientSecurityGroupIds',
      Fn.join(',', modelNetwork.vpcConfig.securityGroups.map((sg) => sg.securityGroupId)),
      "Security groups of the functions that call the model: let them in on the model endpoint's port",
    );
  }
  if (pipeline instanceof QueuePipeline) {
    output('EventQueueUrl', pipeline.eventQueue.queueUrl, 'S3 events waiting to be processed');
  }
}
