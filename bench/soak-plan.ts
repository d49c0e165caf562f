/**
 * The soak's seeded fault plan. Every decision is a pure function of the
 * seed and a name for what is decided (a request's image version, field and
 * number; a key and its write number), never of arrival order: two runs
 * with the same seed inject the same faults into the same requests, however
 * their invocations interleave.
 */
import { createHash } from 'node:crypto';
import type { Behaviour } from '../test/support/openai-test-server';

/**
 * A number in [0, 1) drawn from `seed` and `parts`: the same inputs always
 * give the same number.
 */
export function draw(seed: number, ...parts: ReadonlyArray<string | number>): number {
  const digest = createHash('sha256').update(`${seed}\u0000${parts.join('\u0000')}`).digest();
  return digest.readUInt32BE(0) / 2 ** 32;
}

/** The model faults a request may get, in equal shares of `modelFaults`. */
export const MODEL_FAULTS = [
  '429 retry-after-ms',
  '429 without hint',
  '429 Retry-After: 0',
  '500',
  '503',
  'reset',
  'hang',
  'malformed JSON',
  'truncated',
] as const;
export type ModelFault = (typeof MODEL_FAULTS)[number];

/** What an outage image's early requests get. */
export const OUTAGE_FAULT = '503 (outage)';

/** Everything the plan needs besides the seed. */
export interface PlanRates {
  readonly seed: number;
  readonly modelFaults: number;
  readonly outages: number;
  /** Requests per field an outage image fails: one more than the transport retries, so its first run fails every field. */
  readonly outageRequests: number;
  readonly latencyMs: readonly [number, number];
  readonly writeFailures: number;
  readonly stuckKeys: number;
}

/** The fault (if any) of request number `n` (from 0) for `field` of image version `version`. */
export function modelFaultFor(plan: PlanRates, version: string, field: string, n: number): ModelFault | typeof OUTAGE_FAULT | undefined {
  if (n < plan.outageRequests && draw(plan.seed, 'outage', version) < plan.outages) return OUTAGE_FAULT;
  const r = draw(plan.seed, 'model', version, field, n);
  if (r >= plan.modelFaults) return undefined;
  return MODEL_FAULTS[Math.min(MODEL_FAULTS.length - 1, Math.floor((r / plan.modelFaults) * MODEL_FAULTS.length))];
}

/** The test server's behaviour for one request. */
export function behaviourFor(plan: PlanRates, version: string, field: string, n: number): { fault?: string; behaviour: Behaviour } {
  const [min, max] = plan.latencyMs;
  const latencyMs = Math.round(min + draw(plan.seed, 'latency', version, field, n) * (max - min));
  const fault = modelFaultFor(plan, version, field, n);
  const behaviour = ((): Behaviour => {
    switch (fault) {
      case undefined:
        return { kind: 'answer', value: `value of ${field}`, latencyMs };
      case '429 retry-after-ms':
        return { kind: 'status', status: 429, headers: { 'retry-after-ms': '150' }, latencyMs: 5 };
      case '429 without hint':
        return { kind: 'status', status: 429, latencyMs: 5 };
      case '429 Retry-After: 0':
        return { kind: 'status', status: 429, headers: { 'retry-after': '0' }, latencyMs: 5 };
      case '500':
        return { kind: 'status', status: 500, latencyMs };
      case '503':
      case OUTAGE_FAULT:
        return { kind: 'status', status: 503, latencyMs: 20 };
      case 'reset':
        return { kind: 'reset', latencyMs };
      case 'hang':
        return { kind: 'hang' };
      case 'malformed JSON':
        return { kind: 'text', content: '{"value": "unterminated', latencyMs };
      case 'truncated':
        return { kind: 'text', content: '{"value": "cut off', finishReason: 'length', latencyMs };
    }
  })();
  return { ...(fault ? { fault } : {}), behaviour };
}

/** Whether write number `n` (from 0) of the result document at `key` fails. */
export function writeFails(plan: PlanRates, key: string, n: number): boolean {
  if (draw(plan.seed, 'stuck', key) < plan.stuckKeys) return true;
  return draw(plan.seed, 'write', key, n) < plan.writeFailures;
}
