/**
 * One review flag per document: should a person look at it before its
 * values are trusted? Each reason is a short stable string with a code
 * prefix, so a query or a dashboard can group them:
 *
 * | reason                           | when |
 * |----------------------------------|------|
 * | `failed:<field>`                 | the field has no value because its request failed |
 * | `missing:<field>`                | a required field came back `null` |
 * | `reask:<field>`                  | the first answer was invalid and the field needed its re-ask |
 * | `check:<CODE>:<field>`           | a check found an `error` or `warning` |
 * | `confidence:<field><<threshold>` | the field's confidence is below the threshold (`confidence:name<0.80`) |
 *
 * Errors and warnings both flag a document. An error is a label that breaks
 * a rule or a value that cannot be right; a warning is a value that looks
 * wrong (a text that does not match its code, an unexpected pictogram, a
 * missing phone), and on a safety label a look costs less than a wrong value
 * trusted. Infos (a superseded code, a code inferred from its text) are facts
 * about a correct label and never flag one.
 */
import * as z from 'zod';
import type { ChecksResult, Severity } from './checks/findings';

/** The zod schema of the review part of a result document (`review`). */
export const reviewSchema = z
  .object({
    needed: z.boolean(),
    reasons: z.array(z.string()),
  })
  .strict();
export type Review = z.infer<typeof reviewSchema>;

/** The default confidence threshold. */
export const DEFAULT_REVIEW_THRESHOLD = 0.8;

export interface ReviewInput {
  /** The checks' result; its findings of the flagging severities become reasons. */
  readonly checks?: Pick<ChecksResult, 'byField'> | null;
  /** Each field's confidence (0-1); `null` or absent when the endpoint gave no log-probabilities. */
  readonly confidences?: Readonly<Record<string, number | null | undefined>>;
  /** Below this a field's confidence flags the document. @default 0.8 */
  readonly threshold?: number;
  /** Fields whose first answer was invalid and were asked again. */
  readonly reasked?: readonly string[];
  /** Required fields that came back `null`. */
  readonly missing?: readonly string[];
  /** Fields whose request failed. */
  readonly failed?: readonly string[];
  /** Which finding severities flag a document. @default ['error', 'warning'] */
  readonly severities?: readonly Severity[];
}

/**
 * Decides whether a document needs review and why. Reasons come out in a
 * fixed order (failed, missing, reask, check, confidence; fields and codes
 * sorted within each), once each.
 *
 * @throws {TypeError} when the threshold is not a number between 0 and 1.
 * @example
 * ```ts
 * reviewFor({ checks, confidences: { name: 0.62 }, reasked: ['risk_notice'] })
 * // { needed: true, reasons: ['reask:risk_notice', 'check:GHS_PICTOGRAM_MISSING:tag', 'confidence:name<0.80'] }
 * ```
 */
export function reviewFor(input: ReviewInput): Review {
  const threshold = input.threshold ?? DEFAULT_REVIEW_THRESHOLD;
  if (typeof threshold !== 'number' || !(threshold >= 0 && threshold <= 1)) {
    throw new TypeError(`Expected \`threshold\` to be a number from 0 to 1, got ${String(threshold)}`);
  }
  const severities = new Set<Severity>(input.severities ?? ['error', 'warning']);
  const sorted = (xs: readonly string[] | undefined): string[] => [...new Set(xs ?? [])].sort();

  const checkReasons: string[] = [];
  for (const [field, findings] of Object.entries(input.checks?.byField ?? {})) {
    for (const f of findings) if (severities.has(f.severity)) checkReasons.push(`check:${f.code}:${field}`);
  }
  const confidenceReasons: string[] = [];
  for (const [field, c] of Object.entries(input.confidences ?? {})) {
    if (typeof c === 'number' && Number.isFinite(c) && c < threshold) {
      confidenceReasons.push(`confidence:${field}<${threshold.toFixed(2)}`);
    }
  }
  const reasons = [
    ...sorted(input.failed).map((f) => `failed:${f}`),
    ...sorted(input.missing).map((f) => `missing:${f}`),
    ...sorted(input.reasked).map((f) => `reask:${f}`),
    ...sorted(checkReasons),
    ...sorted(confidenceReasons),
  ];
  return { needed: reasons.length > 0, reasons };
}
