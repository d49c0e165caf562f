/**
 * What every section hands back, and how it is printed: plain-text tables
 * with a ✔/✘ against each target, and the checks listed under them.
 */

/** One target and whether this run met it. */
export interface Check {
  /** What is checked, e.g. `fan-out total/slowest at 20 fields`. */
  readonly name: string;
  /** The target, e.g. `≤ 1.05`. */
  readonly target: string;
  /** The measured value as shown. */
  readonly value: string;
  readonly pass: boolean;
}

export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: ReadonlyArray<readonly string[]>;
  /** Lines printed under the table. */
  readonly notes?: readonly string[];
}

/** A section's outcome: its figures (written to the results file), tables and checks. */
export interface SectionResult<F = unknown> {
  /** Key in the results file, e.g. `latency`. */
  readonly id: string;
  readonly title: string;
  readonly figures: F;
  readonly tables: readonly Table[];
  readonly checks: readonly Check[];
  /** Set when the section did not run, with the reason. */
  readonly skipped?: string;
}

export const PASS = '✔';
export const FAIL = '✘';

export function mark(pass: boolean): string {
  return pass ? PASS : FAIL;
}

/** Formats milliseconds for a table cell. */
export function ms(value: number): string {
  return Number.isFinite(value) ? value.toFixed(0) : '–';
}

/** Formats a number with `digits` decimals for a table cell. */
export function fixed(value: number, digits = 2): string {
  return Number.isFinite(value) ? value.toFixed(digits) : '–';
}

/** A table as aligned plain text (numbers right-aligned, text left-aligned). */
export function renderTable(t: Table): string {
  const widths = t.columns.map((c, i) => Math.max(width(c), ...t.rows.map((r) => width(r[i] ?? ''))));
  const numeric = t.columns.map((_, i) => t.rows.length > 0 && t.rows.every((r) => /^[-+]?[\d.,]+[×x%]?$|^–$/.test(r[i] ?? '')));
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => (numeric[i] ? pad(c, widths[i]!, 'left') : pad(c, widths[i]!, 'right')))
      .join('  ')
      .trimEnd();
  const out = [t.title, line(t.columns), widths.map((w) => '─'.repeat(w)).join('  '), ...t.rows.map(line)];
  for (const n of t.notes ?? []) out.push(`  ${n}`);
  return out.join('\n');
}

/** The checks as `✔ name: value (target …)` lines. */
export function renderChecks(checks: readonly Check[]): string {
  return checks.map((c) => `${mark(c.pass)} ${c.name}: ${c.value} (target ${c.target})`).join('\n');
}

/** A whole section for the terminal. */
export function renderSection(s: SectionResult): string {
  const head = `== ${s.title} ==`;
  if (s.skipped) return `${head}\nskipped: ${s.skipped}`;
  return [head, ...s.tables.map(renderTable), s.checks.length > 0 ? renderChecks(s.checks) : '']
    .filter((p) => p !== '')
    .join('\n\n');
}

/** Display width: the check marks and × count as one column. */
function width(s: string): number {
  return [...s].length;
}

function pad(s: string, w: number, side: 'left' | 'right'): string {
  const fill = ' '.repeat(Math.max(0, w - width(s)));
  return side === 'left' ? fill + s : s + fill;
}
