/**
 * Tracing: the on-upload handler with POWERTOOLS_TRACE_ENABLED=true, in
 * the environment Lambda gives a traced function (a trace header, the task
 * root), sends its subsegments to a UDP socket on loopback standing in for
 * the X-Ray daemon. The invocation, each model request and each S3 call
 * must be among them.
 */
import { createSocket, type Socket } from 'node:dgram';
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labelHandler, lambdaContext, startRig, TINY_PNG, type Rig } from './support/harness';

interface XraySubsegment {
  readonly name: string;
  readonly namespace?: string;
  readonly parent_id?: string;
  readonly id: string;
  readonly trace_id?: string;
  readonly annotations?: Record<string, unknown>;
  readonly aws?: { readonly operation?: string };
  readonly subsegments?: readonly XraySubsegment[];
}

const TRACE_ID = '1-5759e988-bd862e3fe1be46a994272793';
const LAMBDA_ENV = {
  LAMBDA_TASK_ROOT: '/var/task',
  AWS_EXECUTION_ENV: 'AWS_Lambda_nodejs22.x',
  _X_AMZN_TRACE_ID: `Root=${TRACE_ID};Parent=53995c3f42cd8ad8;Sampled=1`,
  AWS_XRAY_CONTEXT_MISSING: 'IGNORE_ERROR',
  AWS_XRAY_LOG_LEVEL: 'silent',
};

let rig: Rig;
let daemon: Socket;
const received: XraySubsegment[] = [];
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  daemon = createSocket('udp4');
  daemon.on('message', (msg) => {
    // Each datagram: a JSON header line, then the segment document.
    const body = msg.toString('utf8').split('\n')[1];
    if (body) received.push(JSON.parse(body) as XraySubsegment);
  });
  daemon.bind(0, '127.0.0.1');
  await once(daemon, 'listening');
  const env = { ...LAMBDA_ENV, AWS_XRAY_DAEMON_ADDRESS: `127.0.0.1:${daemon.address().port}` };
  // The X-Ray SDK reads these when it is loaded, which the runtime does only with tracing on.
  for (const [k, v] of Object.entries(env)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  rig = await startRig();
});
afterAll(async () => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await rig?.close();
  daemon?.close();
});

/** Every subsegment received, nested ones included. */
function all(list: readonly XraySubsegment[]): XraySubsegment[] {
  return list.flatMap((s) => [s, ...all(s.subsegments ?? [])]);
}

describe('tracing', () => {
  it('traces the invocation, each model request (annotated with its field) and each S3 call as subsegments', async () => {
    // Prepare
    rig.model.setHandler(labelHandler());
    const handler = rig.handlerWith({ POWERTOOLS_TRACE_ENABLED: 'true', POWERTOOLS_SERVICE_NAME: 'FieldlensTest' });
    const event = await rig.put('incoming/traced.png', TINY_PNG);

    // Act
    await handler(event, lambdaContext());
    // UDP is asynchronous: wait until the invocation's own subsegment (closed last) has arrived.
    for (let i = 0; i < 100 && !all(received).some((s) => s.name === '## on-upload'); i++) await new Promise((r) => setTimeout(r, 20));

    // Assess
    const subsegments = all(received);
    const invocation = subsegments.find((s) => s.name === '## on-upload');
    expect(invocation, 'the invocation subsegment').toBeDefined();
    expect(invocation!.trace_id).toBe(TRACE_ID);
    expect(invocation!.annotations).toMatchObject({ Service: 'FieldlensTest', ColdStart: expect.any(Boolean) });
    const requests = subsegments.filter((s) => s.name === '### model request');
    expect(requests.map((r) => r.annotations?.field).sort()).toEqual(['name', 'pre_notice', 'risk_notice', 'suppliers', 'tag']);
    for (const r of requests) expect(r.parent_id).toBe(invocation!.id);
    const s3 = subsegments.filter((s) => s.name === 'S3' && s.namespace === 'aws').map((s) => s.aws?.operation);
    expect(s3).toEqual(expect.arrayContaining(['HeadObject', 'GetObject', 'PutObject']));
  });
});
