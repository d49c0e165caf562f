/**
 * The starter against a loopback server that speaks the Step Functions
 * protocol, through the real SFNClient: one run per object version, and a
 * duplicate event starts nothing.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../../functions/adapters/logger';
import { createSfnClient, SfnExecutionStarter } from '../../functions/adapters/sfn-starter';
import { executionNameFor } from '../../functions/core/stepfunctions/execution-name';
import { RunStartError } from '../../functions/core/errors';
import { createSfnStartHandler, type SfnStartHandler } from '../../functions/sfn-start';
import { loadStarterConfig } from '../../functions/config';
import { loadStarterRuntime, type StarterRuntime } from '../../functions/runtime';
import { s3ObjectCreatedEvent, type S3NotificationEvent } from '../../local/s3-server';
import { BUCKET, lambdaContext, TINY_PNG } from '../support/harness';
import { answerByField } from '../support/openai-test-server';
import { startSfnRig, type SfnRig } from '../support/sfn-rig';
import { startSfnTestServer, type SfnTestServer } from '../support/sfn-test-server';

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:fieldlens-runs';
const ETAG = '9b2cf535f27731c974343645a3985328';

let server: SfnTestServer;
const logLines: string[] = [];

function starterWith(s: SfnTestServer): SfnStartHandler {
  const client = createSfnClient({
    endpoint: s.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  });
  const runtime: StarterRuntime = {
    config: loadStarterConfig({ STATE_MACHINE_ARN }),
    starter: new SfnExecutionStarter(client, STATE_MACHINE_ARN),
    logger: createJsonLogger({ level: 'debug', write: (l) => void logLines.push(l) }),
  };
  return createSfnStartHandler(async () => runtime);
}

function anEvent(key: string, etag = ETAG): S3NotificationEvent {
  return s3ObjectCreatedEvent({ bucket: BUCKET, key, size: 68, etag });
}

beforeAll(async () => {
  server = await startSfnTestServer();
});
afterAll(async () => server?.close());
afterEach(() => {
  logLines.length = 0;
});

describe('sfn-start: one run per object version', () => {
  it('starts a run named after bucket, key and ETag, with the decoded key as input', async () => {
    // Act
    const res = await starterWith(server)(anEvent('incoming/2026/a label.png'), lambdaContext());

    // Assess
    const name = executionNameFor({ bucket: BUCKET, key: 'incoming/2026/a label.png', etag: ETAG });
    const started = server.executions.find((e) => e.name === name);
    expect(started).toBeDefined();
    expect(started!.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(started!.input).toEqual({ bucket: BUCKET, key: 'incoming/2026/a label.png', etag: ETAG, size: 68 });
    expect(res.outcomes).toEqual([
      { bucket: BUCKET, key: 'incoming/2026/a label.png', outcome: { kind: 'started', name, executionArn: started!.executionArn } },
    ]);
  });

  it('starts nothing for a duplicate event: ExecutionAlreadyExists is a duplicate, not an error', async () => {
    // Prepare
    const handler = starterWith(server);
    const event = anEvent('incoming/dup.png');
    await handler(event, lambdaContext());
    const before = server.executions.length;
    const requestsBefore = server.startRequests;

    // Act
    const res = await handler(event, lambdaContext());

    // Assess
    expect(server.startRequests).toBe(requestsBefore + 1);
    expect(server.executions).toHaveLength(before);
    expect(res.outcomes[0]!.outcome).toMatchObject({ kind: 'duplicate' });
    expect(logLines.some((l) => l.includes('duplicate event'))).toBe(true);
  });

  it('starts a new run when the object is replaced (new ETag)', async () => {
    const handler = starterWith(server);
    await handler(anEvent('incoming/replaced.png', 'a'.repeat(32)), lambdaContext());

    const res = await handler(anEvent('incoming/replaced.png', 'b'.repeat(32)), lambdaContext());

    expect(res.outcomes[0]!.outcome.kind).toBe('started');
  });

  it('starts nothing for keys outside the input prefix or under the output prefix', async () => {
    const before = server.startRequests;

    const res = await starterWith(server)(
      { Records: [...anEvent('results/a.png.json').Records, ...anEvent('elsewhere/a.png').Records] },
      lambdaContext(),
    );

    expect(res.outcomes.map((o) => o.outcome)).toEqual([
      { kind: 'skipped', reason: 'under-output-prefix' },
      { kind: 'skipped', reason: 'outside-input-prefix' },
    ]);
    expect(server.startRequests).toBe(before);
  });

  it('ignores the s3:TestEvent S3 sends when the notification is configured', async () => {
    const res = await starterWith(server)({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET }, lambdaContext());

    expect(res.outcomes).toEqual([]);
  });

  it('tries every record, then fails the invocation when a start failed for another reason', async () => {
    // Prepare: the first start is refused, the second goes through.
    server.failNext(1, { status: 400, type: 'AccessDeniedException', message: 'not allowed' });
    const event = { Records: [...anEvent('incoming/denied.png').Records, ...anEvent('incoming/allowed.png').Records] };

    // Act
    const act = starterWith(server)(event, lambdaContext());

    // Assess
    await expect(act).rejects.toThrow(RunStartError);
    await expect(act).rejects.toThrow(/1 run\(s\) could not be started: not allowed/);
    expect(server.executions.some((e) => (e.input as { key: string }).key === 'incoming/allowed.png')).toBe(true);
    expect(logLines.some((l) => l.includes('run not started; the event will be retried'))).toBe(true);
  });

  it('starts an unnamed run when the event carries no ETag, rather than dropping it', async () => {
    const event = anEvent('incoming/no-etag.png');
    delete (event.Records[0]!.s3.object as { eTag?: string }).eTag;

    const res = await starterWith(server)(event, lambdaContext());

    expect(res.outcomes[0]!.outcome).toMatchObject({ kind: 'started', name: undefined });
    expect(server.executions.at(-1)!.name).toMatch(/^generated-/);
  });
});

describe('sfn-start: the real wiring', () => {
  it('reaches the endpoint in AWS_ENDPOINT_URL_SFN through loadStarterRuntime', async () => {
    // Prepare: the environment Lambda would give it, pointed at the loopback server.
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_ENDPOINT_URL_SFN: server.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    });
    try {
      const runtime = await loadStarterRuntime({ STATE_MACHINE_ARN, INPUT_PREFIX: 'in/', LOG_LEVEL: 'error' });
      const before = server.executions.length;

      // Act
      const res = await createSfnStartHandler(async () => runtime)(anEvent('in/env.png'), lambdaContext());

      // Assess
      expect(res.outcomes[0]!.outcome.kind).toBe('started');
      expect(server.executions).toHaveLength(before + 1);
    } finally {
      process.env = saved;
    }
  });

  it('names the bad variable when the configuration is wrong', () => {
    expect(() => loadStarterConfig({ STATE_MACHINE_ARN: 'fieldlens' })).toThrow(/STATE_MACHINE_ARN: expected a state machine ARN \(got "fieldlens"\)/);
    expect(() => loadStarterConfig({})).toThrow(/STATE_MACHINE_ARN: .*\(it is not set\)/);
  });
});

describe('S3 event → starter → execution → document', () => {
  let rig: SfnRig;
  let sfn: SfnTestServer;
  const runs: Array<Promise<unknown>> = [];

  beforeAll(async () => {
    rig = await startSfnRig({ model: { handler: answerByField({ name: 'Acetone' }) } });
    // Each accepted execution runs the synthesized state machine locally.
    sfn = await startSfnTestServer({ onStart: (e) => void runs.push(rig.run(e.input)) });
  });
  afterAll(async () => {
    await sfn?.close();
    await rig?.close();
  });

  it('processes an upload once, however often its event arrives', async () => {
    // Prepare
    const event = await rig.put('incoming/e2e/acetone.png', TINY_PNG);
    const starter = starterWith(sfn);

    // Act: the event, then the same event again once the run is over.
    await starter(event, lambdaContext());
    await Promise.all(runs);
    const requestsAfterFirst = rig.model.requests.length;
    await starter(event, lambdaContext());
    await Promise.all(runs);

    // Assess
    expect(sfn.executions).toHaveLength(1);
    expect(runs).toHaveLength(1);
    const doc = await rig.result('results/e2e/acetone.png.json');
    expect(doc).toMatchObject({ status: 'complete', fields: { name: 'Acetone' } });
    expect(rig.model.requests).toHaveLength(requestsAfterFirst);
  });
});
