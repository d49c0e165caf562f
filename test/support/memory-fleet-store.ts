/**
 * A `FleetStore` in memory, with the conditions the DynamoDB store's
 * expressions check, for the fleet gate's unit tests and the benchmark's
 * model in virtual time. Each call takes `delayMs` on the given clock, as a
 * round trip to the store would. The DynamoDB adapter itself is tested
 * against a DynamoDB server (`test/adapters/dynamodb-fleet-store.test.ts`).
 */
import type { FleetClaim, FleetState, FleetStore } from '../../functions/core/fleet-gate';
import type { Clock } from '../../functions/core/ports';

export class MemoryFleetStore implements FleetStore {
  #state: FleetState | undefined;
  /** Every call, by name: the tests and the benchmark count them. */
  readonly calls = { read: 0, claim: 0, release: 0, renew: 0, lower: 0 };
  /** When set, every call fails with it (a store that is down). */
  failWith: Error | undefined;

  constructor(
    private readonly cap: number,
    private readonly clock?: Clock,
    private readonly delayMs = 0,
  ) {}

  /** What the store holds now (a copy). */
  get state(): FleetState {
    return this.#current();
  }

  async read(): Promise<FleetState> {
    await this.#trip('read');
    return this.#current();
  }

  async claim(c: FleetClaim): Promise<{ claimed: boolean; state: FleetState }> {
    await this.#trip('claim');
    const s = this.#current();
    const ok =
      s.epoch === c.epoch &&
      Object.keys(s.holders).length <= c.maxHoldersBefore &&
      Object.entries(c.expired).every(([id, endsAt]) => s.holders[id] === endsAt);
    if (!ok) return { claimed: false, state: s };
    const holders = { ...s.holders };
    for (const id of Object.keys(c.expired)) delete holders[id];
    for (const id of c.ids) holders[id] = c.leaseEndsAt;
    this.#state = { ...s, holders };
    return { claimed: true, state: this.#current() };
  }

  async release(ids: readonly string[], levelIncrement: number): Promise<FleetState> {
    await this.#trip('release');
    const s = this.#current();
    const holders = { ...s.holders };
    for (const id of ids) delete holders[id];
    this.#state = { ...s, level: s.level + levelIncrement, holders };
    return this.#current();
  }

  async renew(id: string, leaseEndsAt: number, levelIncrement: number): Promise<{ renewed: boolean; state: FleetState }> {
    await this.#trip('renew');
    const s = this.#current();
    if (s.holders[id] === undefined) return { renewed: false, state: s };
    this.#state = { ...s, level: s.level + levelIncrement, holders: { ...s.holders, [id]: leaseEndsAt } };
    return { renewed: true, state: this.#current() };
  }

  async lower(to: number, epoch: number): Promise<FleetState> {
    await this.#trip('lower');
    const s = this.#current();
    if (s.epoch === epoch && s.level > to) this.#state = { ...s, level: to, epoch: s.epoch + 1 };
    return this.#current();
  }

  /** Sets what the store holds (a test's starting point). */
  set(state: FleetState): void {
    this.#state = { ...state, holders: { ...state.holders } };
  }

  #current(): FleetState {
    const s = this.#state ?? (this.#state = { level: this.cap, epoch: 0, holders: {} });
    return { ...s, holders: { ...s.holders } };
  }

  async #trip(call: keyof MemoryFleetStore['calls']): Promise<void> {
    this.calls[call]++;
    if (this.failWith) throw this.failWith;
    if (this.clock && this.delayMs > 0) await this.clock.sleep(this.delayMs);
  }
}
