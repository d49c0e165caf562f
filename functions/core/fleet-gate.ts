/**
 * A request gate shared by every execution environment that asks one
 * endpoint: one in-flight count and one learnt limit for the whole fleet,
 * kept in a store all of them reach (DynamoDB in the stack: one item).
 *
 * Why: each environment's own adaptive gate (`adaptive-limit.ts`) sees only
 * its own requests. When environments together ask for more than the
 * endpoint serves, each settles at a share it cannot use fully (an image of
 * 5 fields at a limit of 3 takes two rounds, the second not full), and no
 * environment may use the slots another leaves idle. With one count for
 * all, a slot one environment frees is the next slot of whichever
 * environment has a field waiting.
 *
 * How:
 * - A request holds a *slot*: an entry in the store's `holders` map, with
 *   a lease end. Claiming is one conditional write (refused when the fleet
 *   already holds its limit, or when the limit was lowered since the
 *   claimer looked); a crashed environment's slots are reclaimed when their
 *   leases end.
 * - A slot stays in its environment while that environment has a field
 *   waiting: the next attempt takes it over without a write (renewing the
 *   lease only when it runs short). Only when nothing waits is it released.
 * - The limit is learnt as AIMD is, but from the fleet's count: a 429 or
 *   503 lowers it to the number of slots that were held when the refused
 *   request claimed its own, less one (what the endpoint had room for), but
 *   never below half the limit, and once per epoch (a request claimed before
 *   the last lowering says nothing new): a refusal that has nothing to do
 *   with load, at a low position, must not bring the whole fleet down to
 *   one. Answers while the fleet is full raise it by one per window of
 *   answers, never above the cap. So the fleet probes one slot above what
 *   the endpoint serves about once per window, and is refused once for it.
 * - A refused request goes again by hand-off, as in the local gate: its
 *   environment's next answer passes it its slot.
 * - Waiting for a slot is polling the store (one consistent read per
 *   `pollMs`, per waiting invocation, not per waiting request).
 *
 * The store is an optimisation, not the authority: when it fails, the gate
 * logs it once and lets the invocation's requests go under its local cap
 * alone, where the endpoint's throttling and the retry rules still apply.
 * Also within an invocation, at most `localCap` requests are in flight.
 */
import { reportedOnce, type AttemptFeedback, type Gate, type GateOptions } from './adaptive-limit';
import { ErrorCode, toErrorInfo } from './errors';
import type { Clock, Logger } from './ports';

/** What the store holds for one endpoint. */
export interface FleetState {
  /** The learnt limit, a real number (the gate uses its whole part, capped). */
  readonly level: number;
  /** How many times the level was lowered: a claim made before a lowering is refused. */
  readonly epoch: number;
  /** Slot id → the lease's end (ms since the Unix epoch). */
  readonly holders: Readonly<Record<string, number>>;
}

/** A conditional claim of `ids`. */
export interface FleetClaim {
  readonly ids: readonly string[];
  readonly leaseEndsAt: number;
  /** Refused when the stored epoch is not this one (the level was lowered meanwhile). */
  readonly epoch: number;
  /** Refused when the stored `holders` has more entries than this before the claim (`expired` included). */
  readonly maxHoldersBefore: number;
  /** Entries whose lease has ended, removed by the same write; refused when one has changed. */
  readonly expired: Readonly<Record<string, number>>;
}

/** Where the fleet's state lives (`adapters/dynamodb-fleet-store.ts`). */
export interface FleetStore {
  /** A consistent read; the store creates the initial state (level = cap, nothing held) when none exists. */
  read(): Promise<FleetState>;
  /** The claim, if its conditions hold; the state after, either way. */
  claim(claim: FleetClaim): Promise<{ readonly claimed: boolean; readonly state: FleetState }>;
  /** Removes `ids` (those still held) and adds `levelIncrement` to the level. */
  release(ids: readonly string[], levelIncrement: number): Promise<FleetState>;
  /** Moves the lease of `id` to `leaseEndsAt` if it is still held; `renewed: false` when it is not. */
  renew(id: string, leaseEndsAt: number, levelIncrement: number): Promise<{ readonly renewed: boolean; readonly state: FleetState }>;
  /**
   * Lowers the level to `to` (one more epoch) when the epoch is still `epoch`
   * and the level is above `to`; otherwise changes nothing.
   */
  lower(to: number, epoch: number): Promise<FleetState>;
}

/**
 * One execution environment's view of the fleet: the state it saw last and
 * the answers it has yet to count. It outlives the gate (one per
 * invocation), as `AimdLevel` does.
 */
export class FleetView {
  readonly cap: number;
  state: FleetState | undefined;
  /** Level growth earned by answers, added to the store with the next write. */
  #pending = 0;
  // Sent with a write whose state has not come back yet.
  #unconfirmed = 0;

  /** @throws {TypeError} when `cap` is not a whole number ≥ 1. */
  constructor(cap: number) {
    if (!(Number.isInteger(cap) && cap >= 1)) throw new TypeError(`Expected cap to be a whole number ≥ 1, got ${cap}`);
    this.cap = cap;
  }

  /** The whole number of slots the fleet may hold, from `state` (or the last one seen). */
  limit(state: FleetState | undefined = this.state): number {
    if (!state) return this.cap;
    return Math.min(this.cap, Math.max(1, Math.floor(state.level)));
  }

  /**
   * One answer's share of a window's growth (1 / limit), kept until the next
   * write and never past the cap: transfers within an environment write
   * nothing, so many answers may add up before one is sent.
   */
  grow(): void {
    const level = this.state?.level ?? this.cap;
    const room = this.cap - (level + this.#unconfirmed + this.#pending);
    if (room > 0) this.#pending += Math.min(1 / this.limit(), room);
  }

  /**
   * Sends the growth earned so far with one write (so it is sent once) and
   * keeps the state that write returns.
   */
  async write<R extends { readonly state: FleetState }>(send: (increment: number) => Promise<R>): Promise<R> {
    const increment = this.#pending;
    this.#pending = 0;
    this.#unconfirmed += increment;
    try {
      const result = await send(increment);
      this.state = result.state;
      return result;
    } finally {
      this.#unconfirmed -= increment;
    }
  }
}

/**
 * The store refused a call for its own load (DynamoDB throttling one hot
 * item): a waiting invocation waits longer rather than giving the gate up.
 * Thrown by the store's adapter.
 */
export class FleetStoreBusyError extends Error {
  override readonly name = 'FleetStoreBusyError';
}

/** Busy answers in a row a waiting invocation sits out, each wait doubling, before it goes on without the gate. */
const MAX_BUSY_WAITS = 6;
const MAX_BUSY_WAIT_MS = 1_000;

/** Leases end this long after the clock says, at the earliest, for the clocks of other environments. */
const CLOCK_SKEW_MS = 5_000;

/** Live holders and those whose lease ended (with the skew allowance) at `now`. */
export function splitHolders(state: FleetState, now: number): { live: number; expired: Record<string, number> } {
  let live = 0;
  const expired: Record<string, number> = {};
  for (const [id, endsAt] of Object.entries(state.holders)) {
    if (endsAt + CLOCK_SKEW_MS < now) expired[id] = endsAt;
    else live++;
  }
  return { live, expired };
}

export interface FleetGateOptions {
  readonly store: FleetStore;
  /** This environment's view (kept across invocations). */
  readonly view: FleetView;
  /** At most this many of this invocation's requests in flight (`MODEL_MAX_CONCURRENCY`). */
  readonly localCap: number;
  /** Unique to this invocation: slot ids are `<owner>:<n>`. */
  readonly owner: string;
  /** The longest one attempt holds a slot (`MODEL_TIMEOUT_MS`): leases outlast it. */
  readonly attemptMs: number;
  /** How often a waiting invocation looks for a free slot. */
  readonly pollMs: number;
  readonly clock: Clock;
  readonly random: () => number;
  readonly logger: Logger;
  /** The invocation's deadline: once it passes, waiters stop waiting for the fleet. */
  readonly signal?: AbortSignal;
}

/** A fleet gate, with its state for logs and tests. */
export interface FleetGate extends Gate {
  /** This invocation's tasks running now. */
  readonly active: number;
  /** This invocation's tasks waiting (for a local or a fleet slot, hand-offs included). */
  readonly waiting: number;
  /** Fleet slots this invocation holds now. */
  readonly held: number;
  /** True once the store failed and the gate went on without it. */
  readonly degraded: boolean;
}

interface Slot {
  readonly id: string;
  leaseEndsAt: number;
  /** How many slots the fleet held just after this one was claimed (itself included). */
  readonly position: number;
  /** The level's epoch when it was claimed. */
  readonly epoch: number;
}

type Start = (slot: Slot | undefined) => void;

/**
 * A gate over the fleet's shared count.
 *
 * @example
 * ```ts
 * const view = new FleetView(10);   // once per execution environment
 * const gate = createFleetGate({ store, view, localCap: 5, owner: requestId, attemptMs: 60_000,
 *   pollMs: 25, clock, random: Math.random, logger, signal: deadline });
 * ```
 */
export function createFleetGate(o: FleetGateOptions): FleetGate {
  const leaseMs = 2 * o.attemptMs + CLOCK_SKEW_MS;
  const queue: Start[] = [];
  const handOffs: Start[] = [];
  // Slots held and not in use: only between one attempt's end and the next one's start.
  const free: Slot[] = [];
  let active = 0;
  let held = 0;
  let claiming = false;
  let degraded = false;
  let seq = 0;

  const degrade = (err: unknown): void => {
    if (!degraded) {
      o.logger.warn('the fleet gate is unavailable; requests go under the local limit alone', {
        code: ErrorCode.FLEET_GATE_UNAVAILABLE,
        error: toErrorInfo(err),
      });
    }
    degraded = true;
  };
  const goesAlone = (): boolean => degraded || o.signal?.aborted === true;

  const fleetFull = (): boolean => {
    const state = o.view.state;
    return state !== undefined && splitHolders(state, o.clock.now()).live >= o.view.limit(state);
  };
  const overLimit = (): boolean => {
    const state = o.view.state;
    return state !== undefined && splitHolders(state, o.clock.now()).live > o.view.limit(state);
  };

  const release = async (ids: readonly string[]): Promise<void> => {
    held -= ids.length;
    if (degraded) return;
    try {
      await o.view.write(async (inc) => ({ state: await o.store.release(ids, inc) }));
    } catch (err) {
      // The leases end on their own; until then the fleet counts them.
      degrade(err);
    }
  };

  const pump = (): void => {
    if (active === 0 && handOffs.length > 0) queue.unshift(...handOffs.splice(0));
    while (active < o.localCap && queue.length > 0) {
      const slot = free.shift();
      if (!slot && !goesAlone()) break;
      active++;
      queue.shift()!(slot);
    }
    if (queue.length === 0 && free.length > 0) void release(free.splice(0).map((s) => s.id));
    if (queue.length > 0 && active < o.localCap && !claiming && !goesAlone()) void acquire();
  };

  // One loop per invocation claims slots for all its waiting requests.
  const acquire = async (): Promise<void> => {
    claiming = true;
    let busy = 0;
    try {
      for (;;) {
        const wanted = (): number => Math.min(queue.length, o.localCap - active) - free.length;
        if (wanted() <= 0 || goesAlone()) break;
        try {
          if (await claimOnce(wanted)) break;
          busy = 0;
        } catch (err) {
          // Too many waiting invocations read the one item: wait longer, do not give up the gate.
          if (!(err instanceof FleetStoreBusyError) || busy >= MAX_BUSY_WAITS) throw err;
          busy++;
          try {
            await o.clock.sleep(Math.min(MAX_BUSY_WAIT_MS, o.pollMs * 2 ** busy) * (0.5 + o.random()), o.signal);
          } catch {
            break; // the deadline passed: the waiters go alone
          }
        }
      }
    } catch (err) {
      degrade(err);
    } finally {
      claiming = false;
      pump();
    }
  };

  /** One look at the fleet, and a claim when it has room: true when the loop should stop. */
  const claimOnce = async (wanted: () => number): Promise<boolean> => {
    const state = o.view.state ?? (o.view.state = await o.store.read());
    // Counted after the read: requests that arrived meanwhile share this claim.
    const want = wanted();
    if (want <= 0) return true;
    const now = o.clock.now();
    const { live, expired } = splitHolders(state, now);
    const limit = o.view.limit(state);
    const room = limit - live;
    if (room <= 0) {
      try {
        await o.clock.sleep(o.pollMs * (0.5 + o.random()), o.signal);
      } catch {
        return true; // the deadline passed: the waiters go alone
      }
      o.view.state = await o.store.read();
      return false;
    }
    const k = Math.min(room, want);
    const ids = Array.from({ length: k }, () => `${o.owner}:${++seq}`);
    const leaseEndsAt = now + leaseMs;
    const expiredCount = Object.keys(expired).length;
    const result = await o.store.claim({
      ids,
      leaseEndsAt,
      epoch: state.epoch,
      maxHoldersBefore: limit - k + expiredCount,
      expired,
    });
    o.view.state = result.state;
    if (!result.claimed) return false; // someone was first: look at what the store says now
    held += k;
    const after = splitHolders(result.state, o.clock.now()).live;
    ids.forEach((id, i) => free.push({ id, leaseEndsAt, position: after - k + i + 1, epoch: result.state.epoch }));
    pump();
    return false;
  };

  // What becomes of a slot when its attempt ends.
  const settle = async (slot: Slot | undefined, refused: boolean): Promise<void> => {
    active--;
    // A refused request held no slot at the endpoint: it frees none to hand off.
    if (!refused && handOffs.length > 0) queue.unshift(handOffs.shift()!);
    if (!slot) return pump();
    if (refused) {
      if (!degraded) {
        try {
          // What the endpoint had room for: the slots held when this one was
          // claimed, less this one; never below half the limit.
          const limit = o.view.limit();
          const to = Math.max(1, Math.floor(limit / 2), Math.min(limit, slot.position - 1));
          o.view.state = await o.store.lower(to, slot.epoch);
        } catch (err) {
          degrade(err);
        }
      }
      await release([slot.id]);
      return pump();
    }
    if (queue.length > 0 && !overLimit()) {
      // Kept for this invocation's next attempt; the lease renewed if it would not outlast it.
      const now = o.clock.now();
      if (!degraded && slot.leaseEndsAt - now < o.attemptMs + CLOCK_SKEW_MS) {
        try {
          const r = await o.view.write((inc) => o.store.renew(slot.id, now + leaseMs, inc));
          if (!r.renewed) {
            held--; // reclaimed by someone else: the waiter claims a new one
            return pump();
          }
          slot.leaseEndsAt = now + leaseMs;
        } catch (err) {
          degrade(err);
        }
      }
      free.push(slot);
      return pump();
    }
    await release([slot.id]);
    pump();
  };

  const gate = <T>(task: (feedback?: AttemptFeedback) => Promise<T>, options?: GateOptions): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const start: Start = (slot) => {
        const feedback = reportedOnce({
          // The lowering waits for the attempt's end (`settle`), where the slot is given up.
          throttled: () => undefined,
          succeeded: () => {
            // Growth only while the fleet is full (or this invocation has more to send).
            if (slot && (queue.length + handOffs.length > 0 || fleetFull())) o.view.grow();
          },
        });
        let outcome: { ok: true; value: T } | { ok: false; error: unknown };
        // A task that throws synchronously still releases its slot.
        Promise.resolve()
          .then(() => task(feedback))
          .then(
            (value) => (outcome = { ok: true, value }),
            (error: unknown) => (outcome = { ok: false, error }),
          )
          // The slot is settled before the caller hears back, so an invocation
          // that ends with its last answer has released what it held.
          .then(() => settle(slot, feedback.refused))
          .then(() => (outcome.ok ? resolve(outcome.value) : reject(outcome.error)));
      };
      if (options?.handOff && active > 0) handOffs.push(start);
      else queue.push(start);
      pump();
    });

  return Object.defineProperties(gate, {
    active: { get: () => active, enumerable: true },
    waiting: { get: () => queue.length + handOffs.length, enumerable: true },
    held: { get: () => held, enumerable: true },
    degraded: { get: () => degraded, enumerable: true },
  }) as FleetGate;
}
