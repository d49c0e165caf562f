/**
 * Findings: what a check says about a value that looks wrong, with a stable
 * code from the one table below, a fixed severity per code, the field it is
 * about and a message that names the values involved.
 */
import * as z from 'zod';

/** Stable codes. Renaming one is a breaking change for users' queries and alarms. */
export const CheckCode = {
  /** A hazard statement carries an H-code that GHS and CLP do not define. */
  GHS_UNKNOWN_H_CODE: 'GHS_UNKNOWN_H_CODE',
  /** A precautionary statement carries a P-code that GHS and CLP do not define. */
  GHS_UNKNOWN_P_CODE: 'GHS_UNKNOWN_P_CODE',
  /** An EUH-code that EU CLP does not define. */
  GHS_UNKNOWN_EUH_CODE: 'GHS_UNKNOWN_EUH_CODE',
  /** A P-code among the hazard statements, or an H/EUH-code among the precautionary ones. */
  GHS_CODE_IN_WRONG_FIELD: 'GHS_CODE_IN_WRONG_FIELD',
  /** Known codes joined into a combination the GHS does not list. */
  GHS_UNLISTED_COMBINATION: 'GHS_UNLISTED_COMBINATION',
  /** A code GHS Rev.10 no longer lists (EU CLP and GB labels still use it). */
  GHS_CODE_SUPERSEDED: 'GHS_CODE_SUPERSEDED',
  /** A statement printed without a code whose text is a standard statement's. */
  GHS_CODE_INFERRED: 'GHS_CODE_INFERRED',
  /** The statement's text does not say what its code says. */
  GHS_TEXT_CONTRADICTS_CODE: 'GHS_TEXT_CONTRADICTS_CODE',
  /** The same code twice in one field. */
  GHS_STATEMENT_DUPLICATE: 'GHS_STATEMENT_DUPLICATE',
  /** A statement the GHS lets a label omit next to another (H318 beside H314). */
  GHS_STATEMENT_REDUNDANT: 'GHS_STATEMENT_REDUNDANT',
  /** The hazard statements require a pictogram the label's pictograms lack. */
  GHS_PICTOGRAM_MISSING: 'GHS_PICTOGRAM_MISSING',
  /** A pictogram no hazard statement calls for, or one a precedence rule removes. */
  GHS_PICTOGRAM_UNEXPECTED: 'GHS_PICTOGRAM_UNEXPECTED',
  /** The hazard statements require a signal word and none is shown. */
  GHS_SIGNAL_WORD_MISSING: 'GHS_SIGNAL_WORD_MISSING',
  /** Both DANGER and WARNING, or one of them twice in the same language. */
  GHS_SIGNAL_WORD_DOUBLED: 'GHS_SIGNAL_WORD_DOUBLED',
  /** WARNING where the hazard statements demand DANGER. */
  GHS_SIGNAL_WORD_TOO_WEAK: 'GHS_SIGNAL_WORD_TOO_WEAK',
  /** A stronger signal word than any hazard statement allows. */
  GHS_SIGNAL_WORD_TOO_STRONG: 'GHS_SIGNAL_WORD_TOO_STRONG',
  /** An item of the pictogram/signal-word list that is neither. */
  GHS_TAG_UNRECOGNISED: 'GHS_TAG_UNRECOGNISED',
  /** No supplier at all. */
  SUPPLIER_MISSING: 'SUPPLIER_MISSING',
  /** The supplier has no name. */
  SUPPLIER_NAME_MISSING: 'SUPPLIER_NAME_MISSING',
  /** The supplier has no phone number. */
  SUPPLIER_PHONE_MISSING: 'SUPPLIER_PHONE_MISSING',
  /** The supplier has no emergency phone number (GB 15258: 应急咨询电话). */
  SUPPLIER_EMERGENCY_PHONE_MISSING: 'SUPPLIER_EMERGENCY_PHONE_MISSING',
  /** A phone number with too few digits to be one. */
  SUPPLIER_PHONE_INVALID: 'SUPPLIER_PHONE_INVALID',
  /** The value is not of a shape the check can read (a number where statements belong). */
  CHECK_INPUT_UNREADABLE: 'CHECK_INPUT_UNREADABLE',
  /** A check needs another field that no field provides (no field carries the check it names). */
  CHECK_INPUT_MISSING: 'CHECK_INPUT_MISSING',
  /** A field names a check that does not exist. */
  CHECK_UNKNOWN: 'CHECK_UNKNOWN',
  /** A check failed unexpectedly; the value was not judged. */
  CHECK_FAILED: 'CHECK_FAILED',
} as const;

export type CheckCode = (typeof CheckCode)[keyof typeof CheckCode];

export const Severity = z.enum(['error', 'warning', 'info']);
/** `error`: the value is wrong or the label breaks a rule; `warning`: it looks wrong; `info`: worth knowing. */
export type Severity = z.infer<typeof Severity>;

/** Each code's one severity, so a query on a code always means the same thing. */
export const CHECK_SEVERITY: Readonly<Record<CheckCode, Severity>> = Object.freeze({
  GHS_UNKNOWN_H_CODE: 'error',
  GHS_UNKNOWN_P_CODE: 'error',
  GHS_UNKNOWN_EUH_CODE: 'error',
  GHS_CODE_IN_WRONG_FIELD: 'warning',
  GHS_UNLISTED_COMBINATION: 'info',
  GHS_CODE_SUPERSEDED: 'info',
  GHS_CODE_INFERRED: 'info',
  GHS_TEXT_CONTRADICTS_CODE: 'warning',
  GHS_STATEMENT_DUPLICATE: 'info',
  GHS_STATEMENT_REDUNDANT: 'info',
  GHS_PICTOGRAM_MISSING: 'error',
  GHS_PICTOGRAM_UNEXPECTED: 'warning',
  GHS_SIGNAL_WORD_MISSING: 'error',
  GHS_SIGNAL_WORD_DOUBLED: 'error',
  GHS_SIGNAL_WORD_TOO_WEAK: 'error',
  GHS_SIGNAL_WORD_TOO_STRONG: 'warning',
  GHS_TAG_UNRECOGNISED: 'info',
  SUPPLIER_MISSING: 'warning',
  SUPPLIER_NAME_MISSING: 'warning',
  SUPPLIER_PHONE_MISSING: 'warning',
  SUPPLIER_EMERGENCY_PHONE_MISSING: 'warning',
  SUPPLIER_PHONE_INVALID: 'warning',
  CHECK_INPUT_UNREADABLE: 'info',
  CHECK_INPUT_MISSING: 'info',
  CHECK_UNKNOWN: 'info',
  CHECK_FAILED: 'info',
});

const codeEnum = z.enum(Object.values(CheckCode) as [CheckCode, ...CheckCode[]]);

/** The zod schema of one finding. */
export const findingSchema = z
  .object({
    code: codeEnum,
    severity: Severity,
    field: z.string(),
    message: z.string(),
    /** The values involved (codes, pictograms, words), for queries. */
    values: z.array(z.string()).optional(),
  })
  .strict();
export type Finding = z.infer<typeof findingSchema>;

/** The zod schema of the checks part of a result document (`checks`). */
export const checksSchema = z
  .object({
    byField: z.record(z.string(), z.array(findingSchema)),
    summary: z
      .object({
        errors: z.number().int().nonnegative(),
        warnings: z.number().int().nonnegative(),
        infos: z.number().int().nonnegative(),
        /** Every code found, once, sorted. */
        codes: z.array(codeEnum),
      })
      .strict(),
  })
  .strict();
export type ChecksResult = z.infer<typeof checksSchema>;
export type ChecksSummary = ChecksResult['summary'];

/** Builds a finding with its code's severity. */
export function finding(code: CheckCode, field: string, message: string, values?: readonly string[]): Finding {
  const f: Finding = { code, severity: CHECK_SEVERITY[code], field, message };
  if (values && values.length > 0) f.values = [...values];
  return f;
}

/** Counts findings by severity and lists their codes. */
export function summarise(byField: Readonly<Record<string, readonly Finding[]>>): ChecksSummary {
  const all = Object.values(byField).flat();
  return {
    errors: all.filter((f) => f.severity === 'error').length,
    warnings: all.filter((f) => f.severity === 'warning').length,
    infos: all.filter((f) => f.severity === 'info').length,
    codes: [...new Set(all.map((f) => f.code))].sort(),
  };
}
