/**
 * The DynamoDB fleet store with the real SDK client against dynalite on
 * loopback: each test its own item (or table), so none sees another's
 * writes. dynalite sends no item with a refused condition, so the refusal
 * with an item (what DynamoDB sends for `ALL_OLD`) is checked against a
 * client that answers as DynamoDB would.
 */
import {
  DeleteItemCommand,
  GetItemCommand,
  PutItemCommand,
  ScanCommand,
  UpdateItemCommand,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { NodeHttpHandler } from '@smithy/node-http-handler';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDynamoDbClient, DynamoDbFleetStore } from '../../functions/adapters/dynamodb-fleet-store';
import { FleetStoreBusyError, type FleetClaim } from '../../functions/core/fleet-gate';
import { DYNAMODB_TEST_CONFIG, startDynamoDb, type LocalDynamoDb } from '../support/dynamodb-server';

const TABLE = 'fleet-gate';
/** A lease end well in the future (the store does not look at the clock). */
const T = 1_900_000_000_000;

let server: LocalDynamoDb;
let client: DynamoDBClient;
let keys = 0;

beforeAll(async () => {
  server = await startDynamoDb();
  await server.createTable(TABLE);
  client = await createDynamoDbClient({ AWS_ENDPOINT_URL_DYNAMODB: server.endpoint }, DYNAMODB_TEST_CONFIG);
});
afterAll(async () => {
  client?.destroy();
  await server?.close();
});

/** A store over a key no other test uses. */
function aStore(o: { cap?: number; key?: string; table?: string; over?: DynamoDBClient } = {}): DynamoDbFleetStore {
  return new DynamoDbFleetStore({ client: o.over ?? client, table: o.table ?? TABLE, key: o.key ?? `endpoint#test-${++keys}`, cap: o.cap ?? 4 });
}

function aClaim(overrides: Partial<FleetClaim> & Pick<FleetClaim, 'ids'>): FleetClaim {
  return { leaseEndsAt: T, epoch: 0, maxHoldersBefore: 10, expired: {}, ...overrides };
}

/** The error a promise rejects with, or `undefined` when it resolves. */
function rejection(p: Promise<unknown>): Promise<unknown> {
  return p.then(
    () => undefined,
    (err: unknown) => err,
  );
}

describe('DynamoDbFleetStore.read', () => {
  it('creates the initial state once: two concurrent first reads see the same state, and the table holds one item', async () => {
    // Prepare
    const table = 'fleet-fresh';
    await server.createTable(table);
    const [a, b] = [aStore({ table, key: 'k', cap: 7 }), aStore({ table, key: 'k', cap: 7 })];

    // Act
    const [sa, sb] = await Promise.all([a.read(), b.read()]);

    // Assess
    expect(sa).toEqual({ level: 7, epoch: 0, holders: {} });
    expect(sb).toEqual(sa);
    const scan = await client.send(new ScanCommand({ TableName: table }));
    expect(scan.Count).toBe(1);
  });

  it('when another environment creates the item between its read and its write, returns that one', async () => {
    // Prepare: the first GetItem answers "absent", then the other store (cap 9) creates the item.
    const key = `endpoint#race-${++keys}`;
    const other = aStore({ key, cap: 9 });
    let gets = 0;
    const racing = {
      send: async (command: unknown) => {
        const out = await client.send(command as GetItemCommand);
        if (command instanceof GetItemCommand && ++gets === 1) await other.read();
        return out;
      },
    } as unknown as DynamoDBClient;

    // Act
    const state = await aStore({ key, cap: 4, over: racing }).read();

    // Assess: the item it could not create is the one it returns; one more GetItem after the refusal.
    expect(state).toEqual({ level: 9, epoch: 0, holders: {} });
    expect(gets).toBe(2);
  });

  it('does not overwrite a stored state, and reads a missing holders map as empty', async () => {
    // Prepare
    const key = `endpoint#given-${++keys}`;
    await client.send(new PutItemCommand({ TableName: TABLE, Item: { pk: { S: key }, level: { N: '2.5' }, epoch: { N: '3' } } }));

    // Act
    const state = await aStore({ key, cap: 4 }).read();

    // Assess
    expect(state).toEqual({ level: 2.5, epoch: 3, holders: {} });
  });
});

describe('DynamoDbFleetStore.claim', () => {
  it('adds the ids with their lease and returns the state after', async () => {
    // Prepare
    const store = aStore();
    await store.read();

    // Act
    const r = await store.claim(aClaim({ ids: ['inv-a:1', 'inv-a:2'], maxHoldersBefore: 0 }));

    // Assess
    expect(r).toEqual({ claimed: true, state: { level: 4, epoch: 0, holders: { 'inv-a:1': T, 'inv-a:2': T } } });
    expect(await store.read()).toEqual(r.state);
  });

  it('is refused when the holders before it would pass the maximum (at the maximum it passes), and shows who holds', async () => {
    // Prepare
    const store = aStore();
    await store.read();
    await store.claim(aClaim({ ids: ['a:1', 'a:2'] }));

    // Act
    const refused = await store.claim(aClaim({ ids: ['b:1'], maxHoldersBefore: 1 }));
    const passed = await store.claim(aClaim({ ids: ['c:1'], maxHoldersBefore: 2 }));

    // Assess
    expect(refused).toEqual({ claimed: false, state: { level: 4, epoch: 0, holders: { 'a:1': T, 'a:2': T } } });
    expect(passed.claimed).toBe(true);
    expect(Object.keys((await store.read()).holders).sort()).toEqual(['a:1', 'a:2', 'c:1']);
  });

  it('is refused when the level was lowered since the claimer looked (epoch changed), and passes with the new epoch', async () => {
    // Prepare
    const store = aStore({ cap: 4 });
    const seen = await store.read();
    await store.lower(2, 0);

    // Act
    const stale = await store.claim(aClaim({ ids: ['a:1'], epoch: seen.epoch }));
    const fresh = await store.claim(aClaim({ ids: ['a:1'], epoch: stale.state.epoch }));

    // Assess
    expect(stale).toEqual({ claimed: false, state: { level: 2, epoch: 1, holders: {} } });
    expect(fresh).toEqual({ claimed: true, state: { level: 2, epoch: 1, holders: { 'a:1': T } } });
  });

  it('removes the expired entries it names, in the same write', async () => {
    // Prepare
    const store = aStore();
    await store.read();
    await store.claim(aClaim({ ids: ['old:1', 'old:2', 'live:1'], leaseEndsAt: 1_000 }));
    await store.renew('live:1', T, 0);

    // Act
    const r = await store.claim(aClaim({ ids: ['new:1'], maxHoldersBefore: 3, expired: { 'old:1': 1_000, 'old:2': 1_000 } }));

    // Assess
    expect(r).toEqual({ claimed: true, state: { level: 4, epoch: 0, holders: { 'live:1': T, 'new:1': T } } });
  });

  it('is refused when an expired entry changed meanwhile (renewed, or already removed), and writes nothing', async () => {
    // Prepare: old:1 renewed by its owner, old:2 removed by another claim.
    const store = aStore();
    await store.read();
    await store.claim(aClaim({ ids: ['old:1', 'old:2'], leaseEndsAt: 1_000 }));
    await store.renew('old:1', 5_000, 0);
    const before = await store.release(['old:2'], 0);

    // Act
    const renewed = await store.claim(aClaim({ ids: ['new:1'], expired: { 'old:1': 1_000 } }));
    const removed = await store.claim(aClaim({ ids: ['new:2'], expired: { 'old:2': 1_000 } }));

    // Assess
    expect(renewed).toEqual({ claimed: false, state: { level: 4, epoch: 0, holders: { 'old:1': 5_000 } } });
    expect(removed.claimed).toBe(false);
    expect(await store.read()).toEqual(before);
  });

  it('of five claims racing for the last slot, exactly one passes', async () => {
    // Prepare: a limit of 2, one slot held; each racer saw one holder.
    const key = `endpoint#last-slot-${++keys}`;
    const first = aStore({ key, cap: 2 });
    await first.read();
    await first.claim(aClaim({ ids: ['held:1'] }));
    const racers = Array.from({ length: 5 }, () => aStore({ key, cap: 2 }));

    // Act
    const results = await Promise.all(racers.map((s, i) => s.claim(aClaim({ ids: [`racer-${i}:1`], maxHoldersBefore: 1 }))));

    // Assess
    expect(results.filter((r) => r.claimed)).toHaveLength(1);
    expect(Object.keys((await first.read()).holders)).toHaveLength(2);
  });
});

describe('DynamoDbFleetStore.release', () => {
  it('removes the ids and adds the increment, keeping a fractional level', async () => {
    // Prepare
    const store = aStore({ cap: 10 });
    await store.read();
    await store.claim(aClaim({ ids: ['a:1', 'a:2', 'a:3'] }));

    // Act
    const after = await store.release(['a:1', 'a:2', 'a:2'], 0.25);
    const third = await store.release(['a:3'], 1 / 3);

    // Assess
    expect(after).toEqual({ level: 10.25, epoch: 0, holders: { 'a:3': T } });
    expect(third.level).toBeCloseTo(10.25 + 1 / 3, 12);
    expect(third.holders).toEqual({});
    expect(await store.read()).toEqual(third);
  });

  it('of an id not held, changes nothing; with nothing to release or add, reads', async () => {
    // Prepare
    const store = aStore();
    await store.read();
    await store.claim(aClaim({ ids: ['a:1'] }));

    // Act
    const gone = await store.release(['never:1'], 0);
    const nothing = await store.release([], 0);

    // Assess
    expect(gone).toEqual({ level: 4, epoch: 0, holders: { 'a:1': T } });
    expect(nothing).toEqual(gone);
  });

  it('after the item was deleted, starts from the initial state rather than storing the increment alone', async () => {
    // Prepare
    const key = `endpoint#deleted-${++keys}`;
    const store = aStore({ key, cap: 6 });
    await store.read();
    await store.claim(aClaim({ ids: ['a:1'] }));
    await client.send(new DeleteItemCommand({ TableName: TABLE, Key: { pk: { S: key } } }));

    // Act
    const state = await store.release(['a:1'], 0.5);

    // Assess
    expect(state).toEqual({ level: 6, epoch: 0, holders: {} });
  });
});

describe('DynamoDbFleetStore.renew', () => {
  it('moves the lease of a held id and adds the increment', async () => {
    // Prepare
    const store = aStore({ cap: 3 });
    await store.read();
    await store.claim(aClaim({ ids: ['a:1', 'a:2'] }));

    // Act
    const r = await store.renew('a:1', T + 60_000, 0.5);

    // Assess
    expect(r).toEqual({ renewed: true, state: { level: 3.5, epoch: 0, holders: { 'a:1': T + 60_000, 'a:2': T } } });
  });

  it('of an id no longer held, is refused and does not bring it back', async () => {
    // Prepare
    const store = aStore();
    await store.read();
    await store.claim(aClaim({ ids: ['a:1'] }));
    await store.release(['a:1'], 0);

    // Act
    const r = await store.renew('a:1', T + 60_000, 0);

    // Assess
    expect(r).toEqual({ renewed: false, state: { level: 4, epoch: 0, holders: {} } });
    expect(await store.read()).toEqual(r.state);
  });
});

describe('DynamoDbFleetStore.lower', () => {
  it('lowers only when the level is above: lower(8) then lower(9) leaves 8 at epoch 1', async () => {
    // Prepare
    const store = aStore({ cap: 10 });
    await store.read();

    // Act
    const first = await store.lower(8, 0);
    const second = await store.lower(9, 1);
    const same = await store.lower(8, 1);

    // Assess
    expect(first).toEqual({ level: 8, epoch: 1, holders: {} });
    expect(second).toEqual(first);
    expect(same).toEqual(first);
    expect(await store.read()).toEqual(first);
  });

  it('lowers only in the epoch the request was claimed in: a second refusal of the same burst changes nothing', async () => {
    // Prepare
    const store = aStore({ cap: 10 });
    await store.read();

    // Act: both claimed in epoch 0; the first lowers to 6, the second (to 3) comes too late
    const first = await store.lower(6, 0);
    const stale = await store.lower(3, 0);
    const next = await store.lower(3, 1);

    // Assess
    expect(first).toMatchObject({ level: 6, epoch: 1 });
    expect(stale).toEqual(first);
    expect(next).toMatchObject({ level: 3, epoch: 2 });
  });
});

describe('slot ids and errors', () => {
  it('keeps ids with : / # . [ ] $ and spaces as they are, through claim, renew and release', async () => {
    // Prepare
    const store = aStore();
    await store.read();
    const ids = ['req/1:2', 'a#b.c:1', 'holders.x[0]:2', '#n0', ':lease', 'a b$c:3'];

    // Act
    const claimed = await store.claim(aClaim({ ids }));
    const renewed = await store.renew('a#b.c:1', T + 1, 0);
    const released = await store.release(['holders.x[0]:2', ':lease'], 0);

    // Assess
    expect(Object.keys(claimed.state.holders).sort()).toEqual([...ids].sort());
    expect(renewed.state.holders['a#b.c:1']).toBe(T + 1);
    expect(released.holders).toEqual({ 'req/1:2': T, 'a#b.c:1': T + 1, '#n0': T, 'a b$c:3': T });
  });

  it('a missing table: every call rejects with the SDK error', async () => {
    // Prepare
    const store = aStore({ table: 'no-such-table' });

    // Act
    const errors = await Promise.all([
      rejection(store.read()),
      rejection(store.claim(aClaim({ ids: ['a:1'] }))),
      rejection(store.release(['a:1'], 1)),
      rejection(store.renew('a:1', T, 0)),
      rejection(store.lower(1, 0)),
    ]);

    // Assess
    for (const err of errors) expect(err).toMatchObject({ name: 'ResourceNotFoundException' });
  });

  it('rejects bad arguments with a TypeError before any call', async () => {
    // Prepare
    const sent: unknown[] = [];
    const over = { send: async (c: unknown) => void sent.push(c) } as unknown as DynamoDBClient;
    const store = aStore({ over });

    // Act, Assess
    expect(() => aStore({ cap: 0 })).toThrow(TypeError);
    expect(() => aStore({ key: '' })).toThrow(TypeError);
    await expect(store.claim(aClaim({ ids: [] }))).rejects.toThrow(TypeError);
    await expect(store.claim(aClaim({ ids: ['a:1'], expired: { 'a:1': 1 } }))).rejects.toThrow(TypeError);
    await expect(store.claim(aClaim({ ids: ['a:1'], leaseEndsAt: Number.NaN }))).rejects.toThrow(TypeError);
    await expect(store.release(['a:1'], -1)).rejects.toThrow(TypeError);
    await expect(store.renew('', T, 0)).rejects.toThrow(TypeError);
    await expect(store.lower(Number.POSITIVE_INFINITY, 0)).rejects.toThrow(TypeError);
    await expect(store.lower(1, Number.NaN)).rejects.toThrow(TypeError);
    expect(sent).toEqual([]);
  });
});

describe('against a client that answers as DynamoDB does', () => {
  /** A client that throws `err` for every UpdateItem and records the commands. */
  function answering(err: unknown): { client: DynamoDBClient; sent: Array<{ name: string; input: Record<string, unknown> }> } {
    const sent: Array<{ name: string; input: Record<string, unknown> }> = [];
    const fake = {
      send: async (c: { constructor: { name: string }; input: Record<string, unknown> }) => {
        sent.push({ name: c.constructor.name, input: c.input });
        throw err;
      },
    };
    return { client: fake as unknown as DynamoDBClient, sent };
  }

  it('takes the state after a refused claim from the item sent with the refusal (a second SDK copy: matched by name)', async () => {
    // Prepare: what DynamoDB sends for ReturnValuesOnConditionCheckFailure ALL_OLD.
    const refusal = Object.assign(new Error('The conditional request failed'), {
      name: 'ConditionalCheckFailedException',
      Item: { pk: { S: 'k' }, level: { N: '3.75' }, epoch: { N: '2' }, holders: { M: { 'x:1': { N: String(T) } } } },
    });
    const { client: over, sent } = answering(refusal);

    // Act
    const r = await aStore({ key: 'k', over }).claim(aClaim({ ids: ['a:1'], epoch: 1, expired: { 'old:1': 5 } }));

    // Assess: no read after it; the request asked for the item and checked all it must.
    expect(r).toEqual({ claimed: false, state: { level: 3.75, epoch: 2, holders: { 'x:1': T } } });
    expect(sent.map((c) => c.name)).toEqual([UpdateItemCommand.name]);
    expect(sent[0]!.input).toMatchObject({
      ReturnValues: 'ALL_NEW',
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
      ConditionExpression: '#e = :epoch AND size(#hs) <= :max AND #hs.#x0 = :xv0',
      ExpressionAttributeNames: { '#n0': 'a:1', '#x0': 'old:1' },
      ExpressionAttributeValues: { ':epoch': { N: '1' }, ':xv0': { N: '5' } },
    });
  });

  it('turns DynamoDB refusing for load into FleetStoreBusyError, keeping the cause', async () => {
    // Prepare
    const throttled = Object.assign(new Error('Rate of requests exceeds the allowed throughput'), { name: 'ProvisionedThroughputExceededException' });
    const { client: over } = answering(throttled);

    // Act
    const err = await rejection(aStore({ over }).lower(1, 0));

    // Assess
    expect(err).toBeInstanceOf(FleetStoreBusyError);
    expect((err as Error).message).toBe('DynamoDB is throttling the fleet item (ProvisionedThroughputExceededException)');
    expect((err as Error).cause).toBe(throttled);
  });

  it('lets any other error through unchanged', async () => {
    // Prepare
    const denied = Object.assign(new Error('User is not authorized to perform: dynamodb:UpdateItem'), { name: 'AccessDeniedException' });
    const { client: over } = answering(denied);

    // Act
    const err = await rejection(aStore({ over }).lower(1, 0));

    // Assess
    expect(err).toBe(denied);
  });
});

describe('createDynamoDbClient', () => {
  it('takes AWS_ENDPOINT_URL_DYNAMODB from the env it is given, before AWS_ENDPOINT_URL', async () => {
    // Prepare: AWS_ENDPOINT_URL names a port where nothing listens.
    const c = await createDynamoDbClient(
      { AWS_ENDPOINT_URL_DYNAMODB: server.endpoint, AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
      DYNAMODB_TEST_CONFIG,
    );

    try {
      // Act
      const state = await aStore({ over: c }).read();

      // Assess: it reached the server, with the fail-fast limits.
      expect(state.epoch).toBe(0);
      expect(await c.config.maxAttempts()).toBe(2);
      expect((c.config.requestHandler as NodeHttpHandler).httpHandlerConfigs()).toMatchObject({
        connectionTimeout: 1_000,
        requestTimeout: 2_000,
        throwOnRequestTimeout: true,
      });
    } finally {
      c.destroy();
    }
  });

  it('falls back to AWS_ENDPOINT_URL', async () => {
    // Prepare
    const c = await createDynamoDbClient({ AWS_ENDPOINT_URL: server.endpoint }, DYNAMODB_TEST_CONFIG);

    try {
      // Act
      const out = await c.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: 'absent' } } }));

      // Assess
      expect(out.Item).toBeUndefined();
    } finally {
      c.destroy();
    }
  });
});
