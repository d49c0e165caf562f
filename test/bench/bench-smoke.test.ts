/**
 * The benchmark's latency and endpoint-work sections at a tiny scale: they
 * run through the real handler, the local S3 server and the test server,
 * and report figures of the documented shape. Structure and byte counts
 * only; no timing is asserted.
 */
import { describe, expect, it } from 'vitest';
import { ENDPOINT_STRATEGIES, runEndpointWorkSection } from '../../bench/endpoint-work';
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

describe('bench: endpoint-work section', () => {
  it('measures layout, busy time, makespan and the content cache for every strategy, every document complete', { timeout: 90_000 }, async () => {
    // Act: a tiny scale of the section
    const result = await runEndpointWorkSection({
      fieldCounts: [1, 3],
      imageBytes: 20_000,
      fields: 3,
      images: 4,
      capacity: 2,
      imagesAtOnce: 2,
      cost: { baseMs: 5, msPerPromptKiB: 1, msPerOutputToken: 1 },
    });

    // Assess: the layout is bytes, not time: the new one shares the image, the old one does not
    const f = result.figures;
    const [imageFirst, questionFirst] = f.layout;
    expect(imageFirst).toMatchObject({ layout: 'image-first', reaskKeepsImagePrefix: true });
    expect(imageFirst!.share).toBeGreaterThan(0.95);
    expect(questionFirst).toMatchObject({ layout: 'question-first', reaskKeepsImagePrefix: false });
    expect(questionFirst!.share).toBeLessThan(0.1);

    // Assess: a row per field count and strategy, each with the requests the strategy sends
    expect(f.busy.map((r) => [r.fields, r.strategy])).toEqual([1, 3].flatMap((n) => ENDPOINT_STRATEGIES.map((s) => [n, s])));
    for (const r of f.busy) {
      expect(r.complete, `${r.strategy} at ${r.fields}`).toBe(true);
      expect(r.requests).toBe(r.strategy === 'single request' ? 1 : r.fields);
      expect(r.busyMs).toBeGreaterThan(0);
    }
    // The endpoint reported cached tokens for the fields that share the image's prefix.
    expect(f.busy.find((r) => r.fields === 3 && r.strategy === 'fan-out')!.cachedShare).toBeGreaterThan(0.5);
    expect(f.busy.find((r) => r.fields === 3 && r.strategy === 'fan-out, question first')!.cachedShare).toBeLessThan(0.1);

    expect(f.makespan.rows.map((r) => [r.strategy, r.complete])).toEqual([
      ['fan-out', 4],
      ['fan-out, question first', 4],
      ['single request', 4],
    ]);
    expect(f.contentCache.map((r) => [r.run, r.cacheHit, r.requests])).toEqual([
      ['first upload', false, 3],
      ['same bytes, another key', true, 0],
    ]);
    expect(renderSection(result)).toContain('single request');
    expect(JSON.parse(JSON.stringify(f))).toEqual(f);
  });
});
