/**
 * The starter against a loopback server that speaks the Step Functions
 * protocol (with StartExecution's name rules), through the real SFNClient,
 * with its result check against s3rver: one run per piece of work, a
 * duplicate event starts nothing, a retry or a changed configuration does.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadStarterConfig } from '../../functions/config';
import { RunStartError } from '../../functions/core/errors';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { configFingerprint } from '../../functions/core/fingerprint';
import { RESULT_METADATA } from '../../functions/core/result-writer';
import { executionNameFor } from '../../functions/core/stepfunctions/execution-name';
import { loadStarterRuntime } from '../../functions/runtime';
import { createSfnStartHandler } from '../../functions/sfn-start';
import { s3ObjectCreatedEvent, type S3NotificationEvent } from '../../local/s3-server';
import { BUCKET, labelHandler, LABEL_ANSWERS, lambdaContext, TINY_PNG } from '../support/harness';
import { startSfnRig, STATE_MACHINE_ARN, type SfnRig } from '../support/sfn-rig';
import { startSfnTestServer, type SfnTestServer } from '../support/sfn-test-server';

const ETAG = '9b2cf535f27731c974343645a3985328';
/** The fingerprint the rig's runtime computes: the built-in fields, 'test-model', json_schema. */
const FINGERPRINT = configFingerprint({ fields: DEFAULT_LABEL_FIELDS, modelName: 'test-model', responseFormat: 'json_schema' });

let rig: SfnRig;
let server: SfnTestServer;

function anEvent(key: string, etag = ETAG): S3NotificationEvent {
  return s3ObjectCreatedEvent({ bucket: BUCKET, key, size: 68, etag });
}

/** Stores a result for `key` whose metadata says it is for `etag` under the rig's configuration. */
async function putResult(key: string, state: 'final' | 'retryable', runs = 1, etag = ETAG): Promise<void> {
  await rig.client.send(
    new PutObjectCommand({
      Bucket: BUCKET,
      Key: key,
      Body: '{}',
      Metadata: {
        [RESULT_METADATA.sourceEtag]: etag,
        [RESULT_METADATA.fingerprint]: FINGERPRINT,
        [RESULT_METADATA.state]: state,
        [RESULT_METADATA.runs]: String(runs),
      },
    }),
  );
}

beforeAll(async () => {
  rig = await startSfnRig();
  server = await startSfnTestServer();
});
afterAll(async () => {
  await server?.close();
  await rig?.close();
});
afterEach(() => {
  rig.logLines.length = 0;
});

describe('sfn-start: one run per piece of work', () => {
  it('starts a run named after bucket, key, ETag, fingerprint and generation 0, with the delivery in its input', async () => {
    // Act
    const res = await rig.starterWith(server)(anEvent('incoming/2026/a label.png'), lambdaContext(60_000, 'req-a'));

    // Assess
    const name = executionNameFor({ bucket: BUCKET, key: 'incoming/2026/a label.png', etag: ETAG, fingerprint: FINGERPRINT, generation: 0 });
    const started = server.executions.find((e) => e.name === name);
    expect(started).toBeDefined();
    expect(started!.stateMachineArn).toBe(STATE_MACHINE_ARN);
    expect(started!.input).toEqual({ bucket: BUCKET, key: 'incoming/2026/a label.png', etag: ETAG, size: 68, generation: 0, delivery: 'req-a/0' });
    expect(res.outcomes).toEqual([
      { bucket: BUCKET, key: 'incoming/2026/a label.png', outcome: { kind: 'started', name, executionArn: started!.executionArn, generation: 0 } },
    ]);
  });

  it('starts nothing for a second delivery while the first run is going, and logs it as a duplicate', async () => {
    // Prepare: the first delivery's run stays open.
    const handler = rig.starterWith(server);
    const event = anEvent('incoming/dup.png');
    await handler(event, lambdaContext(60_000, 'req-first'));
    const before = server.executions.length;
    const requestsBefore = server.startRequests;

    // Act: S3 delivers the event again, to another invocation.
    const res = await handler(event, lambdaContext(60_000, 'req-second'));

    // Assess
    expect(server.startRequests).toBe(requestsBefore + 1);
    expect(server.executions).toHaveLength(before);
    expect(res.outcomes[0]!.outcome).toMatchObject({ kind: 'duplicate', because: 'execution-exists' });
    expect(rig.logLines.some((l) => l.includes('duplicate event: a run for this version, configuration and result exists'))).toBe(true);
    expect(rig.logLines.some((l) => l.includes('req-second') && l.includes('run started'))).toBe(false);
  });

  it("finds its own run again when Lambda retries the same invocation (same request id, same input)", async () => {
    const handler = rig.starterWith(server);
    const event = anEvent('incoming/retried.png');
    const first = await handler(event, lambdaContext(60_000, 'req-retried'));

    const again = await handler(event, lambdaContext(60_000, 'req-retried'));

    expect(again.outcomes[0]!.outcome).toEqual(first.outcomes[0]!.outcome);
    expect(server.executions.filter((e) => (e.input as { key: string }).key === 'incoming/retried.png')).toHaveLength(1);
  });

  it('starts nothing once the run has ended, whatever the input: the name stays taken', async () => {
    const handler = rig.starterWith(server);
    const event = anEvent('incoming/ended.png');
    const first = await handler(event, lambdaContext(60_000, 'req-ended'));
    server.finish((first.outcomes[0]!.outcome as { name: string }).name, 'FAILED');

    const again = await handler(event, lambdaContext(60_000, 'req-ended'));

    expect(again.outcomes[0]!.outcome).toMatchObject({ kind: 'duplicate', because: 'execution-exists' });
  });

  it('starts nothing, and asks Step Functions nothing, when a final result for this version and configuration exists', async () => {
    await putResult('results/final.png.json', 'final');
    const requestsBefore = server.startRequests;

    const res = await rig.starterWith(server)(anEvent('incoming/final.png'), lambdaContext(60_000, 'req-final'));

    expect(res.outcomes[0]!.outcome).toEqual({ kind: 'duplicate', because: 'final-result', resultKey: 'results/final.png.json' });
    expect(server.startRequests).toBe(requestsBefore);
    expect(rig.logLines.some((l) => l.includes('duplicate event: a final result for this version and configuration exists'))).toBe(true);
  });

  it("names the run after a retryable result's generation, so a retry is not taken for a duplicate", async () => {
    // Prepare: the first run started, then wrote a retryable document.
    const handler = rig.starterWith(server);
    const event = anEvent('incoming/retry.png');
    const first = await handler(event, lambdaContext(60_000, 'req-1st'));
    await putResult('results/retry.png.json', 'retryable', 1);

    // Act
    const second = await handler(event, lambdaContext(60_000, 'req-2nd'));

    // Assess
    expect(second.outcomes[0]!.outcome).toMatchObject({ kind: 'started', generation: 1 });
    expect((second.outcomes[0]!.outcome as { name: string }).name).not.toBe((first.outcomes[0]!.outcome as { name: string }).name);
  });

  it('starts a new run when the object is replaced (new ETag) or the configuration changes (new fingerprint)', async () => {
    const event = (etag: string) => anEvent('incoming/replaced.png', etag);
    await rig.starterWith(server)(event('a'.repeat(32)), lambdaContext(60_000, 'req-x'));
    await putResult('results/replaced.png.json', 'final', 1, 'a'.repeat(32));

    const replaced = await rig.starterWith(server)(event('b'.repeat(32)), lambdaContext(60_000, 'req-y'));
    const reconfigured = await rig.starterWith(server, { MODEL_RESPONSE_FORMAT: 'json_object' })(event('a'.repeat(32)), lambdaContext(60_000, 'req-z'));

    expect(replaced.outcomes[0]!.outcome.kind).toBe('started');
    expect(reconfigured.outcomes[0]!.outcome.kind).toBe('started');
  });

  it('starts nothing for keys outside the input prefix or under the output prefix', async () => {
    const before = server.startRequests;

    const res = await rig.starterWith(server)(
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
    const res = await rig.starterWith(server)({ Service: 'Amazon S3', Event: 's3:TestEvent', Bucket: BUCKET }, lambdaContext());

    expect(res.outcomes).toEqual([]);
  });

  it('tries every record, then fails the invocation when a start failed for another reason', async () => {
    // Prepare: the first start is refused, the second goes through.
    server.failNext(1, { status: 400, type: 'AccessDeniedException', message: 'not allowed' });
    const event = { Records: [...anEvent('incoming/denied.png').Records, ...anEvent('incoming/allowed.png').Records] };

    // Act
    const act = rig.starterWith(server)(event, lambdaContext());

    // Assess
    await expect(act).rejects.toThrow(RunStartError);
    await expect(act).rejects.toThrow(/1 run\(s\) could not be started: not allowed/);
    expect(server.executions.some((e) => (e.input as { key: string }).key === 'incoming/allowed.png')).toBe(true);
    expect(rig.logLines.some((l) => l.includes('run not started; the event will be retried'))).toBe(true);
  });

  it('starts an unnamed run when the event carries no ETag, rather than dropping it', async () => {
    const event = anEvent('incoming/no-etag.png');
    delete (event.Records[0]!.s3.object as { eTag?: string }).eTag;

    const res = await rig.starterWith(server)(event, lambdaContext());

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
      const runtime = await loadStarterRuntime(
        { STATE_MACHINE_ARN, MODEL_NAME: 'test-model', INPUT_PREFIX: 'in/', LOG_LEVEL: 'error' },
        { s3Client: rig.client },
      );
      const before = server.executions.length;

      // Act
      const res = await createSfnStartHandler(async () => runtime)(anEvent('in/env.png'), lambdaContext());

      // Assess
      expect(res.outcomes[0]!.outcome.kind).toBe('started');
      expect(server.executions).toHaveLength(before + 1);
      expect(runtime.settings.fingerprint).toBe(FINGERPRINT);
    } finally {
      process.env = saved;
    }
  });

  it('names the bad variable when the configuration is wrong', async () => {
    expect(() => loadStarterConfig({ STATE_MACHINE_ARN: 'fieldlens' })).toThrow(/STATE_MACHINE_ARN: expected a state machine ARN \(got "fieldlens"\)/);
    expect(() => loadStarterConfig({})).toThrow(/STATE_MACHINE_ARN: .*\(it is not set\)/);
    // The fingerprint needs the model's name; the endpoint is not needed.
    await expect(loadStarterRuntime({ STATE_MACHINE_ARN }, { s3Client: rig.client })).rejects.toThrow(/MODEL_NAME: .*\(it is not set\)/);
  });
});

describe('S3 event → starter → execution → document', () => {
  let sfn: SfnTestServer;
  const runs: Array<Promise<unknown>> = [];
  /** The task handlers' extra environment; the starter gets the same. */
  let env: Record<string, string> = {};
  /** Runs wait for it before they start (to deliver an event again while one is going). */
  let gate: Promise<void> = Promise.resolve();

  beforeAll(async () => {
    rig.machine();
    // Each accepted execution runs the synthesized state machine locally; it closes when the run ends.
    sfn = await startSfnTestServer({
      onStart: (e) => {
        const runEnv = env;
        const run = gate.then(() => rig.run(e.input, { env: runEnv }));
        runs.push(run);
        return run.then((r) => {
          if (r.error) throw r.error;
        });
      },
    });
  });
  beforeEach(() => {
    env = {};
    gate = Promise.resolve();
    rig.model.reset();
    rig.model.setHandler(labelHandler());
  });
  afterAll(async () => {
    await sfn?.close();
  });

  it('processes an upload once, however often its event arrives', async () => {
    // Prepare
    const event = await rig.put('incoming/e2e/acetone.png', TINY_PNG);
    const starter = rig.starterWith(sfn);
    const executionsBefore = sfn.executions.length;

    // Act: the event, then the same event again once the run is over.
    await starter(event, lambdaContext(60_000, 'req-e2e-1'));
    await Promise.all(runs);
    const requestsAfterFirst = rig.model.requests.length;
    const again = await starter(event, lambdaContext(60_000, 'req-e2e-2'));
    await Promise.all(runs);

    // Assess
    expect(sfn.executions).toHaveLength(executionsBefore + 1);
    expect(again.outcomes[0]!.outcome).toMatchObject({ kind: 'duplicate', because: 'final-result' });
    const doc = await rig.result('results/e2e/acetone.png.json');
    expect(doc).toMatchObject({ status: 'complete', fields: LABEL_ANSWERS });
    expect(rig.model.requests).toHaveLength(requestsAfterFirst);
  });

  it('reports a delivery that arrives while the first run is still going as a duplicate; one run asks the model', async () => {
    // Prepare: the run waits until the second delivery is in.
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    const event = await rig.put('incoming/e2e/while-running.png', TINY_PNG);
    const starter = rig.starterWith(sfn);

    // Act
    const first = await starter(event, lambdaContext(60_000, 'req-run-1'));
    const second = await starter(event, lambdaContext(60_000, 'req-run-2'));
    open();
    await Promise.all(runs);

    // Assess
    expect(first.outcomes[0]!.outcome.kind).toBe('started');
    expect(second.outcomes[0]!.outcome).toMatchObject({ kind: 'duplicate', because: 'execution-exists' });
    expect(rig.model.requests).toHaveLength(DEFAULT_LABEL_FIELDS.length);
    expect(await rig.result('results/e2e/while-running.png.json')).toMatchObject({ status: 'complete' });
  });

  it('retries after a retryable document under a new name, asking only the failed field, and ends complete', async () => {
    // Prepare: the first run's suppliers gets 503, without transport retries.
    env = { MODEL_MAX_RETRIES: '0' };
    rig.model.setHandler(labelHandler({ suppliers: () => ({ kind: 'status', status: 503 }) }));
    const event = await rig.put('incoming/e2e/retry.png', TINY_PNG);
    const starter = rig.starterWith(sfn, env);
    const first = await starter(event, lambdaContext(60_000, 'req-retry-1'));
    await Promise.all(runs);
    expect(await rig.result('results/e2e/retry.png.json')).toMatchObject({ status: 'partial', retryable: true, runs: 1 });
    rig.model.reset();
    rig.model.setHandler(labelHandler());

    // Act: a later event for the same object version.
    const second = await starter(event, lambdaContext(60_000, 'req-retry-2'));
    await Promise.all(runs);

    // Assess
    expect(second.outcomes[0]!.outcome).toMatchObject({ kind: 'started', generation: 1 });
    expect((second.outcomes[0]!.outcome as { name: string }).name).not.toBe((first.outcomes[0]!.outcome as { name: string }).name);
    expect(rig.model.requests.map((r) => r.field)).toEqual(['suppliers']);
    expect(await rig.result('results/e2e/retry.png.json')).toMatchObject({ status: 'complete', retryable: false, runs: 2, fields: LABEL_ANSWERS });
  });

  it('recomputes a finished image when FIELDS changes: a new name, a new run, a new document', async () => {
    // Prepare: a complete document under the built-in fields.
    const event = await rig.put('incoming/e2e/reconfigured.png', TINY_PNG);
    await rig.starterWith(sfn)(event, lambdaContext(60_000, 'req-conf-1'));
    await Promise.all(runs);
    const before = (await rig.result('results/e2e/reconfigured.png.json'))!;
    rig.model.reset();

    // Act: two fields only.
    env = { FIELDS: JSON.stringify(DEFAULT_LABEL_FIELDS.slice(0, 2)) };
    const res = await rig.starterWith(sfn, env)(event, lambdaContext(60_000, 'req-conf-2'));
    await Promise.all(runs);

    // Assess
    expect(res.outcomes[0]!.outcome.kind).toBe('started');
    const after = (await rig.result('results/e2e/reconfigured.png.json'))!;
    expect(Object.keys(after.fields)).toEqual(DEFAULT_LABEL_FIELDS.slice(0, 2).map((f) => f.name));
    expect(after.fingerprint).not.toBe(before.fingerprint);
    expect(rig.model.requests).toHaveLength(2);
  });
});
