/**
 * The GHS knowledge fieldlens checks labels against, as typed lookup maps.
 *
 * The data lives in the JSON files beside this module (each names its source
 * in `source`); {@link ghsCatalog} builds the maps on first use and keeps
 * them for the life of the process, so a Lambda cold start pays for it once
 * and only when a check runs.
 */
import hazardData from './hazard-statements.json';
import precautionData from './precautionary-statements.json';
import euhData from './euh-statements.json';
import labelData from './label-elements.json';

/** H (GHS hazard), P (GHS precautionary) or EUH (EU CLP supplemental hazard). */
export type StatementKind = 'H' | 'P' | 'EUH';

/** GHS01 … GHS09. */
export type PictogramCode = 'GHS01' | 'GHS02' | 'GHS03' | 'GHS04' | 'GHS05' | 'GHS06' | 'GHS07' | 'GHS08' | 'GHS09';

/** The signal word a hazard demands; `none` is explicit ("no signal word" in Annex 1). */
export type SignalWord = 'danger' | 'warning' | 'none';

/** How strong a signal word is: none 0 < warning 1 < danger 2. */
export const SIGNAL_WORD_RANK: Readonly<Record<SignalWord, number>> = Object.freeze({ none: 0, warning: 1, danger: 2 });

/** One standard statement (single or combined code). */
export interface Statement {
  readonly code: string;
  readonly kind: StatementKind;
  /** The single codes it is made of: `['H301', 'H311', 'H331']` for `H301+H311+H331`. */
  readonly parts: readonly string[];
  readonly en: string;
  /** Earlier English wordings still printed on labels. */
  readonly enAlt: readonly string[];
  readonly zh: string | undefined;
  readonly zhAlt: readonly string[];
  /** Not listed by GHS Rev.10 any more, though EU CLP or GB labels still carry it. */
  readonly superseded: boolean;
  /** `clp` for the EU-only differentiations (H350i, H360Fd, …). */
  readonly scheme: 'ghs' | 'clp';
}

/** One row of Annex 1: a hazard class and category with its label elements. */
export interface ImplicationRow {
  readonly codes: readonly string[];
  readonly class: string;
  readonly category: string;
  readonly pictograms: readonly PictogramCode[];
  readonly signalWord: SignalWord;
  /** The hazard a pictogram is there for, as the precedence rules name it (`skin-irritation`, …). */
  readonly hazard: string;
}

/**
 * What one single hazard code implies, over every category that uses it
 * (H228 is Danger in category 1, Warning in category 2).
 */
export interface HazardImplication {
  readonly code: string;
  readonly rows: readonly ImplicationRow[];
  /** Pictograms every row demands: these must be on the label. */
  readonly requiredPictograms: readonly PictogramCode[];
  /** Pictograms some row demands: these may be on the label. */
  readonly allowedPictograms: readonly PictogramCode[];
  /** The weakest signal word over the rows: the label shows at least this. */
  readonly minSignalWord: SignalWord;
  /** The strongest signal word over the rows: the label shows at most this. */
  readonly maxSignalWord: SignalWord;
  readonly hazards: readonly string[];
}

export interface Pictogram {
  readonly code: PictogramCode;
  readonly en: string;
  readonly zh: string;
  readonly aliases: readonly string[];
}

/** A pictogram precedence rule (GHS 1.4.10.5.3.1). */
export interface PictogramPrecedence {
  readonly rule: string;
  /** The rule applies when this pictogram is required (for this hazard, when named). */
  readonly if: { readonly pictogram: PictogramCode; readonly hazard?: string };
  readonly omit: PictogramCode;
  /** The hazards whose `omit` pictogram gives way; `all` for every hazard. */
  readonly forHazards: 'all' | readonly string[];
  readonly text: string;
}

/** A statement that may be left out when another is present (GHS 1.4.10.5.3.3). */
export interface StatementOmission {
  readonly rule: string;
  readonly keep: string;
  readonly mayOmit: string;
}

/** The built catalog. Every map is keyed by the canonical code (`H301+H311+H331`, `EUH208`, `GHS02`). */
export interface GhsCatalog {
  readonly statements: ReadonlyMap<string, Statement>;
  readonly pictograms: ReadonlyMap<PictogramCode, Pictogram>;
  /** Single hazard codes (H and their CLP variants) with label elements. */
  readonly implications: ReadonlyMap<string, HazardImplication>;
  readonly pictogramPrecedence: readonly PictogramPrecedence[];
  readonly statementOmissions: readonly StatementOmission[];
  readonly signalWords: readonly { readonly word: Exclude<SignalWord, 'none'>; readonly en: string; readonly zh: string }[];
  /** The `source` property of each data file, for reports. */
  readonly sources: Readonly<Record<'hazard' | 'precaution' | 'euh' | 'labelElements', unknown>>;
}

interface RawStatement {
  code: string;
  en: string;
  enAlt?: string[];
  zh?: string;
  zhAlt?: string[];
  superseded?: boolean;
  scheme?: string;
}

let built: GhsCatalog | undefined;

/**
 * The GHS catalog, built once on first call.
 *
 * @example
 * ```ts
 * ghsCatalog().statements.get('H225')?.zh // '高度易燃液体和蒸气'
 * ghsCatalog().implications.get('H225')?.requiredPictograms // ['GHS02']
 * ```
 */
export function ghsCatalog(): GhsCatalog {
  built ??= build();
  return built;
}

/** The kind of a single or combined code, from its prefix. */
export function kindOf(code: string): StatementKind {
  if (code.startsWith('EUH')) return 'EUH';
  return code.startsWith('P') ? 'P' : 'H';
}

function build(): GhsCatalog {
  const statements = new Map<string, Statement>();
  const add = (raw: RawStatement, kind: StatementKind): void => {
    if (statements.has(raw.code)) throw new TypeError(`GHS data lists ${raw.code} twice`);
    statements.set(
      raw.code,
      Object.freeze({
        code: raw.code,
        kind,
        parts: Object.freeze(raw.code.split('+')),
        en: raw.en,
        enAlt: Object.freeze(raw.enAlt ?? []),
        zh: raw.zh,
        zhAlt: Object.freeze(raw.zhAlt ?? []),
        superseded: raw.superseded === true,
        scheme: raw.scheme === 'clp' ? 'clp' : 'ghs',
      }),
    );
  };
  for (const s of hazardData.statements as RawStatement[]) add(s, 'H');
  for (const s of precautionData.statements as RawStatement[]) add(s, 'P');
  for (const s of euhData.statements as RawStatement[]) add(s, 'EUH');

  const pictograms = new Map<PictogramCode, Pictogram>();
  for (const p of labelData.pictograms as Pictogram[]) {
    pictograms.set(p.code, Object.freeze({ ...p, aliases: Object.freeze([...p.aliases]) }));
  }

  const rowsByCode = new Map<string, ImplicationRow[]>();
  for (const raw of labelData.implications as ImplicationRow[]) {
    const row = Object.freeze({ ...raw, codes: Object.freeze([...raw.codes]), pictograms: Object.freeze([...raw.pictograms]) });
    for (const code of row.codes) {
      const list = rowsByCode.get(code) ?? [];
      list.push(row);
      rowsByCode.set(code, list);
    }
  }
  const implications = new Map<string, HazardImplication>();
  for (const [code, rows] of rowsByCode) implications.set(code, summarise(code, rows));

  return Object.freeze({
    statements,
    pictograms,
    implications,
    pictogramPrecedence: Object.freeze(labelData.precedence.pictograms as PictogramPrecedence[]),
    statementOmissions: Object.freeze(labelData.precedence.statements as StatementOmission[]),
    signalWords: Object.freeze(
      labelData.signalWords.map((s) => Object.freeze({ word: s.word as Exclude<SignalWord, 'none'>, en: s.en, zh: s.zh })),
    ),
    sources: Object.freeze({
      hazard: hazardData.source,
      precaution: precautionData.source,
      euh: euhData.source,
      labelElements: labelData.source,
    }),
  });
}

/** Folds a code's category rows into what a label must and may show. */
function summarise(code: string, rows: readonly ImplicationRow[]): HazardImplication {
  const first = rows[0]!;
  const required = first.pictograms.filter((p) => rows.every((r) => r.pictograms.includes(p)));
  const allowed = [...new Set(rows.flatMap((r) => r.pictograms))].sort();
  const ranks = rows.map((r) => SIGNAL_WORD_RANK[r.signalWord]);
  const byRank = (rank: number): SignalWord => (rank === 2 ? 'danger' : rank === 1 ? 'warning' : 'none');
  return Object.freeze({
    code,
    rows: Object.freeze([...rows]),
    requiredPictograms: Object.freeze(required),
    allowedPictograms: Object.freeze(allowed),
    minSignalWord: byRank(Math.min(...ranks)),
    maxSignalWord: byRank(Math.max(...ranks)),
    hazards: Object.freeze([...new Set(rows.map((r) => r.hazard))]),
  });
}
