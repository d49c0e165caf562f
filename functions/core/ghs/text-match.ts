/**
 * Does a statement's text say what its code says? Labels rarely print the
 * standard text verbatim: they pick one of "dust/fume/gas/mist/vapours/spray",
 * fill in "…", name the organs, use an older revision's wording or another
 * Chinese translation. So the comparison works on bags of features (English
 * word stems, Chinese character bigrams) and asks two questions:
 *
 * 1. How much of the shorter side is in the other (containment)? Choosing
 *    alternatives or adding detail keeps this high; a text that belongs to a
 *    different hazard shares almost nothing.
 * 2. Is there another code whose text matches far better (Jaccard)? That
 *    catches near misses such as "H319 Causes serious eye damage" (H318's
 *    text) that share most words with their own code's text.
 */
import { ghsCatalog, type Statement, type StatementKind } from './catalog';

export type TextLanguage = 'en' | 'zh';

/** Below this containment, the text does not say what its code says. */
export const MIN_CONTAINMENT = 0.34;
/** Another code's text matches at least this well (Jaccard) … */
export const BETTER_MATCH_MIN = 0.8;
/** … and this much better than the code's own text. */
export const BETTER_MATCH_MARGIN = 0.2;

/** `zh` when the text has any CJK ideograph, else `en`. */
export function languageOf(text: string): TextLanguage {
  return /\p{Script=Han}/u.test(text) ? 'zh' : 'en';
}

const STOPWORDS = new Set([
  'a', 'an', 'the', 'and', 'or', 'of', 'to', 'in', 'on', 'if', 'with', 'for', 'by', 'be', 'is', 'are', 'it', 'its',
  'this', 'from', 'at', 'as', 'into', 'etc',
]);

/** English word stems and Chinese character bigrams of `text`. */
export function textFeatures(text: string): Set<string> {
  const out = new Set<string>();
  const s = text.normalize('NFKC').toLowerCase();
  for (const run of s.match(/\p{Script=Han}+/gu) ?? []) {
    if (run.length === 1) out.add(run);
    for (let i = 0; i + 1 < run.length; i++) out.add(run.slice(i, i + 2));
  }
  for (const word of s.replace(/\p{Script=Han}+/gu, ' ').match(/[a-z0-9]+/g) ?? []) {
    if (!STOPWORDS.has(word)) out.add(stem(word));
  }
  return out;
}

/** British/American spelling and plural folded together: vapours, vapors → vapor. */
function stem(word: string): string {
  let w = word;
  if (w.endsWith('ies') && w.length > 4) w = `${w.slice(0, -3)}y`;
  else if (w.endsWith('s') && !w.endsWith('ss') && w.length > 3) w = w.slice(0, -1);
  return w.replace(/our$/, 'or').replace(/is(e|ed|ing|ation)$/, 'iz$1');
}

/** |a ∩ b| / min(|a|, |b|): 1 when one side is inside the other. */
export function containment(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 || b.size === 0) return 0;
  return intersection(a, b) / Math.min(a.size, b.size);
}

/** |a ∩ b| / |a ∪ b|. */
export function jaccard(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  if (a.size === 0 && b.size === 0) return 1;
  const common = intersection(a, b);
  return common / (a.size + b.size - common);
}

function intersection(a: ReadonlySet<string>, b: ReadonlySet<string>): number {
  let n = 0;
  for (const x of a) if (b.has(x)) n++;
  return n;
}

/** The standard texts of a statement in one language (main wording first). */
export function referenceTexts(statement: Statement, language: TextLanguage): string[] {
  if (language === 'en') return [statement.en, ...statement.enAlt];
  return statement.zh === undefined ? [...statement.zhAlt] : [statement.zh, ...statement.zhAlt];
}

interface IndexEntry {
  readonly statement: Statement;
  readonly features: readonly Set<string>[];
}

const indexes = new Map<string, IndexEntry[]>();

/** Features of every standard text of one kind and language, built once. */
function indexFor(kind: StatementKind, language: TextLanguage): IndexEntry[] {
  const key = `${kind}:${language}`;
  let index = indexes.get(key);
  if (!index) {
    index = [];
    for (const statement of ghsCatalog().statements.values()) {
      if (statement.kind !== kind) continue;
      const texts = referenceTexts(statement, language);
      if (texts.length > 0) index.push({ statement, features: texts.map(textFeatures) });
    }
    indexes.set(key, index);
  }
  return index;
}

/** How a printed text compares with its code's standard text. */
export interface TextComparison {
  readonly language: TextLanguage;
  /** Best containment over the code's standard texts. */
  readonly containment: number;
  /** Best Jaccard over the code's standard texts. */
  readonly jaccard: number;
  /** An unrelated code whose text matches clearly better, if any. */
  readonly betterMatch: { readonly code: string; readonly jaccard: number } | undefined;
  /** Whether the text contradicts the code by the rules above. */
  readonly contradicts: boolean;
}

/**
 * Compares `text` with the standard text of `reference`; `undefined` when there
 * is nothing to compare (empty text, or no standard text in that language).
 */
export function compareText(reference: Statement, text: string): TextComparison | undefined {
  const language = languageOf(text);
  const features = textFeatures(text);
  const own = referenceTexts(reference, language).map(textFeatures);
  if (features.size === 0 || own.length === 0) return undefined;
  const ownContainment = Math.max(...own.map((f) => containment(features, f)));
  const ownJaccard = Math.max(...own.map((f) => jaccard(features, f)));
  let betterMatch: TextComparison['betterMatch'];
  for (const entry of indexFor(reference.kind, language)) {
    // Codes that share a part (H301 for H301+H311) say the same thing in part.
    if (entry.statement.parts.some((p) => reference.parts.includes(p))) continue;
    const score = Math.max(...entry.features.map((f) => jaccard(features, f)));
    if (score >= BETTER_MATCH_MIN && score - ownJaccard >= BETTER_MATCH_MARGIN && score > (betterMatch?.jaccard ?? 0)) {
      betterMatch = { code: entry.statement.code, jaccard: score };
    }
  }
  return {
    language,
    containment: ownContainment,
    jaccard: ownJaccard,
    betterMatch,
    contradicts: ownContainment < MIN_CONTAINMENT || betterMatch !== undefined,
  };
}

/**
 * The standard statement a code-less text most likely is (Jaccard at least
 * {@link BETTER_MATCH_MIN}), for labels that print texts without codes.
 */
export function inferCode(kind: StatementKind, text: string): { code: string; jaccard: number } | undefined {
  const features = textFeatures(text);
  if (features.size === 0) return undefined;
  let best: { code: string; jaccard: number } | undefined;
  for (const entry of indexFor(kind, languageOf(text))) {
    const score = Math.max(...entry.features.map((f) => jaccard(features, f)));
    if (score >= BETTER_MATCH_MIN && score > (best?.jaccard ?? 0)) best = { code: entry.statement.code, jaccard: score };
  }
  return best;
}
