/**
 * The direct mode with the fleet gate end to end: the real handlers of two
 * execution environments, the real wiring (`FLEET_GATE_*` → the DynamoDB
 * store), a DynamoDB-compatible server, an S3-compatible server and an
 * OpenAI-compatible test server that serves 2 requests at once and answers
 * 429 beyond that.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoDbClient } from '../functions/adapters/dynamodb-fleet-store';
import { ErrorCode } from '../functions/core/errors';
import type { FieldSet } from '../functions/core/fields';
import type { OnUploadHandler } from '../functions/on-upload';
import { DYNAMODB_TEST_CONFIG, startDynamoDb, type LocalDynamoDb } from './support/dynamodb-server';
import { emfMetrics, sumOf } from './support/emf';
import { distinctPng, labelHandler, lambdaContext, startRig, type Rig } from './support/harness';

const FIELDS: FieldSet = [
  { name: 'name', prompt: 'What is the product name?', type: 'string' },
  { name: 'tag', prompt: 'Signal word and pictograms?', type: 'string[]' },
  { name: 'risk_notice', prompt: 'Hazard statements?', type: 'string[]' },
  { name: 'pre_notice', prompt: 'Precautionary statements?', type: 'string[]' },
];

let rig: Rig;
let dynamo: LocalDynamoDb;
const clients: DynamoDBClient[] = [];
let tables = 0;

beforeAll(async () => {
  rig = await startRig({ model: { capacity: 2, overCapacity: 'reject', retryAfterMs: 20 } });
  dynamo = await startDynamoDb();
});
afterAll(async () => {
  for (const c of clients) c.destroy();
  await dynamo?.close();
  await rig?.close();
});
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler({}, 40));
});

async function client(): Promise<DynamoDBClient> {
  const c = await createDynamoDbClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint }, DYNAMODB_TEST_CONFIG);
  clients.push(c);
  return c;
}

/** A fresh table, and a handler factory whose environments share it (each its own client, as in Lambda). */
async function fleet(capacity: number): Promise<{ table: string; environment: () => Promise<OnUploadHandler> }> {
  const table = `fleet-${++tables}`;
  await dynamo.createTable(table);
  const env = { FIELDS: JSON.stringify(FIELDS), FLEET_GATE_TABLE: table, FLEET_GATE_CAPACITY: String(capacity), FLEET_GATE_POLL_MS: '10' };
  return { table, environment: async () => rig.handlerWith(env, { dynamoDbClient: await client() }) };
}

describe('on-upload with the fleet gate', () => {
  it('keeps two environments to what the endpoint serves, learning it from the first refusals, and releases every slot', async () => {
    // Prepare: the gate is told 8, the endpoint serves 2; each environment sends up to 4
    const { table, environment } = await fleet(8);
    const [first, second] = [await environment(), await environment()];
    const events = await Promise.all(Array.from({ length: 6 }, (_, i) => rig.put(`incoming/fleet/${i}.png`, distinctPng(`fleet-${i}`))));

    // Act: three images per environment, one after another
    await Promise.all(
      [first, second].map(async (handler, e) => {
        for (let i = e; i < events.length; i += 2) await handler!(events[i], lambdaContext(60_000, `env${e}-img${i}`));
      }),
    );

    // Assess
    const docs = await Promise.all(events.map((_, i) => rig.result(`results/fleet/${i}.png.json`)));
    expect(docs.map((d) => d?.status)).toEqual(Array(6).fill('complete'));
    expect(rig.model.maxServing).toBeLessThanOrEqual(2);
    const item = await (await client()).send(new GetItemCommand({ TableName: table, Key: { pk: { S: `endpoint#${rig.model.baseUrl}#test-model` } } }));
    expect(item.Item?.holders?.M).toEqual({});
    // Lowered from the 8 it was told by the refusals (where it ends between them and the next probe depends on timing)
    expect(Number(item.Item?.level?.N)).toBeLessThan(8);
    expect(Number(item.Item?.epoch?.N)).toBeGreaterThanOrEqual(1);
    // Far fewer refusals than 6 images × 4 fields over-subscribing 2
    expect(rig.model.rejected).toBeLessThan(24);
    expect(sumOf(emfMetrics(rig.logLines), 'FleetGateUnavailable')).toBe(0);
  });

  it('goes on under the local limit when the table is not there, and says so with its code', async () => {
    // Prepare: a table name no one created
    const handler = rig.handlerWith(
      { FIELDS: JSON.stringify(FIELDS), FLEET_GATE_TABLE: 'no-such-table', FLEET_GATE_CAPACITY: '2', MODEL_MAX_CONCURRENCY: '2' },
      { dynamoDbClient: await client() },
    );
    const event = await rig.put('incoming/fleet/down.png', distinctPng('fleet-down'));
    const from = rig.logLines.length;

    // Act
    await handler(event, lambdaContext(60_000, 'down-1'));

    // Assess
    expect((await rig.result('results/fleet/down.png.json'))?.status).toBe('complete');
    const warnings = rig.logLines
      .slice(from)
      .map((l) => JSON.parse(l) as { level: string; code?: string })
      .filter((l) => l.code === ErrorCode.FLEET_GATE_UNAVAILABLE);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level.toLowerCase()).toBe('warn');
    // … and counts it, for the alarm
    expect(sumOf(emfMetrics(rig.logLines.slice(from)), 'FleetGateUnavailable')).toBe(1);
  });
});
