/**
 * The Step Functions variant with the fleet gate: the synthesized state
 * machine run locally, each ExtractField task through the real wiring
 * (`FLEET_GATE_*` → the DynamoDB store) against a DynamoDB-compatible
 * server, and a test server that serves 2 requests at once and answers 429
 * beyond that.
 */
import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createDynamoDbClient } from '../../functions/adapters/dynamodb-fleet-store';
import { readEvent } from '../../functions/core/events';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { DYNAMODB_TEST_CONFIG, startDynamoDb, type LocalDynamoDb } from '../support/dynamodb-server';
import { distinctPng, labelHandler } from '../support/harness';
import { startSfnRig, type SfnRig } from '../support/sfn-rig';

let rig: SfnRig;
let dynamo: LocalDynamoDb;
let client: DynamoDBClient;

beforeAll(async () => {
  rig = await startSfnRig({ model: { capacity: 2, overCapacity: 'reject', retryAfterMs: 20 } });
  dynamo = await startDynamoDb();
  client = await createDynamoDbClient({ AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint }, DYNAMODB_TEST_CONFIG);
  rig.machine();
});
afterAll(async () => {
  client?.destroy();
  await dynamo?.close();
  await rig?.close();
});
beforeEach(() => {
  rig.model.reset();
  rig.model.setHandler(labelHandler({}, 40));
});

describe('the Step Functions variant with the fleet gate', () => {
  it('keeps the parallel ExtractField tasks to what the endpoint serves and leaves no slot held', async () => {
    // Prepare: the gate is told 5 (the Map runs every field at once), the endpoint serves 2
    await dynamo.createTable('sfn-fleet');
    const env = { FLEET_GATE_TABLE: 'sfn-fleet', FLEET_GATE_CAPACITY: String(DEFAULT_LABEL_FIELDS.length), FLEET_GATE_POLL_MS: '10' };
    const event = await rig.put('incoming/sfn-fleet.png', distinctPng('sfn-fleet'));
    const record = readEvent(event)[0]!.records[0]!;

    // Act
    const run = await rig.run(
      { bucket: record.bucket, key: record.key, etag: record.etag!, size: record.size! },
      { handlers: rig.handlersWith(env, { dynamoDbClient: client }) },
    );

    // Assess
    expect(run.error).toBeUndefined();
    expect((await rig.result('results/sfn-fleet.png.json'))?.status).toBe('complete');
    expect(rig.model.maxServing).toBeLessThanOrEqual(2);
    const item = await client.send(new GetItemCommand({ TableName: 'sfn-fleet', Key: { pk: { S: `endpoint#${rig.model.baseUrl}#test-model` } } }));
    expect(item.Item?.holders?.M).toEqual({});
    expect(Number(item.Item?.level?.N)).toBeLessThan(DEFAULT_LABEL_FIELDS.length);
  });
});
