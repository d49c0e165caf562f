/**
 * `npm run redrive`: what each dead letter becomes (pure), and the command
 * with the real SDK clients against a loopback server speaking
 * CloudFormation, SQS, Lambda and Step Functions.
 */
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SFNClient } from '@aws-sdk/client-sfn';
import { SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { planRedrive, redriveName } from '../../local/dead-letters';
import { parseRedriveArgs, redriveCommand, type RedriveClients } from '../../local/redrive-command';
import { loopbackClientConfig, startAwsLoopback, type AwsLoopback } from '../support/aws-loopback';

const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:Fieldlens-OnUpload';
const S3_EVENT = { Records: [{ eventSource: 'aws:s3', eventName: 'ObjectCreated:Put', s3: { bucket: { name: 'labels' }, object: { key: 'incoming/a.png' } } }] };
const EVENTBRIDGE_EVENT = { source: 'aws.s3', 'detail-type': 'Object Created', detail: { bucket: { name: 'labels' }, object: { key: 'incoming/b c.png' } } };
const NOW = new Date('2026-05-06T07:08:09Z');

/** Lambda's on-failure record of an asynchronous invocation, as its SQS destination receives it. */
function onFailureRecord(payload: unknown): string {
  return JSON.stringify({
    version: '1.0',
    timestamp: '2026-05-06T07:00:00.000Z',
    requestContext: { requestId: 'r-1', functionArn: `${FUNCTION_ARN}:$LATEST`, condition: 'RetriesExhausted', approximateInvokeCount: 3 },
    requestPayload: payload,
    responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
    responsePayload: { errorType: 'ResultWriteError', errorMessage: 'cannot write' },
  });
}

/** EventBridge's Step Functions status change for a run that failed. */
function failedRun(name: string): string {
  return JSON.stringify({
    source: 'aws.states',
    'detail-type': 'Step Functions Execution Status Change',
    detail: {
      executionArn: `arn:aws:states:us-east-1:123456789012:execution:Pipeline:${name}`,
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline',
      name,
      status: 'FAILED',
      input: '{"bucket":"labels","key":"incoming/c.png","etag":"e"}',
    },
  });
}

describe('planRedrive: what each dead letter becomes', () => {
  it('sends the original event of an on-failure record to its function, without the $LATEST qualifier', () => {
    expect(planRedrive(onFailureRecord(S3_EVENT), { now: NOW })).toEqual({ kind: 'invoke', functionName: FUNCTION_ARN, payload: S3_EVENT, from: 'on-failure record' });
  });

  it('sends an undelivered EventBridge event to the stack’s function', () => {
    expect(planRedrive(JSON.stringify(EVENTBRIDGE_EVENT), { functionName: 'fn', now: NOW })).toMatchObject({ kind: 'invoke', functionName: 'fn', payload: EVENTBRIDGE_EVENT });
    expect(planRedrive(JSON.stringify(EVENTBRIDGE_EVENT), { now: NOW }).kind).toBe('unknown');
  });

  it('starts a failed run again with its input under a fresh name', () => {
    const action = planRedrive(failedRun('fl-3f2a-incoming-c-png'), { now: NOW });

    expect(action).toEqual({
      kind: 'start-execution',
      stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline',
      input: '{"bucket":"labels","key":"incoming/c.png","etag":"e"}',
      name: `r${NOW.getTime().toString(36)}-fl-3f2a-incoming-c-png`,
    });
  });

  it('leaves what it does not recognise', () => {
    expect(planRedrive('not json', { now: NOW })).toEqual({ kind: 'unknown', reason: 'the body is not JSON' });
    expect(planRedrive('{"hello":"world"}', { now: NOW }).kind).toBe('unknown');
  });

  it('keeps fresh names within 80 characters of [A-Za-z0-9_-]', () => {
    const name = redriveName('x'.repeat(90), NOW);

    expect(name.length).toBe(80);
    expect(name).toMatch(/^[A-Za-z0-9_-]+$/);
  });
});

describe('npm run redrive', () => {
  let aws: AwsLoopback;
  let clients: RedriveClients;
  beforeAll(async () => {
    aws = await startAwsLoopback();
    const config = loopbackClientConfig(aws.endpoint);
    clients = { cfn: new CloudFormationClient(config), sqs: new SQSClient(config), lambda: new LambdaClient(config), sfn: new SFNClient(config) };
  });
  afterAll(async () => {
    for (const c of Object.values(clients ?? {})) c.destroy();
    await aws?.close();
  });
  const run = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const code = await redriveCommand(argv, {}, { out: (t) => void out.push(t), err: (t) => void err.push(t) }, () => clients);
    return { code, out: out.join(''), err: err.join('') };
  };

  it('sends each dead letter back its own way, deletes what it sent and says how many', async () => {
    // Prepare
    aws.stacks.set('Direct', { DeadLetterQueueUrl: aws.queueUrl('direct-dlq'), FunctionName: 'Fieldlens-OnUpload' });
    aws.send('direct-dlq', onFailureRecord(S3_EVENT));
    aws.send('direct-dlq', JSON.stringify(EVENTBRIDGE_EVENT));
    aws.send('direct-dlq', failedRun('fl-run-1'));
    aws.send('direct-dlq', '{"something":"else"}');

    // Act
    const result = await run(['--stack', 'Direct']);

    // Assess
    expect(aws.invocations).toEqual([
      { functionName: FUNCTION_ARN, invocationType: 'Event', payload: S3_EVENT },
      { functionName: 'Fieldlens-OnUpload', invocationType: 'Event', payload: EVENTBRIDGE_EVENT },
    ]);
    expect(aws.executions).toEqual([
      expect.objectContaining({ stateMachineArn: 'arn:aws:states:us-east-1:123456789012:stateMachine:Pipeline', input: { bucket: 'labels', key: 'incoming/c.png', etag: 'e' } }),
    ]);
    expect(aws.bodies('direct-dlq')).toEqual(['{"something":"else"}']);
    expect(result.out).toContain('sent 3 back through the pipeline');
    expect(result.out).toContain('1 fresh Step Functions runs');
    expect(result.out).toContain('left 1 in the dead-letter queue');
    expect(result.code).toBe(1);
  });

  it('moves the queue trigger’s dead letters back to the event queue with an SQS redrive', async () => {
    aws.stacks.set('Queue', { DeadLetterQueueUrl: aws.queueUrl('queue-dlq'), EventQueueUrl: aws.queueUrl('events') });
    aws.send('queue-dlq', JSON.stringify(S3_EVENT));
    aws.send('queue-dlq', JSON.stringify(S3_EVENT));

    const result = await run(['--stack', 'Queue']);

    expect(result.code).toBe(0);
    expect(aws.bodies('events')).toHaveLength(2);
    expect(aws.bodies('queue-dlq')).toEqual([]);
    expect(result.out).toContain('sent 2 back through the pipeline\n  2 messages moved back to the event queue (SQS redrive)');
  });

  it('says so when the queue is empty', async () => {
    aws.stacks.set('Empty', { DeadLetterQueueUrl: aws.queueUrl('empty-dlq') });

    const result = await run(['--stack', 'Empty']);

    expect(result).toMatchObject({ code: 0, out: 'the dead-letter queue is empty: nothing to send\n' });
  });

  it('names the stack and region when the stack does not exist', async () => {
    const result = await run(['--stack', 'Nowhere']);

    expect(result.code).toBe(2);
    expect(result.err).toContain('COMMAND_INVALID: no stack named Nowhere in us-east-1');
  });

  it('refuses an unknown argument with the usage', () => {
    expect(() => parseRedriveArgs(['--queue', 'x'], {})).toThrow(/Unknown option '--queue'[\s\S]*usage: npm run redrive/);
  });
});
