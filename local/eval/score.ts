/**
 * Scoring extracted field values against expected ones. Pure, so the
 * numbers `npm run eval` prints can be checked by unit tests.
 *
 * Normalisation before any comparison: strings are Unicode-NFC, trimmed,
 * with runs of whitespace collapsed to one space; an empty string, an empty
 * list and an object whose every property is empty all count as `null`
 * ("not on the label").
 */

/** How one field of one image scored. */
export interface FieldScore {
  /** Equal after normalisation (lists in any order). */
  readonly exact: boolean;
  /** 0 (nothing alike) to 1 (equal). */
  readonly similarity: number;
}

/** Trims, collapses whitespace, NFC. */
export function normaliseText(text: string): string {
  return text.normalize('NFC').replace(/\s+/g, ' ').trim();
}

/** Edit distance in Unicode code points (a Chinese character is one edit, not two). */
export function levenshtein(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  if (x.length === 0) return y.length;
  if (y.length === 0) return x.length;
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const row = [i];
    for (let j = 1; j <= y.length; j++) {
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      row.push(Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + cost));
    }
    prev = row;
  }
  return prev[y.length]!;
}

/** 1 − edit distance / length of the longer string, after normalisation. */
export function stringSimilarity(a: string, b: string): number {
  const x = normaliseText(a);
  const y = normaliseText(b);
  const longest = Math.max([...x].length, [...y].length);
  return longest === 0 ? 1 : 1 - levenshtein(x, y) / longest;
}

/**
 * Scores `actual` against `expected`:
 * - strings: {@link stringSimilarity};
 * - lists: items paired order-insensitively, greedily by the most similar
 *   remaining pair; the paired similarities summed over the longer list's
 *   length, so missing and extra items both cost;
 * - objects: the mean over the union of their properties;
 * - `null` against anything else scores 0; a value of another type is
 *   compared as text.
 */
export function scoreValue(expected: unknown, actual: unknown): FieldScore {
  const e = canonical(expected);
  const a = canonical(actual);
  if (e === null || a === null) return e === a ? PERFECT : NOTHING;
  if (typeof e === 'string' && typeof a === 'string') {
    const similarity = stringSimilarity(e, a);
    return { exact: normaliseText(e) === normaliseText(a), similarity };
  }
  if (Array.isArray(e) && Array.isArray(a)) return scoreList(e, a);
  if (isRecord(e) && isRecord(a)) return scoreObject(e, a);
  // Mismatched shapes (a list for a string, …): compare what they say.
  return { exact: false, similarity: stringSimilarity(asText(e), asText(a)) };
}

const PERFECT: FieldScore = { exact: true, similarity: 1 };
const NOTHING: FieldScore = { exact: false, similarity: 0 };

function scoreList(expected: readonly unknown[], actual: readonly unknown[]): FieldScore {
  const pairs: { i: number; j: number; score: FieldScore }[] = [];
  expected.forEach((e, i) => actual.forEach((a, j) => pairs.push({ i, j, score: scoreValue(e, a) })));
  pairs.sort((p, q) => q.score.similarity - p.score.similarity || p.i - q.i || p.j - q.j);
  const usedE = new Set<number>();
  const usedA = new Set<number>();
  let total = 0;
  let allExact = expected.length === actual.length;
  for (const p of pairs) {
    if (usedE.has(p.i) || usedA.has(p.j)) continue;
    usedE.add(p.i);
    usedA.add(p.j);
    total += p.score.similarity;
    if (!p.score.exact) allExact = false;
  }
  return { exact: allExact, similarity: total / Math.max(expected.length, actual.length) };
}

function scoreObject(expected: Record<string, unknown>, actual: Record<string, unknown>): FieldScore {
  const keys = [...new Set([...Object.keys(expected), ...Object.keys(actual)])];
  const scores = keys.map((k) => scoreValue(expected[k] ?? null, actual[k] ?? null));
  return {
    exact: scores.every((s) => s.exact),
    similarity: scores.reduce((n, s) => n + s.similarity, 0) / scores.length,
  };
}

/** Empty means absent: '' / [] / {every property empty} → null. */
function canonical(value: unknown): unknown {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return normaliseText(value) === '' ? null : value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) {
    const items = value.map(canonical).filter((v) => v !== null);
    return items.length === 0 ? null : items;
  }
  if (isRecord(value)) {
    const entries = Object.entries(value).map(([k, v]) => [k, canonical(v)] as const);
    return entries.every(([, v]) => v === null) ? null : Object.fromEntries(entries);
  }
  return String(value);
}

function asText(value: unknown): string {
  if (Array.isArray(value)) return value.map(asText).join('\n');
  if (isRecord(value)) return Object.values(value).map(asText).join('\n');
  return String(value ?? '');
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Exact-match rate and mean similarity over some cells. */
export interface Figures {
  readonly count: number;
  readonly exactRate: number;
  readonly meanSimilarity: number;
}

/** The figures of one language's images. */
export interface LanguageFigures extends Figures {
  readonly language: string;
}

/** One field over every image it was scored on. */
export interface FieldSummary extends Figures {
  readonly field: string;
  /** Images where the pipeline reported an error for this field (scored as its `null`). */
  readonly errors: number;
  /** The same figures per language, in the order languages first appear. */
  readonly languages: readonly LanguageFigures[];
}

/** One scored cell: a field of an image. */
export interface ScoredField {
  readonly field: string;
  readonly score: FieldScore;
  readonly error?: boolean;
  /** The image's language (see {@link languageOf}), when known. */
  readonly language?: string;
  /** Which image, for listing the lowest cells. */
  readonly image?: string;
}

/**
 * The language of a label from its expected values: `zh` when they hold
 * Chinese characters, else `en`.
 */
export function languageOf(expected: unknown): 'zh' | 'en' {
  return /\p{Script=Han}/u.test(asText(canonical(expected) ?? '')) ? 'zh' : 'en';
}

function figures(cells: readonly ScoredField[]): Figures {
  return {
    count: cells.length,
    exactRate: cells.length === 0 ? 0 : cells.filter((c) => c.score.exact).length / cells.length,
    meanSimilarity: cells.length === 0 ? 0 : cells.reduce((n, c) => n + c.score.similarity, 0) / cells.length,
  };
}

function groupBy<T>(items: readonly T[], key: (item: T) => string | undefined): Map<string, T[]> {
  const groups = new Map<string, T[]>();
  for (const item of items) {
    const k = key(item);
    if (k !== undefined) groups.set(k, [...(groups.get(k) ?? []), item]);
  }
  return groups;
}

/** The mean of per-field means (every field weighs the same), with the exact rate over all cells. */
function overallOf(cells: readonly ScoredField[]): Figures {
  const fields = [...groupBy(cells, (c) => c.field).values()].map(figures);
  return {
    count: cells.length,
    exactRate: figures(cells).exactRate,
    meanSimilarity: fields.length === 0 ? 0 : fields.reduce((n, f) => n + f.meanSimilarity, 0) / fields.length,
  };
}

/**
 * Per-field summary, in the order fields first appear, and the overall
 * figures: the mean of the per-field means (every field weighs the same)
 * and the exact-match rate over all cells; each also per language.
 */
export function summarise(cells: readonly ScoredField[]): {
  fields: FieldSummary[];
  overall: Figures & { languages: LanguageFigures[] };
} {
  const byLanguage = (list: readonly ScoredField[], of: (l: readonly ScoredField[]) => Figures): LanguageFigures[] =>
    [...groupBy(list, (c) => c.language)].map(([language, l]) => ({ language, ...of(l) }));
  const fields = [...groupBy(cells, (c) => c.field)].map(([field, list]) => ({
    field,
    ...figures(list),
    errors: list.filter((c) => c.error).length,
    languages: byLanguage(list, figures),
  }));
  return { fields, overall: { ...overallOf(cells), languages: byLanguage(cells, overallOf) } };
}

/** The cells that are not a perfect match, lowest similarity first. */
export function lowestCells(cells: readonly ScoredField[], limit = 10): ScoredField[] {
  return cells
    .filter((c) => c.score.similarity < 1 || !c.score.exact)
    .sort((a, b) => a.score.similarity - b.score.similarity)
    .slice(0, limit);
}

/** The summary as a plain-text table, with exact rate and similarity per language when the cells name one. */
export function formatTable(summary: ReturnType<typeof summarise>): string {
  const languages = summary.overall.languages.map((l) => l.language);
  const perLanguage = (list: readonly LanguageFigures[]) =>
    languages.flatMap((lang) => {
      const f = list.find((l) => l.language === lang);
      return f ? [pct(f.exactRate), f.meanSimilarity.toFixed(3)] : ['-', '-'];
    });
  const rows = [
    ['field', 'images', 'exact', 'similarity', ...languages.flatMap((l) => [`${l} exact`, `${l} similarity`]), 'errors'],
    ...summary.fields.map((f) => [
      f.field,
      String(f.count),
      pct(f.exactRate),
      f.meanSimilarity.toFixed(3),
      ...perLanguage(f.languages),
      String(f.errors),
    ]),
    [
      'all fields',
      String(summary.overall.count),
      pct(summary.overall.exactRate),
      summary.overall.meanSimilarity.toFixed(3),
      ...perLanguage(summary.overall.languages),
      String(summary.fields.reduce((n, f) => n + f.errors, 0)),
    ],
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: readonly string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(rows[0]!), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1, -1).map(line), line(rows.at(-1)!)].join('\n');
}

function pct(x: number): string {
  return `${(x * 100).toFixed(0)}%`;
}
