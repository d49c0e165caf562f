/**
 * Leases: an invocation claims an object version before it asks the model,
 * so a second delivery of the same event that arrives while the first is
 * still working costs nothing.
 *
 * A lease is a small S3 object written with `If-None-Match: *`: of two
 * deliveries exactly one creates it. It names the version (ETag), the
 * configuration fingerprint and an expiry tied to the invocation's end, so a
 * crashed invocation never blocks the image for longer than one function
 * timeout: an expired lease (or one for another version or configuration)
 * is taken over with `If-Match` on its ETag, which again only one taker wins.
 * The holder deletes it when its document is written.
 */
import * as z from 'zod';
import { WriteConflictError } from './errors';
import type { ObjectRef, ObjectStore } from './ports';

const leaseSchema = z.object({
  etag: z.string(),
  fingerprint: z.string(),
  owner: z.string(),
  /** Epoch milliseconds after which the lease is void. */
  expiresAt: z.number(),
});
/** What a lease object holds. */
export type Lease = z.infer<typeof leaseSchema>;

export type ClaimOutcome =
  /** Ours; `etag` is the lease object's, for releasing only our own lease. */
  | { readonly kind: 'claimed'; readonly etag: string }
  /** A live lease for the same version and configuration: another invocation is at work. */
  | { readonly kind: 'held'; readonly by: Lease };

export interface ClaimOptions {
  readonly store: ObjectStore;
  readonly ref: ObjectRef;
  readonly lease: Lease;
  /** Now, in the clock's epoch milliseconds. */
  readonly now: number;
  readonly signal?: AbortSignal;
}

/** Largest lease object worth reading; anything bigger is not ours. */
const MAX_LEASE_BYTES = 4096;

/**
 * Claims the lease for `lease.etag` + `lease.fingerprint`.
 *
 * @throws whatever the store throws besides a lost race (the invocation then
 *   fails and is retried, which is safe: nothing was asked yet).
 */
export async function claimLease(o: ClaimOptions): Promise<ClaimOutcome> {
  const { store, ref, lease, signal } = o;
  const callOptions = signal ? { signal } : {};
  // Two rounds: the lease may be released (deleted) between our failed
  // create and our read of it; then creating it again is the right move.
  for (let round = 0; round < 2; round++) {
    try {
      const { etag } = await store.putJson(ref, lease, {}, { condition: { ifNoneMatch: '*' }, ...callOptions });
      return { kind: 'claimed', etag };
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err;
    }
    const read = await store.read(ref, { maxBytes: MAX_LEASE_BYTES, ...callOptions }).catch(() => undefined);
    if (!read) continue;
    const current = parseLease(read.body);
    if (current && current.etag === lease.etag && current.fingerprint === lease.fingerprint && current.expiresAt > o.now) {
      return { kind: 'held', by: current };
    }
    // Expired, unreadable, or for another version or configuration: take it over.
    try {
      const { etag } = await store.putJson(ref, lease, {}, { condition: { ifMatch: read.info.etag }, ...callOptions });
      return { kind: 'claimed', etag };
    } catch (err) {
      if (!(err instanceof WriteConflictError)) throw err;
      // Someone else took it over first; look once more.
    }
  }
  const last = await store.read(ref, { maxBytes: MAX_LEASE_BYTES, ...callOptions }).catch(() => undefined);
  const holder = last ? parseLease(last.body) : undefined;
  // Still contended after two rounds: treat it as held so the model is not asked twice.
  return { kind: 'held', by: holder ?? lease };
}

/**
 * Gives the lease back, only if it is still ours (`If-Match` on the ETag the
 * claim wrote): a lease taken over by an invocation for a newer version is
 * left to its holder. A failure only leaves it to expire.
 */
export async function releaseLease(store: ObjectStore, ref: ObjectRef, etag: string, signal?: AbortSignal): Promise<boolean> {
  try {
    await store.delete(ref, { ifMatch: etag, ...(signal ? { signal } : {}) });
    return true;
  } catch {
    return false;
  }
}

function parseLease(body: Buffer): Lease | undefined {
  try {
    const parsed = leaseSchema.safeParse(JSON.parse(body.toString('utf8')));
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  }
}
