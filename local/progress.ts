/**
 * The backfill's progress display, the same for a deployed run and a local
 * one: items done of the total, the rate, the time left, counts by outcome.
 * Pure: it formats what it is given.
 */
import type { BackfillTally } from '../functions/core/backfill';

/** One look at a run. */
export interface ProgressSnapshot {
  /** Items finished. */
  readonly done: number;
  /** Items known so far (a listing still being read may add more); `undefined` before the first count. */
  readonly total: number | undefined;
  /** Items of batches that failed as a whole. */
  readonly failed?: number;
  readonly startedAt: number;
  readonly now: number;
  /** Counts by outcome, when known (locally as it goes; deployed at the end). */
  readonly outcomes?: Readonly<Record<string, number>>;
}

const numberFormat = new Intl.NumberFormat('en-US');

/** `1,234`. */
export function count(n: number): string {
  return numberFormat.format(n);
}

/** `3m 05s`, `1h 02m`, `12s`. */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${String(h % 24).padStart(2, '0')}h`;
}

/**
 * One progress line:
 * `1,200/10,000 items (12%)  41.3/s  ETA 3m 33s  written:complete 1,180 · current 20`.
 */
export function progressLine(p: ProgressSnapshot): string {
  const elapsed = Math.max(1, p.now - p.startedAt);
  const rate = (p.done / elapsed) * 1000;
  const parts = [
    p.total === undefined
      ? `${count(p.done)} items`
      : `${count(p.done)}/${count(p.total)} items (${p.total === 0 ? 100 : Math.floor((p.done / p.total) * 100)}%)`,
    `${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)}/s`,
  ];
  if (p.total !== undefined && p.done < p.total) parts.push(rate > 0 ? `ETA ${duration(((p.total - p.done) / rate) * 1000)}` : 'ETA —');
  else parts.push(`in ${duration(elapsed)}`);
  if (p.failed) parts.push(`${count(p.failed)} in failed batches`);
  const outcomes = p.outcomes ? outcomeList(p.outcomes) : '';
  if (outcomes) parts.push(outcomes);
  return parts.join('  ');
}

/** `written:complete 1,180 · current 20`, largest first. */
export function outcomeList(outcomes: Readonly<Record<string, number>>): string {
  return Object.entries(outcomes)
    .filter(([, n]) => n > 0)
    .sort(([a, x], [b, y]) => y - x || a.localeCompare(b))
    .map(([k, n]) => `${k} ${count(n)}`)
    .join(' · ');
}

/** The closing summary of a run: counts by outcome, model calls, the failed items. */
export function summary(tally: BackfillTally, options: { readonly dryRun: boolean; readonly elapsedMs: number }): string {
  const lines = [
    `${options.dryRun ? 'dry run: ' : ''}${count(tally.items)} objects in ${duration(options.elapsedMs)}` +
      (tally.items > 0 ? ` (${((tally.items / Math.max(1, options.elapsedMs)) * 1000).toFixed(1)}/s)` : ''),
  ];
  for (const [k, n] of Object.entries(tally.outcomes).sort(([a], [b]) => a.localeCompare(b))) lines.push(`  ${k.padEnd(32)} ${count(n).padStart(10)}`);
  const computing = Object.entries(tally.outcomes)
    .filter(([k]) => k.startsWith(options.dryRun ? 'would-compute:' : 'written:'))
    .reduce((s, [, n]) => s + n, 0);
  lines.push(
    options.dryRun
      ? `would compute ${count(computing)} objects: at least ${count(tally.modelCalls)} model calls (one per field to ask, before any retry)`
      : `computed ${count(computing)} objects with ${count(tally.modelCalls)} model calls`,
  );
  if (tally.failures.length > 0) {
    lines.push(`failed (first ${tally.failures.length}); run the command again to retry them:`);
    for (const f of tally.failures) lines.push(`  ${f.key}: ${f.code}: ${f.message}`);
  }
  return lines.join('\n');
}
