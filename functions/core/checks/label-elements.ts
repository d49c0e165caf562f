/**
 * Checks of the label elements (`tag`: signal word and pictogram codes)
 * against what the hazard statements imply (GHS Annex 1), with the GHS
 * precedence rules applied.
 */
import {
  ghsCatalog,
  SIGNAL_WORD_RANK,
  type HazardImplication,
  type PictogramCode,
  type SignalWord,
} from '../ghs/catalog';
import { CheckCode, finding, type Finding } from './findings';
import { readStatementList, resolveStatements } from './statements';

/** What a label-element list says: pictograms, signal words, and items that are neither. */
export interface LabelElements {
  readonly pictograms: readonly PictogramCode[];
  readonly signalWords: readonly { readonly word: Exclude<SignalWord, 'none'>; readonly language: 'en' | 'zh'; readonly raw: string }[];
  readonly unrecognised: readonly string[];
}

/**
 * Reads a `tag`-like value: `["危险", "GHS02", "GHS07"]`, `["DANGER", "Flame"]`,
 * or one string of them separated by commas or spaces. `undefined` when the
 * value is not a list of strings.
 */
export function readLabelElements(value: unknown): LabelElements | undefined {
  let items: string[];
  if (value === null || value === undefined) items = [];
  else if (typeof value === 'string') items = value.split(/[,，、;；\n]+/);
  else if (Array.isArray(value)) items = value.filter((v): v is string => typeof v === 'string');
  else return undefined;
  const { pictograms, signalWords } = ghsCatalog();
  const names = new Map<string, PictogramCode>();
  for (const p of pictograms.values()) for (const n of [p.en, p.zh, ...p.aliases]) names.set(norm(n), p.code);
  const words = new Map<string, { word: Exclude<SignalWord, 'none'>; language: 'en' | 'zh' }>();
  for (const s of signalWords) {
    words.set(norm(s.en), { word: s.word, language: 'en' });
    words.set(norm(s.zh), { word: s.word, language: 'zh' });
  }
  const out = { pictograms: [] as PictogramCode[], signalWords: [] as LabelElements['signalWords'][number][], unrecognised: [] as string[] };
  for (const raw of items) {
    const item = raw.trim();
    if (item === '') continue;
    const codes = [...item.normalize('NFKC').matchAll(/GHS\s*0?([1-9])(?!\d)/gi)].map((m) => `GHS0${m[1]}` as PictogramCode);
    if (codes.length > 0) {
      out.pictograms.push(...codes);
      continue;
    }
    const key = norm(item);
    const word = words.get(key);
    if (word) out.signalWords.push({ ...word, raw: item });
    else if (names.has(key)) out.pictograms.push(names.get(key)!);
    else out.unrecognised.push(item);
  }
  return out;
}

function norm(s: string): string {
  return s.normalize('NFKC').toLowerCase().replace(/[\s"'“”‘’.:：!！()（）[\]]+/g, '');
}

/** What the hazard statements imply, with the codes that imply nothing known kept apart. */
interface Implied {
  readonly implications: readonly HazardImplication[];
  /** H-codes the catalog has no label elements for (H230, or an unknown code): absence checks stay silent. */
  readonly unmapped: readonly string[];
}

function implied(hazardValue: unknown): Implied | undefined {
  const list = readStatementList(hazardValue);
  if (!list.ok) return undefined;
  const { implications } = ghsCatalog();
  const found = new Map<string, HazardImplication>();
  const unmapped: string[] = [];
  for (const s of resolveStatements(list.items, 'H')) {
    for (const part of s.parts) {
      if (!part.startsWith('H')) continue;
      const imp = implications.get(part);
      if (imp) found.set(part, imp);
      else unmapped.push(part);
    }
  }
  return { implications: [...found.values()], unmapped };
}

/** Per pictogram, the codes that still require it after the precedence rules. */
function requiredPictograms(implications: readonly HazardImplication[]): Map<PictogramCode, string[]> {
  const { pictogramPrecedence } = ghsCatalog();
  const requirements = implications.flatMap((imp) =>
    imp.requiredPictograms.map((pictogram) => ({ pictogram, code: imp.code, hazards: imp.hazards })),
  );
  const applies = (pictogram: PictogramCode, hazard?: string): boolean =>
    requirements.some((r) => r.pictogram === pictogram && (hazard === undefined || r.hazards.includes(hazard)));
  const out = new Map<PictogramCode, string[]>();
  for (const r of requirements) {
    const overruled = pictogramPrecedence.some(
      (rule) =>
        rule.omit === r.pictogram &&
        applies(rule.if.pictogram, rule.if.hazard) &&
        (rule.forHazards === 'all' || r.hazards.every((h) => rule.forHazards.includes(h))),
    );
    if (!overruled) out.set(r.pictogram, [...(out.get(r.pictogram) ?? []), r.code]);
  }
  return out;
}

/**
 * Pictogram checks: every pictogram the hazard statements require is shown
 * (error), and every pictogram shown is called for by some statement and not
 * removed by a precedence rule (warning).
 */
export function checkPictograms(value: unknown, field: string, hazardValue: unknown): Finding[] {
  const tag = readLabelElements(value);
  if (!tag) return [finding(CheckCode.CHECK_INPUT_UNREADABLE, field, 'expected a list of pictogram codes and signal words')];
  const out: Finding[] = tag.unrecognised.map((item) =>
    finding(CheckCode.GHS_TAG_UNRECOGNISED, field, `"${item}" is neither a GHS pictogram nor a signal word`, [item]),
  );
  const hazards = implied(hazardValue);
  if (!hazards || hazards.implications.length === 0) return out;
  const shown = new Set(tag.pictograms);
  const required = requiredPictograms(hazards.implications);
  for (const [pictogram, codes] of required) {
    if (!shown.has(pictogram)) {
      const name = ghsCatalog().pictograms.get(pictogram)!.en;
      out.push(finding(CheckCode.GHS_PICTOGRAM_MISSING, field, `${codes.join(', ')} require ${pictogram} (${name}), which is not shown`, [pictogram, ...codes]));
    }
  }
  // An unmapped code may call for any pictogram, so "nothing calls for it" cannot be said.
  if (hazards.unmapped.length > 0) return out;
  const allowed = new Set(hazards.implications.flatMap((imp) => imp.allowedPictograms));
  for (const pictogram of shown) {
    if (required.has(pictogram)) continue;
    if (!allowed.has(pictogram)) {
      out.push(finding(CheckCode.GHS_PICTOGRAM_UNEXPECTED, field, `${pictogram} is shown but no hazard statement calls for it`, [pictogram]));
    } else if (hazards.implications.every((imp) => !imp.allowedPictograms.includes(pictogram) || imp.requiredPictograms.includes(pictogram))) {
      // Every statement that calls for it does so outright, so a precedence rule removed it.
      const rule = ghsCatalog().pictogramPrecedence.find((r) => r.omit === pictogram && required.has(r.if.pictogram));
      out.push(
        finding(CheckCode.GHS_PICTOGRAM_UNEXPECTED, field, `${pictogram} is shown but should not appear${rule ? `: ${rule.text} (${rule.rule})` : ''}`, [pictogram]),
      );
    }
  }
  return out;
}

/**
 * Signal-word checks: exactly one signal word (the same word in two languages
 * counts once), at least as strong as the strongest hazard demands, and no
 * stronger than any hazard allows.
 */
export function checkSignalWord(value: unknown, field: string, hazardValue: unknown): Finding[] {
  const tag = readLabelElements(value);
  if (!tag) return [finding(CheckCode.CHECK_INPUT_UNREADABLE, field, 'expected a list of pictogram codes and signal words')];
  const out: Finding[] = [];
  const words = tag.signalWords;
  const levels = new Set(words.map((w) => w.word));
  const repeated = words.some((w, i) => words.findIndex((x) => x.word === w.word && x.language === w.language) !== i);
  if (levels.size > 1 || repeated) {
    out.push(finding(CheckCode.GHS_SIGNAL_WORD_DOUBLED, field, `more than one signal word: ${words.map((w) => w.raw).join(', ')}`, words.map((w) => w.raw)));
  }
  const hazards = implied(hazardValue);
  if (!hazards || hazards.implications.length === 0) return out;
  const strongest = (ws: readonly SignalWord[]): SignalWord =>
    ws.reduce<SignalWord>((a, b) => (SIGNAL_WORD_RANK[b] > SIGNAL_WORD_RANK[a] ? b : a), 'none');
  const demanded = strongest(hazards.implications.map((imp) => imp.minSignalWord));
  const allowed = strongest(hazards.implications.map((imp) => imp.maxSignalWord));
  const shown = strongest(words.map((w) => w.word));
  const demanding = hazards.implications.filter((imp) => imp.minSignalWord === demanded).map((imp) => imp.code);
  if (demanded !== 'none' && words.length === 0) {
    out.push(finding(CheckCode.GHS_SIGNAL_WORD_MISSING, field, `${demanding.join(', ')} require the signal word ${label(demanded)}, and none is shown`, [demanded, ...demanding]));
  } else if (SIGNAL_WORD_RANK[shown] < SIGNAL_WORD_RANK[demanded]) {
    out.push(finding(CheckCode.GHS_SIGNAL_WORD_TOO_WEAK, field, `${label(shown)} is shown but ${demanding.join(', ')} require ${label(demanded)}`, [shown, demanded, ...demanding]));
  } else if (hazards.unmapped.length === 0 && SIGNAL_WORD_RANK[shown] > SIGNAL_WORD_RANK[allowed]) {
    const codes = hazards.implications.map((imp) => imp.code);
    const most = allowed === 'none' ? 'no signal word' : label(allowed);
    out.push(finding(CheckCode.GHS_SIGNAL_WORD_TOO_STRONG, field, `${label(shown)} is shown but ${codes.join(', ')} call for ${most} at most`, [shown, ...codes]));
  }
  return out;
}

function label(word: SignalWord): string {
  const entry = ghsCatalog().signalWords.find((s) => s.word === word);
  return entry ? `${entry.en.toUpperCase()}/${entry.zh}` : 'none';
}
