/**
 * The named checks a field spec can ask for (`"checks": ["ghs.hazard-codes"]`)
 * and {@link runChecks}, which runs them over a document's `fields`.
 *
 * A check reads the field it is attached to; a check that also needs another
 * field names the check that field carries (the pictogram check reads the
 * field that carries `ghs.hazard-codes`), so a field set may call its fields
 * anything.
 */
import { CheckCode, finding, summarise, type ChecksResult, type Finding } from './findings';
import { checkPictograms, checkSignalWord } from './label-elements';
import { checkHazardStatements, checkPrecautionaryStatements } from './statements';
import { checkSupplierContacts } from './supplier';

/** Every check name, for a field spec's schema (`z.enum(CHECK_NAMES)`). */
export const CHECK_NAMES = [
  'ghs.hazard-codes',
  'ghs.precaution-codes',
  'ghs.pictograms',
  'ghs.signal-word',
  'supplier.contacts',
] as const;
export type CheckName = (typeof CHECK_NAMES)[number];

/** A named check: what it reads and how it judges. */
export interface CheckDefinition {
  readonly name: CheckName;
  readonly summary: string;
  /** What the field it is attached to holds. */
  readonly reads: string;
  /** Other fields it reads: the field carrying each named check. */
  readonly alsoReads: readonly CheckName[];
  /** The codes it can report. */
  readonly codes: readonly CheckCode[];
  readonly run: (value: unknown, field: string, related: readonly unknown[]) => Finding[];
}

const C = CheckCode;

/** The registry, by name. */
export const CHECKS: Readonly<Record<CheckName, CheckDefinition>> = Object.freeze({
  'ghs.hazard-codes': {
    name: 'ghs.hazard-codes',
    summary: 'H- and EUH-codes exist, belong among the hazard statements, and their texts match',
    reads: 'hazard statements: string[] ("H225 Highly flammable liquid and vapour")',
    alsoReads: [],
    codes: [C.GHS_UNKNOWN_H_CODE, C.GHS_UNKNOWN_EUH_CODE, C.GHS_CODE_IN_WRONG_FIELD, C.GHS_UNLISTED_COMBINATION, C.GHS_CODE_SUPERSEDED, C.GHS_CODE_INFERRED, C.GHS_TEXT_CONTRADICTS_CODE, C.GHS_STATEMENT_DUPLICATE, C.GHS_STATEMENT_REDUNDANT, C.CHECK_INPUT_UNREADABLE],
    run: (value, field) => checkHazardStatements(value, field),
  },
  'ghs.precaution-codes': {
    name: 'ghs.precaution-codes',
    summary: 'P-codes exist, belong among the precautionary statements, and their texts match',
    reads: 'precautionary statements: string[] ("P210 Keep away from heat …")',
    alsoReads: [],
    codes: [C.GHS_UNKNOWN_P_CODE, C.GHS_CODE_IN_WRONG_FIELD, C.GHS_UNLISTED_COMBINATION, C.GHS_CODE_SUPERSEDED, C.GHS_CODE_INFERRED, C.GHS_TEXT_CONTRADICTS_CODE, C.GHS_STATEMENT_DUPLICATE, C.CHECK_INPUT_UNREADABLE],
    run: (value, field) => checkPrecautionaryStatements(value, field),
  },
  'ghs.pictograms': {
    name: 'ghs.pictograms',
    summary: 'the pictograms are the ones the hazard statements require, after the precedence rules',
    reads: 'signal word and pictogram codes: string[] (["DANGER", "GHS02"])',
    alsoReads: ['ghs.hazard-codes'],
    codes: [C.GHS_PICTOGRAM_MISSING, C.GHS_PICTOGRAM_UNEXPECTED, C.GHS_TAG_UNRECOGNISED, C.CHECK_INPUT_UNREADABLE],
    run: (value, field, [hazards]) => checkPictograms(value, field, hazards),
  },
  'ghs.signal-word': {
    name: 'ghs.signal-word',
    summary: 'one signal word, as strong as the hazard statements demand',
    reads: 'signal word and pictogram codes: string[] (["危险", "GHS02"])',
    alsoReads: ['ghs.hazard-codes'],
    codes: [C.GHS_SIGNAL_WORD_MISSING, C.GHS_SIGNAL_WORD_DOUBLED, C.GHS_SIGNAL_WORD_TOO_WEAK, C.GHS_SIGNAL_WORD_TOO_STRONG, C.CHECK_INPUT_UNREADABLE],
    run: (value, field, [hazards]) => checkSignalWord(value, field, hazards),
  },
  'supplier.contacts': {
    name: 'supplier.contacts',
    summary: 'the supplier has a name, a phone and an emergency phone',
    reads: 'supplier: { name, address, phone, emergency_phone }',
    alsoReads: [],
    codes: [C.SUPPLIER_MISSING, C.SUPPLIER_NAME_MISSING, C.SUPPLIER_PHONE_MISSING, C.SUPPLIER_EMERGENCY_PHONE_MISSING, C.SUPPLIER_PHONE_INVALID, C.CHECK_INPUT_UNREADABLE],
    run: (value, field) => checkSupplierContacts(value, field),
  },
});

/** Which checks each field gets: `{ risk_notice: ['ghs.hazard-codes'], … }`. */
export type CheckNamesByField = Readonly<Record<string, readonly string[]>>;

/** The checks of the built-in label field set (`DEFAULT_LABEL_FIELDS`). */
export const DEFAULT_LABEL_CHECKS: Readonly<Record<string, readonly CheckName[]>> = Object.freeze({
  name: Object.freeze([]),
  tag: Object.freeze(['ghs.pictograms', 'ghs.signal-word'] as const),
  risk_notice: Object.freeze(['ghs.hazard-codes'] as const),
  pre_notice: Object.freeze(['ghs.precaution-codes'] as const),
  suppliers: Object.freeze(['supplier.contacts'] as const),
});

/** Whether `name` is a check in the registry. */
export function isCheckName(name: string): name is CheckName {
  return (CHECK_NAMES as readonly string[]).includes(name);
}

/**
 * Runs the named checks over a document's `fields` (the values as the model
 * returned them). Never changes a value and never throws: odd values, unknown
 * check names and a failing check become findings. Every field named in
 * `checkNamesByField` gets an entry in `byField`, empty when nothing was found.
 *
 * @example
 * ```ts
 * const checks = runChecks(doc.fields, DEFAULT_LABEL_CHECKS);
 * checks.summary // { errors: 0, warnings: 1, infos: 0, codes: ['SUPPLIER_PHONE_MISSING'] }
 * ```
 */
export function runChecks(fields: Readonly<Record<string, unknown>> | null | undefined, checkNamesByField: CheckNamesByField): ChecksResult {
  const values: Readonly<Record<string, unknown>> = fields && typeof fields === 'object' ? fields : {};
  const byField: Record<string, Finding[]> = {};
  const carrier = (check: CheckName): string | undefined =>
    Object.keys(checkNamesByField).find((f) => checkNamesByField[f]?.includes(check));
  for (const [field, names] of Object.entries(checkNamesByField)) {
    const out: Finding[] = [];
    for (const name of new Set(names)) {
      if (!isCheckName(name)) {
        out.push(finding(CheckCode.CHECK_UNKNOWN, field, `"${name}" is not a check (known: ${CHECK_NAMES.join(', ')})`, [name]));
        continue;
      }
      const check = CHECKS[name];
      const sources = check.alsoReads.map(carrier);
      const lacking = check.alsoReads.filter((_, i) => sources[i] === undefined);
      if (lacking.length > 0) {
        out.push(finding(CheckCode.CHECK_INPUT_MISSING, field, `${name} needs a field that carries ${lacking.join(', ')}; none does`, [name, ...lacking]));
        continue;
      }
      try {
        out.push(...check.run(values[field] ?? null, field, sources.map((f) => values[f!] ?? null)));
      } catch (err) {
        out.push(finding(CheckCode.CHECK_FAILED, field, `${name} failed: ${err instanceof Error ? err.message : String(err)}`, [name]));
      }
    }
    byField[field] = out;
  }
  return { byField, summary: summarise(byField) };
}
