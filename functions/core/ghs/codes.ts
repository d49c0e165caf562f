/**
 * Finding H-, P- and EUH-codes in statement strings as a model returns them:
 * `"H225 高度易燃液体和蒸气。"`, `"H301+H311+H331: Toxic if swallowed, …"`,
 * `"P303 ＋ P361 ＋ P353 如皮肤(或头发)沾染：…"`, `"(H319) Causes serious eye irritation"`.
 */
import { kindOf, type StatementKind } from './catalog';

/** One code group in a statement string and the text that goes with it. */
export interface CodeGroup {
  /** Canonical code: parts joined by `+` without spaces (`P303+P361+P353`). */
  readonly code: string;
  readonly parts: readonly string[];
  /** `H`, `P` or `EUH`; `mixed` when a group joins different kinds (`H301+P310`). */
  readonly kind: StatementKind | 'mixed';
  /** The statement text that belongs to this group (may be empty). */
  readonly text: string;
}

/** Suffixes EU CLP adds to some codes; anything else after the digits is text. */
const SUFFIXES: Readonly<Record<string, readonly string[]>> = {
  H350: ['i'],
  H360: ['FD', 'Fd', 'Df', 'F', 'D'],
  H361: ['fd', 'f', 'd'],
  EUH201: ['A'],
  EUH209: ['A'],
};

// A code: not glued to a preceding letter or digit (so "EUH066" is not read as
// "H066"), the prefix, optional space, three digits not followed by a fourth.
const CODE = /(?<![A-Za-z0-9])(EUH|H|P)\s?(\d{3})(?!\d)/gi;
const JOIN = /^\s*\+\s*$/;
const TRIM = /^[\s:;,.\-–—|/、，。：；()[\]]+|[\s:;,\-–—|/、，：；()[\]]+$/g;

/**
 * The code groups in one statement string, in order. A string without codes
 * gives one group with an empty code and the whole text, so a caller can still
 * look at the text.
 *
 * @example
 * ```ts
 * codeGroups('H301 + H311 + H331: Toxic if swallowed') // [{ code: 'H301+H311+H331', text: 'Toxic if swallowed', … }]
 * ```
 */
export function codeGroups(statement: string): CodeGroup[] {
  // NFKC folds full-width letters, digits and the full-width plus (＋) to ASCII.
  const s = statement.normalize('NFKC');
  const spans: { start: number; end: number; parts: string[] }[] = [];
  CODE.lastIndex = 0;
  let m: RegExpExecArray | null;
  while ((m = CODE.exec(s)) !== null) {
    const part = readCode(s, m);
    const prev = spans[spans.length - 1];
    if (prev && JOIN.test(s.slice(prev.end, m.index))) {
      prev.parts.push(part.code);
      prev.end = part.end;
    } else {
      spans.push({ start: m.index, end: part.end, parts: [part.code] });
    }
    CODE.lastIndex = part.end;
  }
  if (spans.length === 0) return [{ code: '', parts: [], kind: 'mixed', text: clean(s) }];
  return spans.map((span, i) => {
    const next = spans[i + 1];
    let text = s.slice(span.end, next ? next.start : s.length);
    // "Highly flammable liquid and vapour (H225)": the text stands before the only code.
    if (spans.length === 1 && clean(text) === '') text = s.slice(0, span.start);
    const kinds = new Set(span.parts.map(kindOf));
    return {
      code: span.parts.join('+'),
      parts: span.parts,
      kind: kinds.size === 1 ? [...kinds][0]! : 'mixed',
      text: clean(text),
    };
  });
}

/** The canonical code at `m`, with a CLP suffix when one follows the digits directly. */
function readCode(s: string, m: RegExpExecArray): { code: string; end: number } {
  const base = `${m[1]!.toUpperCase()}${m[2]!}`;
  let end = m.index + m[0].length;
  for (const suffix of SUFFIXES[base] ?? []) {
    if (s.startsWith(suffix, end) && !/[A-Za-z]/.test(s.charAt(end + suffix.length))) {
      return { code: base + suffix, end: end + suffix.length };
    }
  }
  return { code: base, end };
}

function clean(text: string): string {
  return text.replace(TRIM, '').trim();
}
