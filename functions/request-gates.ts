/**
 * Which request gate an invocation's model requests pass through, decided
 * in one place for every function that asks the model:
 * - with `FLEET_GATE_TABLE`, the fleet gate (`core/fleet-gate.ts`): one
 *   in-flight count and one learnt limit for every environment, in DynamoDB;
 * - otherwise the environment's own adaptive gate (`core/adaptive-limit.ts`).
 *
 * What a gate learns outlives the invocation: the environment keeps its
 * `AimdLevel` (or its view of the fleet), and each invocation gets a new
 * gate over it, with its own count of requests in flight.
 */
import { AimdLevel, createAdaptiveLimit, type Gate } from './core/adaptive-limit';
import { createFleetGate, FleetView, type FleetStore } from './core/fleet-gate';
import type { Clock, Logger } from './core/ports';
import type { Config } from './config';

/** One invocation's side of the gate. */
export interface GateInvocation {
  /** Unique per invocation (the Lambda request id): the fleet's slot ids start with it. */
  readonly id: string;
  readonly logger: Logger;
  /** The invocation's deadline: past it, no request waits for the fleet. */
  readonly signal?: AbortSignal;
}

/** An invocation's gate; `degraded` when it is a fleet gate whose store failed. */
export type InvocationGate = Gate & { readonly degraded?: boolean };

/** Makes each invocation's gate; built once per execution environment. */
export type RequestGates = (invocation: GateInvocation) => InvocationGate;

/**
 * The gates of one execution environment.
 *
 * @param fleetStore the fleet gate's store, present when `config.model.fleetGate` is set.
 */
export function createRequestGates(config: Config, clock: Clock, fleetStore?: FleetStore): RequestGates {
  const fleet = config.model.fleetGate;
  if (fleet && fleetStore) {
    const view = new FleetView(fleet.capacity);
    return (invocation) =>
      createFleetGate({
        store: fleetStore,
        view,
        localCap: config.model.maxConcurrency,
        owner: invocation.id,
        attemptMs: config.model.timeoutMs,
        pollMs: fleet.pollMs,
        clock,
        random: Math.random,
        logger: invocation.logger,
        ...(invocation.signal ? { signal: invocation.signal } : {}),
      });
  }
  const level = new AimdLevel(config.model.maxConcurrency);
  return () => createAdaptiveLimit(level);
}
