/**
 * Checks of a list of hazard or precautionary statements: every code exists,
 * sits in the right list, and its text says what the code says.
 */
import { ghsCatalog, kindOf, type Statement, type StatementKind } from '../ghs/catalog';
import { codeGroups, type CodeGroup } from '../ghs/codes';
import { compareText, inferCode } from '../ghs/text-match';
import { CheckCode, finding, type Finding } from './findings';

/** The strings of a statement-list value, or why it cannot be read. */
export type StatementList = { ok: true; items: string[] } | { ok: false; reason: string };

/**
 * Reads a statement list as the model returned it: an array of strings (other
 * items are skipped), one string (one statement per line), or nothing.
 */
export function readStatementList(value: unknown): StatementList {
  if (value === null || value === undefined) return { ok: true, items: [] };
  if (typeof value === 'string') return { ok: true, items: value.split(/\r?\n/).filter((s) => s.trim() !== '') };
  if (Array.isArray(value)) {
    const items = value.filter((v): v is string => typeof v === 'string' && v.trim() !== '');
    if (items.length === 0 && value.some((v) => v !== null && typeof v !== 'string')) {
      return { ok: false, reason: 'an array without strings' };
    }
    return { ok: true, items };
  }
  return { ok: false, reason: typeof value === 'object' ? 'an object' : `a ${typeof value}` };
}

/** One code group of a statement list, resolved against the catalog. */
export interface ResolvedStatement extends CodeGroup {
  /** The catalog entry, when the whole (combined) code is listed. */
  readonly statement: Statement | undefined;
  /** The code came from the text, not from the label. */
  readonly inferred: boolean;
}

/** Every code group of a statement list, with code-less texts matched to a standard statement. */
export function resolveStatements(items: readonly string[], kind: StatementKind): ResolvedStatement[] {
  const { statements } = ghsCatalog();
  const out: ResolvedStatement[] = [];
  for (const item of items) {
    for (const group of codeGroups(item)) {
      if (group.code === '') {
        // Hazard statement lists may carry EUH texts too; try both kinds there.
        const guess = inferCode(kind, group.text) ?? (kind === 'H' ? inferCode('EUH', group.text) : undefined);
        if (!guess) continue;
        const statement = statements.get(guess.code)!;
        out.push({ code: statement.code, parts: statement.parts, kind: statement.kind, text: group.text, statement, inferred: true });
      } else {
        out.push({ ...group, statement: statements.get(group.code), inferred: false });
      }
    }
  }
  return out;
}

/** Hazard-statement checks for the field holding `risk_notice`-like values. */
export function checkHazardStatements(value: unknown, field: string): Finding[] {
  return checkStatements(value, field, 'H');
}

/** Precautionary-statement checks for the field holding `pre_notice`-like values. */
export function checkPrecautionaryStatements(value: unknown, field: string): Finding[] {
  return checkStatements(value, field, 'P');
}

const UNKNOWN_CODE: Readonly<Record<StatementKind, CheckCode>> = {
  H: CheckCode.GHS_UNKNOWN_H_CODE,
  P: CheckCode.GHS_UNKNOWN_P_CODE,
  EUH: CheckCode.GHS_UNKNOWN_EUH_CODE,
};

function checkStatements(value: unknown, field: string, kind: 'H' | 'P'): Finding[] {
  const list = readStatementList(value);
  if (!list.ok) {
    return [finding(CheckCode.CHECK_INPUT_UNREADABLE, field, `expected a list of statements, got ${list.reason}`)];
  }
  const { statements, statementOmissions } = ghsCatalog();
  const listName = kind === 'H' ? 'hazard statements' : 'precautionary statements';
  const belongs = (k: StatementKind): boolean => (kind === 'H' ? k !== 'P' : k === 'P');
  const out: Finding[] = [];
  const seen = new Set<string>();
  for (const s of resolveStatements(list.items, kind)) {
    if (s.inferred) {
      out.push(finding(CheckCode.GHS_CODE_INFERRED, field, `"${s.text}" is the text of ${s.code}, printed without its code`, [s.code]));
    }
    if (seen.has(s.code)) out.push(finding(CheckCode.GHS_STATEMENT_DUPLICATE, field, `${s.code} appears more than once`, [s.code]));
    seen.add(s.code);

    const misplaced = s.parts.filter((p) => !belongs(kindOf(p)));
    if (misplaced.length > 0) {
      out.push(finding(CheckCode.GHS_CODE_IN_WRONG_FIELD, field, `${misplaced.join(', ')} in the ${listName} (${s.code})`, misplaced));
    }
    const unknown = s.parts.filter((p) => !statements.has(p));
    for (const p of unknown) {
      out.push(finding(UNKNOWN_CODE[kindOf(p)], field, `${p} is not a known ${kindOf(p)}-code${s.parts.length > 1 ? ` (in ${s.code})` : ''}`, [p]));
    }
    if (unknown.length > 0 || misplaced.length > 0) continue;

    let reference = s.statement;
    if (!reference) {
      out.push(finding(CheckCode.GHS_UNLISTED_COMBINATION, field, `${s.code} joins known codes in a combination the GHS does not list`, [s.code]));
      reference = combine(s.parts.map((p) => statements.get(p)!));
    }
    const superseded = s.parts.filter((p) => statements.get(p)!.superseded);
    if (reference.superseded || superseded.length > 0) {
      const codes = reference.superseded && reference.code === s.code ? [s.code] : superseded;
      out.push(finding(CheckCode.GHS_CODE_SUPERSEDED, field, `${codes.join(', ')} is no longer listed by GHS Rev.10 (still used under EU CLP and GB 30000)`, codes));
    }
    if (!s.inferred && s.text !== '') {
      const cmp = compareText(reference, s.text);
      if (cmp?.contradicts) {
        const standard = cmp.language === 'zh' ? (reference.zh ?? reference.zhAlt[0]) : reference.en;
        const better = cmp.betterMatch ? `; it reads like ${cmp.betterMatch.code}` : '';
        out.push(
          finding(
            CheckCode.GHS_TEXT_CONTRADICTS_CODE,
            field,
            `${s.code}: "${s.text}" does not match its standard text "${standard}"${better}`,
            cmp.betterMatch ? [s.code, cmp.betterMatch.code] : [s.code],
          ),
        );
      }
    }
  }
  for (const rule of statementOmissions) {
    if (seen.has(rule.keep) && seen.has(rule.mayOmit)) {
      out.push(finding(CheckCode.GHS_STATEMENT_REDUNDANT, field, `${rule.mayOmit} may be omitted when ${rule.keep} is present (${rule.rule})`, [rule.mayOmit, rule.keep]));
    }
  }
  return out;
}

/** A stand-in for an unlisted combination: its parts' texts in order. */
function combine(parts: readonly Statement[]): Statement {
  const zh = parts.every((p) => p.zh !== undefined) ? parts.map((p) => p.zh).join('') : undefined;
  return {
    code: parts.map((p) => p.code).join('+'),
    kind: parts[0]!.kind,
    parts: parts.map((p) => p.code),
    en: parts.map((p) => p.en).join(' '),
    enAlt: [],
    zh,
    zhAlt: [],
    superseded: false,
    scheme: 'ghs',
  };
}
