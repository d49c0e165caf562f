/**
 * The soak's accounting: from what was recorded during a run and what the
 * bucket holds once it settled, the figures the soak prints. Pure: no I/O,
 * so it is tested on a small recorded run without servers.
 *
 * Lost: an object under the input prefix whose result document is missing,
 * unreadable or for another ETag than the object's current one, and whose
 * current version has no event in the dead-letter list.
 *
 * Model calls spent on duplicates. Calls are grouped into field runs: the
 * requests one invocation made for one field of one image version (its
 * transport retries and its re-ask included). A field run is duplicate
 * work when, as its first request was sent,
 * - answered: a result document for that version, already written, had
 *   the field `ok` (the answer was on record), or
 * - concurrent: another invocation had already started a field run for the
 *   same version and field and had not ended (two invocations asking the
 *   same question at once: what a lease prevents).
 * Every request of a duplicate field run is spent on a duplicate. Re-asking
 * a field that an earlier document left failed is not: that is the resumed
 * retry doing its job, whichever delivery does it. Nor is work a failed
 * write threw away: the next try has no answer on record to reuse.
 */
import { TRANSIENT_ERROR_CODES, type ErrorCode } from '../functions/core/errors';
import type { Check, Table } from './report';
import { mark } from './report';
import type { ModelCall, ResultWrite } from './soak-probes';

/** One uploaded version of a source object. */
export interface VersionRecord {
  /** `<key>#<n>`, n from 1. */
  readonly label: string;
  readonly key: string;
  readonly etag: string;
  /** Where its result document goes. */
  readonly resultKey: string;
}

export type DeliveryKind = 'original' | 'replacement' | 'duplicate' | 'in-flight duplicate';

export interface DeliveryRecord {
  readonly id: number;
  /** The version label the event names. */
  readonly version: string;
  readonly kind: DeliveryKind;
  /** In-flight duplicates: whether its first invocation started while the delivery it repeats was running. */
  readonly overlapped?: boolean;
}

/** One invocation, as the simulated Lambda ran it. */
export interface InvocationSummary {
  readonly seq: number;
  readonly deliveryId: number;
  readonly attempt: number;
  readonly startedAt: number;
  readonly endedAt: number;
  /** The error code it failed with. */
  readonly error?: string;
  /** What the handler reported per record, e.g. `written complete`, `skipped duplicate`. */
  readonly outcomes: readonly string[];
}

export interface DeadLetterRecord {
  readonly deliveryId: number;
  readonly version: string;
  readonly error: string;
}

/** A result document as the bucket holds it at the end. */
export interface FinalDocument {
  readonly sourceEtag: string;
  readonly status: string;
  readonly retryable: boolean;
}

/** An object under the input prefix at the end, with its result document. */
export interface FinalObject {
  readonly key: string;
  readonly etag: string;
  /** Absent: no document; `invalid`: not a result document. */
  readonly document?: FinalDocument | 'invalid';
}

/** Everything a run recorded. */
export interface SoakRecord {
  readonly images: number;
  readonly versions: readonly VersionRecord[];
  readonly deliveries: readonly DeliveryRecord[];
  readonly invocations: readonly InvocationSummary[];
  readonly deadLetters: readonly DeadLetterRecord[];
  readonly undelivered: number;
  readonly stoppedByTime: boolean;
  readonly modelCalls: readonly ModelCall[];
  readonly resultWrites: readonly ResultWrite[];
  readonly objects: readonly FinalObject[];
  /** What the test server counted. */
  readonly server: { readonly requests: number; readonly maxInFlight: number; readonly capacity429: number };
  /** Faults the plan injected, by kind. */
  readonly faults: Readonly<Record<string, number>>;
  readonly budget: { readonly capacity: number; readonly perInvocation: number; readonly concurrency: number; readonly maxInFlight: number };
  /** With `--fleet-gate`: what its item held at the end. */
  readonly fleetGate?: FleetGateAtEnd;
  readonly wallMs: number;
}

/** The fleet gate's item once the run has settled. */
export interface FleetGateAtEnd {
  /** Slots still held (released on every path, or their leases would keep them for minutes). */
  readonly held: number;
  readonly level: number;
  /** Times the level was lowered. */
  readonly epoch: number;
}

export interface SoakFigures {
  /** Objects under the input prefix at the end. */
  readonly images: number;
  /** Versions uploaded (images + replacements). */
  readonly versions: number;
  readonly deliveries: {
    readonly total: number;
    readonly byKind: Readonly<Record<DeliveryKind, number>>;
    /** In-flight duplicates whose first invocation really overlapped the delivery they repeat. */
    readonly overlapped: number;
    readonly undelivered: number;
  };
  readonly invocations: {
    readonly total: number;
    readonly retries: number;
    /** Failed invocations by error code. */
    readonly failed: Readonly<Record<string, number>>;
  };
  /** What the handler reported per record, over every invocation that returned. */
  readonly outcomes: Readonly<Record<string, number>>;
  readonly documents: {
    /** Objects with a document for their current ETag. */
    readonly total: number;
    readonly byStatus: Readonly<Record<string, number>>;
    readonly retryable: number;
  };
  readonly deadLettered: {
    /** Entries in the dead-letter list. */
    readonly events: number;
    /** Objects with no current document whose current version is in the list. */
    readonly objectsWithoutDocument: number;
  };
  readonly lost: number;
  /** Up to 10 lost keys, each with why. */
  readonly lostExamples: readonly string[];
  readonly modelCalls: {
    /** Requests the handler made (recorded around its model client). */
    readonly total: number;
    /** Requests the test server received: equal to `total` when every request is accounted for. */
    readonly serverReceived: number;
    readonly spentOnDuplicates: number;
    readonly duplicateAnswered: number;
    readonly duplicateConcurrent: number;
    /** Made by invocations for a version that was replaced by the end (legitimate, wasted by the replacement). */
    readonly forReplacedVersions: number;
    /** About another image than the version the invocation's event named (a read that did not hold to the event's ETag). */
    readonly otherContent: number;
    /** Asking a field that a written document had failed with a final (not transient) error. */
    readonly reaskedFinalFailures: number;
    readonly unattributed: number;
  };
  readonly throttled: { readonly injected429: number; readonly capacity429: number };
  readonly faults: Readonly<Record<string, number>>;
  /** Result-document writes; `failedOther` includes conditional writes that lost a race (412). */
  readonly resultWrites: { readonly total: number; readonly failedInjected: number; readonly failedOther: number };
  readonly inFlight: { readonly max: number; readonly budget: number; readonly capacity: number; readonly perInvocation: number; readonly concurrency: number };
  readonly stoppedByTime: boolean;
  /** With `--fleet-gate`: its item at the end. */
  readonly fleetGate?: FleetGateAtEnd;
  readonly wallMs: number;
}

/** Computes the figures of a run. */
export function accountSoak(r: SoakRecord): SoakFigures {
  const versions = new Map(r.versions.map((v) => [v.label, v]));
  const deliveries = new Map(r.deliveries.map((d) => [d.id, d]));
  const invocations = new Map(r.invocations.map((i) => [i.seq, i]));
  const current = new Map(r.objects.map((o) => [o.key, o.etag]));

  // Documents, dead letters, lost.
  const deadVersions = new Set(r.deadLetters.map((d) => d.version));
  const currentLabel = (o: FinalObject): string | undefined => r.versions.find((v) => v.key === o.key && v.etag === o.etag)?.label;
  const byStatus: Record<string, number> = {};
  let documents = 0;
  let retryable = 0;
  let deadOnly = 0;
  const lost: string[] = [];
  for (const o of r.objects) {
    const doc = o.document;
    if (doc && doc !== 'invalid' && doc.sourceEtag === o.etag) {
      documents++;
      byStatus[doc.status] = (byStatus[doc.status] ?? 0) + 1;
      if (doc.retryable) retryable++;
      continue;
    }
    const label = currentLabel(o);
    if (label && deadVersions.has(label)) {
      deadOnly++;
      continue;
    }
    lost.push(`${o.key}: ${doc === undefined ? 'no document' : doc === 'invalid' ? 'unreadable document' : `document for ETag ${doc.sourceEtag}, object has ${o.etag}`}`);
  }

  // Model calls: field runs, then duplicates among them.
  interface FieldRun {
    readonly invocation: number;
    readonly version: string;
    readonly field: string;
    readonly first: number;
    calls: number;
  }
  const runs = new Map<string, FieldRun>();
  let unattributed = 0;
  let forReplaced = 0;
  let otherContent = 0;
  for (const c of r.modelCalls) {
    if (c.invocation === undefined) {
      unattributed++;
      continue;
    }
    const eventVersion = versionOfInvocation(c.invocation);
    if (eventVersion) {
      if (current.get(eventVersion.key) !== eventVersion.etag) forReplaced++;
      if (c.version !== eventVersion.label) otherContent++;
    }
    const id = `${c.invocation}\u0000${c.version}\u0000${c.field}`;
    const run = runs.get(id);
    if (run) run.calls++;
    else runs.set(id, { invocation: c.invocation, version: c.version, field: c.field, first: c.at, calls: 1 });
  }
  const byQuestion = new Map<string, FieldRun[]>();
  for (const run of runs.values()) {
    const q = `${run.version}\u0000${run.field}`;
    byQuestion.set(q, [...(byQuestion.get(q) ?? []), run]);
  }
  let answered = 0;
  let concurrent = 0;
  let reaskedFinal = 0;
  for (const group of byQuestion.values()) {
    for (const run of group) {
      const v = versions.get(run.version);
      const before = v
        ? r.resultWrites.filter((w) => w.ok && w.key === v.resultKey && w.sourceEtag === v.etag && w.at <= run.first)
        : [];
      if (before.some((w) => w.fields[run.field] === 'ok')) {
        answered += run.calls;
        continue;
      }
      const other = group.some(
        (o) => o.invocation !== run.invocation && o.first < run.first && (invocations.get(o.invocation)?.endedAt ?? Infinity) > run.first,
      );
      if (other) {
        concurrent += run.calls;
        continue;
      }
      const last = before.at(-1)?.fields[run.field];
      if (last !== undefined && last !== 'ok' && !TRANSIENT_ERROR_CODES.has(last as ErrorCode)) reaskedFinal += run.calls;
    }
  }

  const byKind: Record<DeliveryKind, number> = { original: 0, replacement: 0, duplicate: 0, 'in-flight duplicate': 0 };
  for (const d of r.deliveries) byKind[d.kind]++;
  const failed: Record<string, number> = {};
  const outcomes: Record<string, number> = {};
  for (const i of r.invocations) {
    if (i.error) failed[i.error] = (failed[i.error] ?? 0) + 1;
    for (const o of i.outcomes) outcomes[o] = (outcomes[o] ?? 0) + 1;
  }
  const injected429 = Object.entries(r.faults).reduce((n, [kind, count]) => n + (kind.startsWith('429') ? count : 0), 0);

  return {
    images: r.objects.length,
    versions: r.versions.length,
    deliveries: {
      total: r.deliveries.length,
      byKind,
      overlapped: r.deliveries.filter((d) => d.overlapped).length,
      undelivered: r.undelivered,
    },
    invocations: {
      total: r.invocations.length,
      retries: r.invocations.filter((i) => i.attempt > 1).length,
      failed: sorted(failed),
    },
    outcomes: sorted(outcomes),
    documents: { total: documents, byStatus: sorted(byStatus), retryable },
    deadLettered: { events: r.deadLetters.length, objectsWithoutDocument: deadOnly },
    lost: lost.length,
    lostExamples: lost.slice(0, 10),
    modelCalls: {
      total: r.modelCalls.length,
      serverReceived: r.server.requests,
      spentOnDuplicates: answered + concurrent,
      duplicateAnswered: answered,
      duplicateConcurrent: concurrent,
      forReplacedVersions: forReplaced,
      otherContent,
      reaskedFinalFailures: reaskedFinal,
      unattributed,
    },
    throttled: { injected429, capacity429: r.server.capacity429 },
    faults: sorted(r.faults),
    resultWrites: {
      total: r.resultWrites.length,
      failedInjected: r.resultWrites.filter((w) => w.injected).length,
      failedOther: r.resultWrites.filter((w) => !w.ok && !w.injected).length,
    },
    inFlight: {
      max: r.server.maxInFlight,
      budget: r.budget.maxInFlight,
      capacity: r.budget.capacity,
      perInvocation: r.budget.perInvocation,
      concurrency: r.budget.concurrency,
    },
    stoppedByTime: r.stoppedByTime,
    ...(r.fleetGate ? { fleetGate: r.fleetGate } : {}),
    wallMs: r.wallMs,
  };

  function versionOfInvocation(seq: number): VersionRecord | undefined {
    const inv = invocations.get(seq);
    const d = inv ? deliveries.get(inv.deliveryId) : undefined;
    return d ? versions.get(d.version) : undefined;
  }
}

/** The targets a run must meet: the soak exits non-zero when one is missed. */
export function soakChecks(f: SoakFigures): Check[] {
  return [
    { name: 'lost', target: '0', value: String(f.lost), pass: f.lost === 0 },
    { name: 'model calls spent on duplicates', target: '0', value: String(f.modelCalls.spentOnDuplicates), pass: f.modelCalls.spentOnDuplicates === 0 },
    {
      name: 'most requests in flight',
      target: `≤ budget ${f.inFlight.budget}`,
      value: String(f.inFlight.max),
      pass: f.inFlight.max <= f.inFlight.budget,
    },
    {
      name: 'every event settled in time',
      target: 'no undelivered event',
      value: f.stoppedByTime ? `stopped by the time limit, ${f.deliveries.undelivered} undelivered` : `${f.deliveries.undelivered} undelivered`,
      pass: !f.stoppedByTime && f.deliveries.undelivered === 0,
    },
    ...(f.fleetGate
      ? [{ name: 'fleet gate: slots held at the end', target: '0', value: String(f.fleetGate.held), pass: f.fleetGate.held === 0 }]
      : []),
  ];
}

/** The figures as one table, with the checks' marks beside the figures they judge. */
export function soakTable(f: SoakFigures): Table {
  const checks = new Map(soakChecks(f).map((c) => [c.name, c]));
  const judged = (name: string): string => {
    const c = checks.get(name);
    return c ? `${mark(c.pass)} ${c.target}` : '';
  };
  const parts = (record: Readonly<Record<string, number>>): string =>
    Object.entries(record).map(([k, n]) => `${k} ${n}`).join(', ') || 'none';
  const k = f.deliveries.byKind;
  const m = f.modelCalls;
  const rows: Array<[string, string, string]> = [
    ['images', `${f.images} (${f.versions} versions uploaded)`, ''],
    ['events delivered', String(f.deliveries.total), ''],
    ['  first / replacements', `${k.original} / ${k.replacement}`, ''],
    ['  duplicates after / in flight', `${k.duplicate} / ${k['in-flight duplicate']} (${f.deliveries.overlapped} overlapped)`, ''],
    ['invocations', `${f.invocations.total} (${f.invocations.retries} retries)`, ''],
    ['  failed', parts(f.invocations.failed), ''],
    ['  handler outcomes', parts(f.outcomes), ''],
    ['documents', `${f.documents.total}: ${parts(f.documents.byStatus)}`, ''],
    ['  retryable', String(f.documents.retryable), ''],
    ['dead-lettered', `${f.deadLettered.events} events; ${f.deadLettered.objectsWithoutDocument} objects without a document`, ''],
    ['lost', String(f.lost), judged('lost')],
    ['model calls', `${m.total} (server received ${m.serverReceived})`, ''],
    [
      '  spent on duplicates',
      `${m.spentOnDuplicates} (already answered ${m.duplicateAnswered}, concurrent ${m.duplicateConcurrent})`,
      judged('model calls spent on duplicates'),
    ],
    ['  for replaced versions', String(m.forReplacedVersions), ''],
    ["  about another image than the event's", String(m.otherContent), ''],
    ['  re-asking final failures', String(m.reaskedFinalFailures), ''],
    [
      '429s',
      `${f.throttled.injected429 + f.throttled.capacity429} (injected: ${parts(pick(f.faults, (kind) => kind.startsWith('429')))}; beyond capacity ${f.throttled.capacity429})`,
      '',
    ],
    ['other model faults injected', parts(pick(f.faults, (kind) => !kind.startsWith('429'))), ''],
    ['result writes', `${f.resultWrites.total} (failed: injected ${f.resultWrites.failedInjected}; other, lost conditional writes included, ${f.resultWrites.failedOther})`, ''],
    [
      'most requests in flight',
      `${f.inFlight.max} vs budget ${f.inFlight.budget} (C = ${f.inFlight.capacity}: ${f.inFlight.concurrency} invocations × ${f.inFlight.perInvocation})`,
      judged('most requests in flight'),
    ],
    ...(f.fleetGate
      ? [
          [
            'fleet gate at the end',
            `${f.fleetGate.held} slots held, level ${Math.round(f.fleetGate.level * 100) / 100}, lowered ${f.fleetGate.epoch} times`,
            judged('fleet gate: slots held at the end'),
          ] as [string, string, string],
        ]
      : []),
    ['wall time', `${(f.wallMs / 1000).toFixed(1)} s${f.stoppedByTime ? ' (stopped by the time limit)' : ''}`, judged('every event settled in time')],
  ];
  return { title: 'Soak', columns: ['figure', 'value', 'target'], rows, notes: f.lostExamples.map((l) => `lost: ${l}`) };
}

function pick(record: Readonly<Record<string, number>>, keep: (key: string) => boolean): Record<string, number> {
  return Object.fromEntries(Object.entries(record).filter(([k]) => keep(k)));
}

function sorted(record: Readonly<Record<string, number>>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}
