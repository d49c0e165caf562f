/**
 * Reads the CloudWatch embedded-metric-format lines among a handler's
 * output lines, as CloudWatch would, for tests to assert names, units,
 * dimensions and values.
 */
import { expect } from 'vitest';
import { METRICS_NAMESPACE } from '../../functions/telemetry/catalogue';

/** One metric of one EMF line: its name, unit, the dimension names and their values, and its value(s). */
export interface EmfMetric {
  readonly name: string;
  readonly unit: string;
  readonly dimensionSets: readonly (readonly string[])[];
  readonly dimensions: Readonly<Record<string, string>>;
  readonly values: readonly number[];
}

/** Every metric of every EMF line among the handler's output lines. */
export function emfMetrics(lines: readonly string[]): EmfMetric[] {
  const out: EmfMetric[] = [];
  for (const line of lines) {
    const obj = JSON.parse(line) as Record<string, unknown> & {
      _aws?: { Timestamp: number; CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string; Unit: string }> }> };
    };
    if (!obj._aws) continue;
    expect(typeof obj._aws.Timestamp).toBe('number');
    for (const directive of obj._aws.CloudWatchMetrics) {
      expect(directive.Namespace).toBe(METRICS_NAMESPACE);
      const names = [...new Set(directive.Dimensions.flat())];
      const dimensions = Object.fromEntries(names.map((n) => [n, obj[n] as string]));
      for (const m of directive.Metrics) {
        const raw = obj[m.Name];
        out.push({
          name: m.Name,
          unit: m.Unit,
          dimensionSets: directive.Dimensions,
          dimensions,
          values: Array.isArray(raw) ? (raw as number[]) : [raw as number],
        });
      }
    }
  }
  return out;
}

/** The sum of `name`'s values published with exactly these extra dimensions (besides `service`). */
export function sumOf(metrics: readonly EmfMetric[], name: string, dims: Record<string, string> = {}): number {
  return metrics
    .filter((m) => m.name === name && m.name !== 'ColdStart')
    .filter((m) => {
      const extra = Object.entries(m.dimensions).filter(([k]) => k !== 'service');
      return extra.length === Object.keys(dims).length && extra.every(([k, v]) => dims[k] === v);
    })
    .reduce((s, m) => s + m.values.reduce((a, b) => a + b, 0), 0);
}

