/**
 * {@link FleetStore} over the AWS SDK's low-level DynamoDB client: the
 * fleet's state is one item, and every change is one conditional
 * `UpdateItem`, so no environment ever reads the count and writes it back
 * apart.
 *
 * The item, keyed by `pk`:
 * - `level` (N): the learnt limit, a real number;
 * - `epoch` (N): how many times the level was lowered;
 * - `holders` (M): slot id → N, the lease's end in ms since the Unix epoch.
 *
 * Slot ids are map keys and hold `:` and whatever the owner's id holds, so
 * every name in an expression goes through `ExpressionAttributeNames`.
 * (`level` is also one of DynamoDB's reserved words.)
 *
 * The same code runs against any DynamoDB-compatible server:
 * {@link createDynamoDbClient} takes `AWS_ENDPOINT_URL_DYNAMODB` (or
 * `AWS_ENDPOINT_URL`) from the environment it is given.
 */
import type { AttributeValue, DynamoDBClient, DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
// Bundled with the S3 store already: importing it here loads nothing more.
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { FleetStoreBusyError, type FleetClaim, type FleetState, type FleetStore } from '../core/fleet-gate';
import { once } from '../core/once';

/**
 * The SDK, imported when the first client is made: the runtime module that
 * wires the store is in every function's bundle, and a static import of an
 * external module would load it at every function's cold start, gate or not.
 */
const loadSdk = once(() => import('@aws-sdk/client-dynamodb'));

type Sdk = Awaited<ReturnType<typeof loadSdk>>;
type Item = Record<string, AttributeValue>;

/**
 * Limits of one DynamoDB call. They are short on purpose: when the store
 * fails, the gate goes on under its local limit, so waiting long on a slow
 * store costs more than failing (one retry covers a dropped connection).
 */
export const DYNAMODB_TIMEOUTS = Object.freeze({ connectionMs: 1_000, requestMs: 2_000, maxAttempts: 2 });

/**
 * A DynamoDB client configured for the fleet store.
 *
 * @param env - where the endpoint is read from (`AWS_ENDPOINT_URL_DYNAMODB`, else `AWS_ENDPOINT_URL`), not `process.env`.
 * @param config - overrides (region, credentials in tests).
 *
 * @example
 * ```ts
 * const client = await createDynamoDbClient(process.env);
 * const store = new DynamoDbFleetStore({ client, table: 'fleet', key: 'endpoint#https://…#model', cap: 10 });
 * ```
 */
export async function createDynamoDbClient(
  env: Readonly<Record<string, string | undefined>> = {},
  config: DynamoDBClientConfig = {},
): Promise<DynamoDBClient> {
  const { DynamoDBClient } = await loadSdk();
  const endpoint = env.AWS_ENDPOINT_URL_DYNAMODB || env.AWS_ENDPOINT_URL;
  return new DynamoDBClient({
    maxAttempts: DYNAMODB_TIMEOUTS.maxAttempts,
    requestHandler: new NodeHttpHandler({
      connectionTimeout: DYNAMODB_TIMEOUTS.connectionMs,
      requestTimeout: DYNAMODB_TIMEOUTS.requestMs,
      // Without it the handler only logs a warning when requestTimeout passes, and the call waits on.
      throwOnRequestTimeout: true,
      // requestTimeout ends with the headers; a body that stops arriving fails on this one.
      socketTimeout: DYNAMODB_TIMEOUTS.requestMs,
    }),
    ...(endpoint ? { endpoint } : {}),
    ...config,
  });
}

export interface DynamoDbFleetStoreOptions {
  readonly client: DynamoDBClient;
  /** A table whose partition key is `pk` (S). */
  readonly table: string;
  /** The item the fleet shares (one per endpoint). */
  readonly key: string;
  /** The level of a new item: the most requests the fleet sends at once. */
  readonly cap: number;
}

/** The fleet's state in one DynamoDB item. */
export class DynamoDbFleetStore implements FleetStore {
  readonly #client: DynamoDBClient;
  readonly #table: string;
  readonly #key: string;
  readonly #cap: number;

  /** @throws {TypeError} when `table` or `key` is empty, or `cap` is not a whole number ≥ 1. */
  constructor(o: DynamoDbFleetStoreOptions) {
    if (typeof o.table !== 'string' || o.table === '') throw new TypeError(`Expected table to be a table name, got ${String(o.table)}`);
    if (typeof o.key !== 'string' || o.key === '') throw new TypeError(`Expected key to be a non-empty string, got ${String(o.key)}`);
    if (!(Number.isInteger(o.cap) && o.cap >= 1)) throw new TypeError(`Expected cap to be a whole number ≥ 1, got ${o.cap}`);
    this.#client = o.client;
    this.#table = o.table;
    this.#key = o.key;
    this.#cap = o.cap;
  }

  async read(): Promise<FleetState> {
    const sdk = await loadSdk();
    const found = await this.#get(sdk);
    if (found) return this.#state(found);
    try {
      await this.#send((c) =>
        c.send(
          new sdk.PutItemCommand({
            TableName: this.#table,
            Item: { pk: { S: this.#key }, level: { N: String(this.#cap) }, epoch: { N: '0' }, holders: { M: {} } },
            ConditionExpression: 'attribute_not_exists(pk)',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { level: this.#cap, epoch: 0, holders: {} };
    } catch (err) {
      if (!isConditionFailure(err, sdk)) throw err;
      // Another environment created it first: theirs is the state.
      const item = itemOf(err) ?? (await this.#get(sdk));
      if (!item) throw err; // created and deleted again meanwhile: the caller goes on without the store
      return this.#state(item);
    }
  }

  async claim(c: FleetClaim): Promise<{ claimed: boolean; state: FleetState }> {
    const ids = slotIds('claim ids', c.ids);
    if (ids.length === 0) throw new TypeError('Expected claim ids to name at least one slot');
    const expired = Object.entries(c.expired);
    for (const [id, endsAt] of expired) {
      if (ids.includes(id)) throw new TypeError(`Expected claim ids and expired entries to differ, got ${id} in both`);
      finite(`the lease end of expired entry ${id}`, endsAt);
    }
    finite('leaseEndsAt', c.leaseEndsAt);
    whole('epoch', c.epoch);
    whole('maxHoldersBefore', c.maxHoldersBefore);

    const names: Record<string, string> = { '#hs': 'holders', '#e': 'epoch' };
    const values: Item = { ':lease': num(c.leaseEndsAt), ':epoch': num(c.epoch), ':max': num(c.maxHoldersBefore) };
    const set = ids.map((id, i) => {
      names[`#n${i}`] = id;
      return `#hs.#n${i} = :lease`;
    });
    const remove: string[] = [];
    // An expired entry is removed only if its lease is still the one the claimer saw (no one renewed or reclaimed it).
    const unchanged = expired.map(([id, endsAt], i) => {
      names[`#x${i}`] = id;
      values[`:xv${i}`] = num(endsAt);
      remove.push(`#hs.#x${i}`);
      return ` AND #hs.#x${i} = :xv${i}`;
    });
    const r = await this.#update({
      update: `SET ${set.join(', ')}${remove.length > 0 ? ` REMOVE ${remove.join(', ')}` : ''}`,
      condition: `#e = :epoch AND size(#hs) <= :max${unchanged.join('')}`,
      names,
      values,
    });
    return { claimed: r.applied, state: r.state };
  }

  async release(ids: readonly string[], levelIncrement: number): Promise<FleetState> {
    const unique = slotIds('released ids', ids);
    increment(levelIncrement);
    if (unique.length === 0 && levelIncrement === 0) return this.read();
    const names: Record<string, string> = { '#pk': 'pk' };
    const values: Item = {};
    const parts: string[] = [];
    if (unique.length > 0) {
      names['#hs'] = 'holders';
      const paths = unique.map((id, i) => {
        names[`#r${i}`] = id;
        return `#hs.#r${i}`;
      });
      // An id no longer held is no error: DynamoDB removes what is there.
      parts.push(`REMOVE ${paths.join(', ')}`);
    }
    if (levelIncrement > 0) {
      names['#l'] = 'level';
      values[':inc'] = num(levelIncrement);
      parts.push('ADD #l :inc');
    }
    // Without the condition, an item deleted meanwhile would come back as
    // `{pk, level: increment}`: an update creates what is missing.
    const r = await this.#update({ update: parts.join(' '), condition: 'attribute_exists(#pk)', names, values });
    return r.state;
  }

  async renew(id: string, leaseEndsAt: number, levelIncrement: number): Promise<{ renewed: boolean; state: FleetState }> {
    slotIds('renewed id', [id]);
    finite('leaseEndsAt', leaseEndsAt);
    increment(levelIncrement);
    const names: Record<string, string> = { '#hs': 'holders', '#i': id };
    const values: Item = { ':lease': num(leaseEndsAt) };
    let update = 'SET #hs.#i = :lease';
    if (levelIncrement > 0) {
      names['#l'] = 'level';
      values[':inc'] = num(levelIncrement);
      update += ' ADD #l :inc';
    }
    // Only a slot still held: one whose lease ended may have been removed by another's claim.
    const r = await this.#update({ update, condition: 'attribute_exists(#hs.#i)', names, values });
    return { renewed: r.applied, state: r.state };
  }

  async lower(to: number, epoch: number): Promise<FleetState> {
    finite('to', to);
    finite('epoch', epoch);
    const r = await this.#update({
      update: 'SET #l = :to ADD #e :one',
      // A request claimed before the last lowering says nothing new.
      condition: '#e = :epoch AND #l > :to',
      names: { '#l': 'level', '#e': 'epoch' },
      values: { ':to': num(to), ':epoch': num(epoch), ':one': { N: '1' } },
    });
    return r.state;
  }

  async #get(sdk: Sdk): Promise<Item | undefined> {
    const out = await this.#send((c) =>
      c.send(new sdk.GetItemCommand({ TableName: this.#table, Key: { pk: { S: this.#key } }, ConsistentRead: true })),
    );
    return out.Item;
  }

  /** One conditional update; the state after it, or the state that refused it. */
  async #update(u: {
    readonly update: string;
    readonly condition: string;
    readonly names: Record<string, string>;
    readonly values: Item;
  }): Promise<{ applied: boolean; state: FleetState }> {
    const sdk = await loadSdk();
    try {
      const out = await this.#send((c) =>
        c.send(
          new sdk.UpdateItemCommand({
            TableName: this.#table,
            Key: { pk: { S: this.#key } },
            UpdateExpression: u.update,
            ConditionExpression: u.condition,
            ExpressionAttributeNames: u.names,
            // DynamoDB refuses an empty map here.
            ...(Object.keys(u.values).length > 0 ? { ExpressionAttributeValues: u.values } : {}),
            ReturnValues: 'ALL_NEW',
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        ),
      );
      return { applied: true, state: this.#state(out.Attributes) };
    } catch (err) {
      if (!isConditionFailure(err, sdk)) throw err;
      // No item with the refusal: the item is missing (read creates it), or
      // the server does not send it (dynalite, the test server, does not).
      const item = itemOf(err);
      return { applied: false, state: item ? this.#state(item) : await this.read() };
    }
  }

  /** One call; DynamoDB refusing it for load becomes {@link FleetStoreBusyError}, which a waiting gate sits out. */
  async #send<T>(call: (client: DynamoDBClient) => Promise<T>): Promise<T> {
    try {
      return await call(this.#client);
    } catch (err) {
      const name = (err as { name?: unknown })?.name;
      if (typeof name === 'string' && BUSY_ERRORS.has(name)) {
        throw new FleetStoreBusyError(`DynamoDB is throttling the fleet item (${name})`, { cause: err });
      }
      throw err;
    }
  }

  #state(item: Item | undefined): FleetState {
    const level = Number(item?.level?.N);
    const epoch = Number(item?.epoch?.N);
    if (!Number.isFinite(level) || !Number.isInteger(epoch)) {
      throw new Error(`the fleet item ${this.#key} in table ${this.#table} has no numeric level and whole epoch`);
    }
    const holders: Record<string, number> = {};
    for (const [id, v] of Object.entries(item?.holders?.M ?? {})) holders[id] = Number(v.N);
    return { level, epoch, holders };
  }
}

/** What DynamoDB answers when a partition, a table or the account takes more than it may. */
const BUSY_ERRORS = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded']);

// Compared by name too: a second copy of the SDK in a bundle has its own class.
function isConditionFailure(err: unknown, sdk: Sdk): boolean {
  return err instanceof sdk.ConditionalCheckFailedException || (err as { name?: unknown })?.name === 'ConditionalCheckFailedException';
}

/** The item sent with a refusal (`ReturnValuesOnConditionCheckFailure: ALL_OLD`), when there is one. */
function itemOf(err: unknown): Item | undefined {
  return (err as { Item?: Item }).Item;
}

function num(n: number): AttributeValue {
  return { N: String(n) };
}

/** The ids without repeats: DynamoDB refuses an expression in which two paths are the same. */
function slotIds(what: string, ids: readonly string[]): string[] {
  if (!Array.isArray(ids)) throw new TypeError(`Expected ${what} to be an array of slot ids`);
  for (const id of ids) {
    if (typeof id !== 'string' || id === '') throw new TypeError(`Expected ${what} to be non-empty strings, got ${String(id)}`);
  }
  return [...new Set(ids)];
}

function finite(what: string, n: number): void {
  if (!Number.isFinite(n)) throw new TypeError(`Expected ${what} to be a finite number, got ${n}`);
}

function whole(what: string, n: number): void {
  if (!Number.isInteger(n)) throw new TypeError(`Expected ${what} to be a whole number, got ${n}`);
}

function increment(n: number): void {
  if (!(Number.isFinite(n) && n >= 0)) throw new TypeError(`Expected levelIncrement to be a finite number ≥ 0, got ${n}`);
}
