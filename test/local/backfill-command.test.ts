/**
 * `npm run backfill`: its arguments and messages, the progress display, the
 * local mode end to end (s3rver and the OpenAI test server on loopback), and
 * the deployed mode with the real SDK clients against a loopback server that
 * speaks CloudFormation and Step Functions (and s3rver for the Map Run's results).
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { CloudFormationClient } from '@aws-sdk/client-cloudformation';
import { SFNClient } from '@aws-sdk/client-sfn';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { ErrorCode } from '../../functions/core/errors';
import { parseBackfillArgs } from '../../local/backfill-args';
import { backfillCommand } from '../../local/backfill-command';
import { executionName, runDeployedBackfill, tallyOfResultFile } from '../../local/backfill-deployed';
import { duration, progressLine, summary } from '../../local/progress';
import { loopbackClientConfig, startAwsLoopback, type AwsLoopback } from '../support/aws-loopback';
import { BUCKET, labelHandler, localS3Env, startRig, distinctPng, type Rig } from '../support/harness';

const F = DEFAULT_LABEL_FIELDS.length;

describe('npm run backfill: arguments', () => {
  it('defaults to every object that needs work, for real, against the deployed stack', () => {
    expect(parseBackfillArgs([], {})).toMatchObject({ only: 'all', dryRun: false, mode: 'deployed', stack: 'Fieldlens', capacity: 10, share: 0.5 });
  });

  it('runs locally with --local or when AWS_ENDPOINT_URL_S3 is set', () => {
    expect(parseBackfillArgs(['--local'], {}).mode).toBe('local');
    expect(parseBackfillArgs([], { AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:4568' }).mode).toBe('local');
  });

  it('reads --prefix, --only, --dry-run, --stack and --inventory', () => {
    const args = parseBackfillArgs(['--prefix', 'incoming/2025/', '--only', 'stale', '--dry-run', '--stack', 'Labels', '--inventory', 's3://inv-bucket/reports/labels/manifest.json'], {});

    expect(args).toMatchObject({ prefix: 'incoming/2025/', only: 'stale', dryRun: true, stack: 'Labels', inventory: { bucket: 'inv-bucket', key: 'reports/labels/manifest.json' } });
  });

  it.each<[string[], Record<string, string>, RegExp]>([
    [['--only', 'everything'], {}, /--only: expected one of missing, stale, retryable, all, got "everything"/],
    [['--prefix', 'incoming/*'], {}, /--prefix: expected a key prefix/],
    [['--bogus'], {}, /Unknown option '--bogus'[\s\S]*usage: npm run backfill/],
    [['extra'], {}, /Unexpected argument 'extra'/],
    [['--capacity', '4'], {}, /--capacity: only for the local run/],
    [['--local', '--capacity', '0'], {}, /--capacity: expected a whole number from 1 to 1000, got "0"/],
    [['--local', '--share', '1'], {}, /--share: expected a number above 0 and below 1/],
    [['--local', '--inventory', 's3://b-b-b/m.json'], {}, /--inventory: S3 Inventory reports are read by the deployed state machine only/],
    [['--inventory', 'inventory/manifest.json'], {}, /--inventory: expected s3:\/\/bucket\/path\/manifest.json/],
  ])('refuses %j with a message saying what it expected', (argv, env, message) => {
    expect(() => parseBackfillArgs(argv, env)).toThrow(message);
  });

  it('exits 2 with the message, and 0 with the usage for --help', async () => {
    const err: string[] = [];
    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };

    expect(await backfillCommand(['--only', 'some'], {}, io)).toBe(2);
    expect(await backfillCommand(['--help'], {}, io)).toBe(0);
    expect(err.join('')).toContain('--only: expected one of');
    expect(out.join('')).toContain('usage: npm run backfill');
  });
});

describe('the progress display', () => {
  it('shows items done of the total, the rate, the time left and the outcomes', () => {
    const line = progressLine({ done: 1200, total: 10_000, startedAt: 0, now: 30_000, outcomes: { current: 20, 'written:complete': 1180 } });

    expect(line).toBe('1,200/10,000 items (12%)  40/s  ETA 3m 40s  written:complete 1,180 · current 20');
  });

  it('shows the elapsed time once done, and a total not known yet', () => {
    expect(progressLine({ done: 10, total: 10, startedAt: 0, now: 5_000 })).toBe('10/10 items (100%)  2.0/s  in 5s');
    expect(progressLine({ done: 0, total: undefined, startedAt: 0, now: 1_000 })).toBe('0 items  0.0/s  in 1s');
  });

  it('formats long times in hours and days', () => {
    expect(duration(3_700_000)).toBe('1h 01m');
    expect(duration(3 * 86_400_000 + 7_200_000)).toBe('3d 02h');
  });

  it('sums up a dry run with the model calls it would cost', () => {
    const text = summary({ items: 5, outcomes: { current: 2, 'would-compute:missing': 3 }, modelCalls: 15, failures: [] }, { dryRun: true, elapsedMs: 1000 });

    expect(text).toContain('dry run: 5 objects');
    expect(text).toContain('would compute 3 objects: at least 15 model calls');
  });
});

describe('npm run backfill --local', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
    for (let i = 0; i < 5; i++) await rig.put(`incoming/local/${i}.png`, distinctPng(`local/${i}`));
    await rig.put('incoming/other/x.png', distinctPng('other/x'));
  });
  afterAll(async () => rig?.close());
  beforeEach(() => {
    rig.model.reset();
    rig.model.setHandler(labelHandler());
  });

  const run = async (argv: string[]) => {
    const out: string[] = [];
    const err: string[] = [];
    const env = { ...localS3Env(rig.s3.endpoint), FIELDLENS_BUCKET: BUCKET, MODEL_BASE_URL: rig.model.baseUrl, MODEL_NAME: 'test-model', LOG_LEVEL: 'error' };
    const code = await backfillCommand(argv, env, { out: (t) => void out.push(t), err: (t) => void err.push(t) });
    return { code, out: out.join(''), err: err.join('') };
  };

  it('counts in a dry run, computes the prefix with the budget, and costs nothing the second time', async () => {
    // Act
    const dry = await run(['--prefix', 'incoming/local/', '--dry-run', '--batch-size', '2']);
    const requestsAfterDry = rig.model.requests.length;
    const first = await run(['--prefix', 'incoming/local/', '--batch-size', '2', '--capacity', '10']);
    const requestsAfterFirst = rig.model.requests.length;
    const second = await run(['--prefix', 'incoming/local/', '--batch-size', '2']);

    // Assess
    expect(dry.code).toBe(0);
    expect(dry.out).toContain(`would compute 5 objects: at least ${5 * F} model calls`);
    expect(requestsAfterDry).toBe(0);
    expect(first.code).toBe(0);
    expect(first.err).toContain(`budget: backfill ${F} requests per image x 1 images at once`);
    expect(first.err).toMatch(/5\/5 items \(100%\)/);
    expect(first.out).toMatch(/written:complete\s+5/);
    expect(requestsAfterFirst).toBe(5 * F);
    expect(rig.model.maxInFlight).toBeLessThanOrEqual(F);
    expect(second.out).toMatch(/current\s+5/);
    expect(second.out).toContain('computed 0 objects with 0 model calls');
    expect(rig.model.requests.length).toBe(requestsAfterFirst);
    expect((await rig.result('results/other/x.png.json'))).toBeUndefined();
  });

  it('refuses a prefix outside the input prefix', async () => {
    const result = await run(['--prefix', 'private/']);

    expect(result.code).toBe(2);
    expect(result.err).toContain(`${ErrorCode.COMMAND_INVALID}: --prefix "private/" lies outside the input prefix "incoming/"`);
  });
});

describe('npm run backfill against a deployed stack', () => {
  let aws: AwsLoopback;
  let rig: Rig;
  let cfn: CloudFormationClient;
  let sfn: SFNClient;
  const ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:FieldlensBackfill';
  beforeAll(async () => {
    [aws, rig] = await Promise.all([startAwsLoopback(), startRig()]);
    cfn = new CloudFormationClient(loopbackClientConfig(aws.endpoint));
    sfn = new SFNClient(loopbackClientConfig(aws.endpoint));
  });
  afterAll(async () => {
    cfn?.destroy();
    sfn?.destroy();
    await Promise.all([aws?.close(), rig?.close()]);
  });
  const deps = (looks: string[] = []) => ({
    cfn,
    sfn,
    s3: rig.client,
    onStarted: () => undefined,
    onProgress: (p: { done: number; total: number | undefined }) => void looks.push(`${p.done}/${p.total}`),
    sleep: async () => undefined,
  });

  it('names the stack and region when the stack does not exist', async () => {
    const act = runDeployedBackfill(parseBackfillArgs(['--stack', 'Nowhere'], {}), deps());

    await expect(act).rejects.toMatchObject({ code: ErrorCode.COMMAND_INVALID, message: expect.stringContaining('no stack named Nowhere in us-east-1') });
  });

  it('says how to deploy the backfill when the stack has none', async () => {
    aws.stacks.set('NoBackfill', { BucketName: 'labels', InputUri: 's3://labels/incoming/' });

    const act = runDeployedBackfill(parseBackfillArgs(['--stack', 'NoBackfill'], {}), deps());

    await expect(act).rejects.toThrow(/stack NoBackfill in us-east-1 has no BackfillStateMachineArn output: deploy it with the backfill on \(npx cdk deploy -c backfill=true/);
  });

  it('starts the run with the arguments, follows the Map Run and sums the result files', async () => {
    // Prepare: the stack, the run's looks, and its results as the ResultWriter writes them
    aws.stacks.set('Fieldlens', { BackfillStateMachineArn: ARN, InputUri: 's3://labels/incoming/' });
    const manifestKey = 'results/.fieldlens/backfill/run-1/manifest.json';
    const put = (key: string, body: unknown) => rig.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: JSON.stringify(body) }));
    await put(manifestKey, { ResultFiles: { SUCCEEDED: [{ Key: 'results/.fieldlens/backfill/run-1/SUCCEEDED_0.json', Size: 1 }], FAILED: [] } });
    await put('results/.fieldlens/backfill/run-1/SUCCEEDED_0.json', [
      { items: 3, outcomes: { current: 1, 'written:complete': 2 }, modelCalls: 10, failures: [] },
      { Output: JSON.stringify({ items: 2, outcomes: { failed: 1, current: 1 }, modelCalls: 0, failures: [{ key: 'incoming/x.png', code: 'OBJECT_READ_FAILED', message: 'SlowDown' }] }) },
    ]);
    aws.scriptNextExecution([
      { status: 'RUNNING', itemCounts: { total: 5, succeeded: 0 } },
      { status: 'RUNNING', itemCounts: { total: 5, succeeded: 3 } },
      { status: 'SUCCEEDED', itemCounts: { total: 5, succeeded: 5 }, output: { ResultWriterDetails: { Bucket: BUCKET, Key: manifestKey } } },
    ]);
    const looks: string[] = [];

    // Act
    const result = await runDeployedBackfill(parseBackfillArgs(['--prefix', 'incoming/2025/', '--only', 'missing'], {}), deps(looks));

    // Assess
    expect(aws.executions.at(-1)).toMatchObject({ stateMachineArn: ARN, input: { prefix: 'incoming/2025/', only: 'missing', dryRun: false, source: 'list' } });
    expect(aws.executions.at(-1)!.name).toMatch(/^backfill-\d{8}T\d{6}-[a-z0-9]+$/);
    expect(looks).toEqual(['0/5', '3/5', '5/5']);
    expect(result.status).toBe('SUCCEEDED');
    expect(result.tally).toMatchObject({ items: 5, outcomes: { current: 2, 'written:complete': 2, failed: 1 }, modelCalls: 10 });
    expect(result.tally.failures).toEqual([{ key: 'incoming/x.png', code: 'OBJECT_READ_FAILED', message: 'SlowDown' }]);
  });

  it('reports a run that failed with its error and the items of failed batches', async () => {
    aws.stacks.set('Fieldlens', { BackfillStateMachineArn: ARN, InputUri: 's3://labels/incoming/' });
    aws.scriptNextExecution([{ status: 'FAILED', itemCounts: { total: 100, succeeded: 90, failed: 10 }, error: 'States.ExceedToleratedFailureThreshold', cause: 'too many' }]);

    const result = await runDeployedBackfill(parseBackfillArgs([], {}), deps());

    expect(result).toMatchObject({ status: 'FAILED', failedItems: 10, error: 'States.ExceedToleratedFailureThreshold: too many' });
  });

  it('refuses a prefix outside the stack’s input prefix before starting anything', async () => {
    aws.stacks.set('Fieldlens', { BackfillStateMachineArn: ARN, InputUri: 's3://labels/incoming/' });
    const before = aws.executions.length;

    await expect(runDeployedBackfill(parseBackfillArgs(['--prefix', 'private/'], {}), deps())).rejects.toThrow(/lies outside the stack's input prefix "incoming\/"/);
    expect(aws.executions.length).toBe(before);
  });

  it('reads a failed batch from a FAILED result file as one failure', () => {
    const tally = tallyOfResultFile('FAILED', [{ Error: 'BackfillBatchError', Cause: 'every item of the batch failed' }]);

    expect(tally).toMatchObject({ items: 0, outcomes: { 'batch-failed': 1 }, failures: [{ code: ErrorCode.BACKFILL_BATCH_FAILED, message: 'BackfillBatchError: every item of the batch failed' }] });
  });

  it('names executions readably, within Step Functions’ limits', () => {
    expect(executionName(new Date('2026-03-04T05:06:07.890Z'), 'abc123')).toBe('backfill-20260304T050607-abc123');
  });
});
