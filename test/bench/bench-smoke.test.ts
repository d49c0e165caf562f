/**
 * The benchmark's latency section at a tiny scale: it runs through the real
 * handler, the local S3 server and the test server, and reports figures of
 * the documented shape. Structure only; no timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { runLatencySection, STRATEGIES, strategyConcurrency } from '../../bench/latency';
import { renderSection } from '../../bench/report';

describe('bench: latency section', () => {
  it('runs every strategy at each field count and every document is complete', { timeout: 60_000 }, async () => {
    // Act
    const result = await runLatencySection({ fieldCounts: [1, 3], latencyMs: 50, jitter: 0.1 });

    // Assess: one row per field count and strategy, in order
    expect(result.id).toBe('latency');
    expect(result.skipped).toBeUndefined();
    expect(result.figures.model).toBe('test-server');
    expect(result.figures.rows.map((r) => [r.fields, r.strategy])).toEqual(
      [1, 3].flatMap((fields) => STRATEGIES.map((strategy) => [fields, strategy])),
    );
    for (const row of result.figures.rows) {
      expect(row.complete, `${row.strategy} at ${row.fields} fields`).toBe(row.runs);
      expect(row.concurrency).toBe(strategyConcurrency(row.strategy, row.fields));
      // The cap holds: the server never saw more requests at once than MODEL_MAX_CONCURRENCY.
      expect(row.serverMaxInFlight).toBeGreaterThanOrEqual(1);
      expect(row.serverMaxInFlight).toBeLessThanOrEqual(row.concurrency);
      for (const figure of [row.totalMs, row.slowestFieldMs, row.s3Ms, row.ratio, row.ratioExS3, row.speedup]) {
        expect(Number.isFinite(figure)).toBe(true);
        expect(figure).toBeGreaterThan(0);
      }
    }

    // Assess: the checks and the table are there, and the JSON round-trips
    expect(result.checks.find((c) => c.name === 'documents complete')).toMatchObject({ value: '6/6', pass: true });
    expect(result.checks.filter((c) => c.name.startsWith('fan-out (total − S3)/slowest'))).toHaveLength(2);
    expect(renderSection(result)).toContain('fan-out');
    expect(JSON.parse(JSON.stringify(result.figures))).toEqual(result.figures);
  });
});
