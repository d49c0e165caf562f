/**
 * Metric records → CloudWatch metrics, through Powertools for AWS Lambda's
 * Metrics: it builds and checks the Embedded Metric Format (EMF) lines,
 * which Lambda's log pipeline turns into metrics with no API call.
 *
 * One EMF line holds the metrics that share one set of dimensions, so the
 * records of an invocation are grouped by their dimension (none, `status`,
 * `outcome`, `errorCode`) and each group is one line (more when a metric
 * has 100 values or more: EMF takes at most 100 per line).
 */
import { Metrics, MetricUnit as PowertoolsUnit } from '@aws-lambda-powertools/metrics';
import { METRICS_NAMESPACE, type MetricRecord, type MetricUnit } from '../telemetry/catalogue';
import type { MetricsSink } from '../telemetry/summary';

export interface EmfMetricsOptions {
  /** The `service` dimension of every metric: one deployment (the stack's name). */
  readonly serviceName: string;
  /** @default 'fieldlens' */
  readonly namespace?: string;
  /** Where EMF lines go (each ends in a newline). @default standard output */
  readonly write?: (line: string) => void;
}

/** The EMF publisher: a {@link MetricsSink}, and the cold-start metric Powertools users expect. */
export interface EmfMetrics extends MetricsSink {
  /** Publishes Powertools' `ColdStart` metric (dimensions `service`, `function_name`) on the first call of the environment. */
  captureColdStart(functionName?: string): void;
}

/**
 * Values of one metric per line: one under EMF's limit of 100, because
 * Powertools publishes a metric by itself (to its own console, past `write`)
 * the moment it holds 100.
 */
const MAX_VALUES = 99;

const UNITS: Record<MetricUnit, (typeof PowertoolsUnit)[keyof typeof PowertoolsUnit]> = {
  Count: PowertoolsUnit.Count,
  Milliseconds: PowertoolsUnit.Milliseconds,
  None: PowertoolsUnit.NoUnit,
};

/**
 * @example
 * ```ts
 * const metrics = createEmfMetrics({ serviceName: 'Fieldlens' });
 * metrics.publish([{ name: 'Documents', unit: 'Count', value: 1, dimensions: { status: 'complete' } }]);
 * ```
 */
export function createEmfMetrics(options: EmfMetricsOptions): EmfMetrics {
  const metrics = new EmfLineMetrics({ namespace: options.namespace ?? METRICS_NAMESPACE, serviceName: options.serviceName });
  const write = options.write ?? ((line: string) => void process.stdout.write(line));
  return {
    publish(records) {
      if (records.length === 0 || metrics.disabledByEnvironment()) return;
      for (const group of groupByDimensions(records)) {
        for (const chunk of chunks(group.records)) {
          if (group.dimensions) metrics.addDimensions(group.dimensions);
          for (const r of chunk) metrics.addMetric(r.name, UNITS[r.unit], r.value);
          // Powertools serialises and checks the line; it goes where `write` says.
          const line = metrics.serializeMetrics();
          metrics.clearMetrics();
          metrics.clearDimensions();
          write(`${JSON.stringify(line)}\n`);
        }
      }
    },
    captureColdStart(functionName) {
      // Powertools' own cold-start metric, written through `write` like the rest.
      if (!metrics.takeColdStart() || metrics.disabledByEnvironment()) return;
      if (functionName) metrics.addDimension('function_name', functionName);
      metrics.addMetric('ColdStart', PowertoolsUnit.Count, 1);
      const line = metrics.serializeMetrics();
      metrics.clearMetrics();
      metrics.clearDimensions();
      write(`${JSON.stringify(line)}\n`);
    },
  };
}

/** Powertools Metrics, with its cold-start flag and its off switch readable (both are protected). */
class EmfLineMetrics extends Metrics {
  takeColdStart(): boolean {
    return this.getColdStart();
  }

  /** `POWERTOOLS_METRICS_DISABLED` (or `POWERTOOLS_DEV`) turned metrics off. */
  disabledByEnvironment(): boolean {
    return this.isDisabled();
  }
}

interface Group {
  readonly dimensions?: Record<string, string>;
  readonly records: MetricRecord[];
}

function groupByDimensions(records: readonly MetricRecord[]): Group[] {
  const groups = new Map<string, Group>();
  for (const r of records) {
    const dims = r.dimensions && Object.keys(r.dimensions).length > 0 ? (r.dimensions as Record<string, string>) : undefined;
    const id = dims ? JSON.stringify(Object.entries(dims).sort()) : '';
    let g = groups.get(id);
    if (!g) groups.set(id, (g = { ...(dims ? { dimensions: dims } : {}), records: [] }));
    g.records.push(r);
  }
  return [...groups.values()];
}

/** The records in runs where no metric has more than {@link MAX_VALUES} values. */
function chunks(records: readonly MetricRecord[]): MetricRecord[][] {
  const out: MetricRecord[][] = [];
  const counts: Map<string, number>[] = [];
  for (const r of records) {
    let i = counts.findIndex((c) => (c.get(r.name) ?? 0) < MAX_VALUES);
    if (i === -1) {
      i = out.length;
      out.push([]);
      counts.push(new Map());
    }
    out[i]!.push(r);
    counts[i]!.set(r.name, (counts[i]!.get(r.name) ?? 0) + 1);
  }
  return out;
}
