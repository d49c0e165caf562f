/**
 * Reads a chemical safety label from its OCR lines: pure rules anchored on
 * the headings that GB 15258 (Chinese) and GHS (English) labels print.
 *
 * The walk goes top to bottom. Headings (危险性说明 / Hazard statements,
 * 防范说明 / Precautionary statements) open a section; labelled lines
 * (供应商 / Supplier, 地址 / Address, 电话 / Tel, 应急咨询电话 / Emergency)
 * fill the supplier; a line that starts with an H-code or P-code is a
 * statement wherever it is, so labels without headings still read. What
 * comes before the first section holds the product name and the signal word.
 * A line is first cut where a code, a heading or a supplier label starts
 * inside it, so run-on paragraphs and `Tel: …  Emergency: …` read part by part.
 */
import { readingOrder } from './lines';
import type { OcrLine } from './lines';
import { inferPictograms } from './pictograms';
import type { GhsCode } from './pictograms';

/** The supplier block; `null` for each part not printed. */
export interface SupplierReading {
  readonly name: string | null;
  readonly address: string | null;
  readonly phone: string | null;
  readonly emergencyPhone: string | null;
}

/** Everything the rules read from one label. */
export interface LabelReading {
  readonly name: string | null;
  /** 危险, 警告, DANGER or WARNING as printed. */
  readonly signalWord: string | null;
  /** Inferred from the hazard statements, never seen (see `pictograms.ts`). */
  readonly pictograms: readonly GhsCode[];
  readonly hazards: readonly string[];
  readonly precautions: readonly string[];
  readonly supplier: SupplierReading;
}

type Section = 'preamble' | 'hazards' | 'precautions' | 'supplier' | 'other';
type SupplierKey = keyof SupplierReading;

const HAN = /\p{Script=Han}/u;

/** One statement code: H225, H360FD, EUH066, P305. Suffix letters only on H-codes. */
const CODE = String.raw`(?:EUH\d{3}|H\d{3}(?:FD|Fd|Df|fd|F|D|f|d|i)?(?![a-z])|P\d{3})`;
/** A code group: `H301+H311+H331`, `P305 + P351`. */
const CODE_GROUP = String.raw`${CODE}(?:\s*\+\s*${CODE})*`;
/** A code group at the start of a statement. */
const LEADING_CODES = new RegExp(String.raw`^(${CODE_GROUP})\s*`);

/**
 * Section headings. `whole` ones only count when they are the whole line
 * (they are common words); the others also count inside a line, where a
 * run-on label starts its next section. `other` sections (supplemental
 * information, …) hold nothing the rules read, except coded statements.
 */
const HEADINGS: readonly { readonly section: 'hazards' | 'precautions' | 'other'; readonly words: string; readonly whole?: true }[] = [
  { section: 'hazards', words: '危险性说明|危害性说明|危险说明|危害说明|hazard statements?|hazard phrases' },
  { section: 'hazards', words: 'hazards?|危险性|危害', whole: true },
  { section: 'precautions', words: '防范说明|防范措施说明|预防说明|precautionary statements?|precautionary phrases' },
  { section: 'precautions', words: 'precautions?|防范措施', whole: true },
  {
    section: 'other',
    words:
      '补充信息|补充危险性信息|其他信息|附加信息|supplemental (?:hazard )?information|supplementary (?:hazard )?information|additional (?:hazard )?information|other information',
  },
];
const HEADING_PATTERNS = HEADINGS.map((h) => ({ ...h, pattern: new RegExp(`^(?:${h.words})`, 'i') }));

/** Sub-headings inside the precautionary statements; they are not statements. */
const SUBHEADING =
  /^【?\s*(?:预防措施|事故响应|应急响应|安全储存|安全贮存|储存|贮存|废弃处置|废弃|prevention|response|storage|disposal)\s*(?:】\s*[:：]?|[:：]|$)\s*/i;

/** Supplier labels, most specific first (应急咨询电话 before 电话). */
const SUPPLIER_LABELS: readonly { readonly key: SupplierKey | 'other'; readonly label: string }[] = [
  {
    key: 'emergencyPhone',
    label: String.raw`(?:24\s*小时)?(?:应急咨询电话|应急联系电话|应急电话|紧急联系电话|紧急电话)|(?:24[- ]?h(?:our)?s?\s+)?emergency(?:\s+(?:tel(?:ephone)?|phone|number|contact|call))*(?:\s*\(24\s*h(?:ours?)?\))?`,
  },
  {
    key: 'name',
    label: String.raw`供应商(?:名称)?|生产商|制造商|生产企业|生产单位|供货商|supplier|manufacturer|distributor|produced by|company`,
  },
  { key: 'address', label: String.raw`地址|address|addr\.?` },
  { key: 'phone', label: String.raw`联系电话|电话|tel(?:ephone)?\.?|phone|ph\.` },
  { key: 'other', label: String.raw`邮编|邮政编码|传真|电子邮箱|邮箱|网址|fax|e-?mail|website|web` },
];

// A label is a label only when a word boundary follows (Tel ≠ Telford); CJK labels need no boundary.
const labelAlternation = SUPPLIER_LABELS.map((l) => `(${l.label})`).join('|');
const SUPPLIER_AT_START = new RegExp(String.raw`^(?:${labelAlternation})(?![A-Za-z])\s*[:：]?\s*`, 'i');

/**
 * Where a line holds the start of something else: a section heading, a
 * supplier label with its colon (`电话：0571-1 应急电话：0571-2`,
 * `Tel: +1 555 0100  Emergency: +1 555 0199`) or a statement code. It
 * follows a space, punctuation or a Chinese character (Chinese is not
 * spaced), and never the `+` inside a code group. Matches are consumed, so
 * `24h Emergency:` is one label and not `Emergency:` after a stray `24h`.
 */
const INNER_START = new RegExp(
  String.raw`(?<=^|[\s.。!！;；:：,，、|/]|\p{Script=Han}|\d)(?<![+＋]\s*)(?:` +
    [
      String.raw`${CODE_GROUP}(?![0-9])`,
      `(?:${HEADINGS.filter((h) => !h.whole).map((h) => h.words).join('|')})(?![A-Za-z])`,
      String.raw`(?:${SUPPLIER_LABELS.map((l) => l.label).join('|')})(?![A-Za-z])\s*[:：]`,
    ].join('|') +
    ')',
  'giu',
);

/** Splits a line where something new starts inside it (see {@link INNER_START}). */
export function splitAtInnerStarts(text: string): string[] {
  const cuts = [0];
  for (const m of text.matchAll(INNER_START)) {
    // A code right after a digit belongs to a number or an identifier, not a statement.
    if (/^(?:EUH|H|P)\d/.test(m[0]) && /\d$/.test(text.slice(0, m.index))) continue;
    if (m.index > 0) cuts.push(m.index);
  }
  return cuts.map((c, i) => text.slice(c, cuts[i + 1]).trim()).filter((part) => part !== '');
}

/** Lines that end a section without being part of it (identifiers, references, batch data). */
const STOP =
  /^(?:请参阅|参阅|详见|请阅读|使用前请|read (?:the )?(?:label|sds)|refer to|see (?:the )?(?:sds|safety data sheet)|safety data sheet|化学品安全技术说明书|cas\s*(?:no\.?|号|number)?\s*[:：]?\s*\d|un\s*(?:no\.?|号)?\s*[:：]?\s*\d|ec\s*no|批号|生产日期|净含量|lot\b|batch\b)/i;

const SIGNAL_PREFIX = /^(?:信号词|signal word)\s*[:：]?\s*/i;
const SIGNAL_WORD = /^(?:危险|警告|danger|warning)$/i;
const SIGNAL_TOKEN = /(?:^|\s)(危险|警告|DANGER|WARNING|Danger|Warning)(?=\s|$)/;
const NAME_LABEL = /^(?:产品名称|化学品名称|品名|名称|product name|product identifier|chemical name)\s*[:：]\s*(.+)$/i;

/**
 * Reads a label from its OCR lines (any order with boxes; reading order
 * without).
 */
export function readLabel(input: readonly OcrLine[]): LabelReading {
  // A line of a run-on label can hold the end of one statement and the
  // start of the next, or of the next section: each part is read on its own.
  const lines = readingOrder(input)
    .flatMap((l) => splitAtInnerStarts(cleanLine(l.text)).map((text) => ({ ...l, text })))
    .filter((l) => /[\p{L}\p{N}]/u.test(l.text));

  const preamble: OcrLine[] = [];
  const content: Record<'hazards' | 'precautions', string[]> = { hazards: [], precautions: [] };
  const supplier: Record<SupplierKey, string[]> = { name: [], address: [], phone: [], emergencyPhone: [] };
  let section: Section = 'preamble';
  let field: SupplierKey | 'other' = 'other';
  let signalWord: string | null = null;
  let labelledName: string | null = null;

  const addSupplier = (line: string): void => {
    // A separator between two labelled parts (`Tel: 1 | Emergency: 2`) belongs to neither.
    const text = line.replace(/[\s|/]+$/u, '');
    const m = SUPPLIER_AT_START.exec(text);
    if (m) {
      field = SUPPLIER_LABELS[m.slice(1).findIndex((g) => g !== undefined)]?.key ?? 'other';
      const value = text.slice(m[0].length).trim();
      if (value && field !== 'other') supplier[field].push(value);
    } else if (field !== 'other') {
      supplier[field].push(text);
    }
  };

  for (const line of lines) {
    let text = line.text;
    const nameMatch = NAME_LABEL.exec(text);
    if (nameMatch) {
      labelledName ??= nameMatch[1]!.trim();
      continue;
    }
    const signal = text.replace(SIGNAL_PREFIX, '');
    if (SIGNAL_WORD.test(signal)) {
      signalWord ??= signal;
      continue;
    }
    const heading = HEADING_PATTERNS.find((h) => h.pattern.test(text) && (!h.whole || h.pattern.exec(text)![0] === text));
    if (heading) {
      section = heading.section;
      text = text.replace(heading.pattern, '').replace(/^\s*[:：]\s*/, '').trim();
      if (!text) continue;
    }
    if (SUPPLIER_AT_START.test(text)) {
      section = 'supplier';
      addSupplier(text);
      continue;
    }
    if (STOP.test(text)) {
      if (section === 'preamble') preamble.push(line);
      else section = 'other';
      continue;
    }
    const code = LEADING_CODES.exec(text)?.[1];
    if (code) section = code.startsWith('P') ? 'precautions' : 'hazards';
    switch (section) {
      case 'preamble':
        preamble.push(line);
        break;
      case 'hazards':
        content.hazards.push(text);
        break;
      case 'precautions': {
        const rest = text.replace(SUBHEADING, '');
        if (rest !== text && !LEADING_CODES.test(text)) {
          if (rest) content.precautions.push(rest);
        } else {
          content.precautions.push(text);
        }
        break;
      }
      case 'supplier':
        addSupplier(text);
        break;
      case 'other':
        break;
    }
  }

  signalWord ??= findSignalToken(preamble);
  const hazards = statements(content.hazards);
  const join = (parts: string[]): string | null => (parts.length > 0 ? cleanValue(joinLines(parts)) : null);
  return {
    name: labelledName ?? productName(preamble),
    signalWord,
    pictograms: inferPictograms(hazards),
    hazards,
    precautions: statements(content.precautions),
    supplier: {
      name: join(supplier.name),
      address: join(supplier.address),
      phone: join(supplier.phone),
      emergencyPhone: join(supplier.emergencyPhone),
    },
  };
}

/** Trims, collapses whitespace, drops list bullets, repairs statement codes. */
function cleanLine(text: string): string {
  return fixCodeDigits(
    text
      .replace(/\s+/g, ' ')
      .trim()
      .replace(/^[•·●■▪◆◇◦∙]\s*/u, ''),
  );
}

/**
 * OCR reads a 0 in a code as the letter O now and then (`EUHo66`), which
 * would hide the start of a statement. At the start of a line or after a
 * `+`, three code characters with at least two real digits are a code.
 */
export function fixCodeDigits(text: string): string {
  return text.replace(/(^|\+\s*)(EUH|H|P)([0-9Oo]{3})(?![a-z])/g, (m, before: string, prefix: string, digits: string) =>
    /\d.*\d/.test(digits) ? `${before}${prefix}${digits.replace(/[Oo]/g, '0')}` : m,
  );
}

/**
 * The product name: the tallest line before the first section (the name is
 * printed largest), not counting identifiers and the signal word. Without
 * boxes, the first such line.
 */
function productName(preamble: readonly OcrLine[]): string | null {
  let best: OcrLine | undefined;
  for (const line of preamble) {
    if (STOP.test(line.text) || SIGNAL_WORD.test(line.text)) continue;
    // Stray marks inside pictograms come out as one or two characters of noise.
    if ((line.text.match(/\p{L}/gu) ?? []).length < 2) continue;
    if (!best) best = line;
    else if ((line.box?.height ?? 0) > (best.box?.height ?? 0) * 1.15) best = line;
  }
  return best ? cleanValue(best.text) : null;
}

function findSignalToken(preamble: readonly OcrLine[]): string | null {
  for (const line of preamble) {
    const m = SIGNAL_TOKEN.exec(line.text);
    if (m) return m[1]!;
  }
  return null;
}

/**
 * Reassembles statements from lines that OCR split where the label wrapped.
 * When the section prints codes, a statement starts at each code and every
 * other line continues the one before (a statement may hold several
 * sentences: "…点火源。禁止吸烟。"). Without codes, a statement ends with its
 * sentence (。 . ! ！).
 */
export function statements(lines: readonly string[]): string[] {
  const coded = lines.some((l) => LEADING_CODES.test(l));
  const out: string[][] = [];
  for (const line of lines) {
    const current = out.at(-1);
    const startsNew =
      !current || LEADING_CODES.test(line) || (!coded && /[。.!！]$/.test(current.at(-1) ?? ''));
    if (startsNew) out.push([line]);
    else current.push(line);
  }
  const texts = out.map((parts) => normaliseStatement(joinLines(parts.map((p, i) => (i === 0 ? p : continuation(parts[i - 1]!, p))))));
  return completeTerminators(texts);
}

/**
 * A wrapped line that continues a sentence starts in lower case; OCR reads
 * a letter whose capital looks the same (`Vomiting`, `Skin`) as a capital.
 */
function continuation(previous: string, part: string): string {
  if (/[.!?:;。！？：；]$/.test(previous)) return part;
  return part.replace(/^[CKOPSUVWXZ](?=[a-z])/, (c) => c.toLowerCase());
}

/**
 * Joins wrapped lines: no space where either side is Chinese (Chinese has no
 * spaces) or after a hyphen that ends a word; one space otherwise.
 */
export function joinLines(parts: readonly string[]): string {
  let text = '';
  for (const part of parts) {
    if (!text) {
      text = part;
      continue;
    }
    const last = text.at(-1) ?? '';
    const first = part[0] ?? '';
    const tight = HAN.test(last) || HAN.test(first) || isFullWidthPunct(last) || /[A-Za-z]-$/.test(text);
    text += tight ? part : ` ${part}`;
  }
  return text;
}

/** Codes written as printed (`P305+P351+P338`), then one space before the text. */
function normaliseStatement(text: string): string {
  const m = LEADING_CODES.exec(text);
  let out = text;
  if (m) {
    const codes = m[1]!.replace(/\s*\+\s*/g, '+');
    const rest = text.slice(m[0].length);
    // Keep a printed separator (`H225: …`); OCR drops the space between a code and Chinese text.
    out = rest && !/^[:：.\-–—]/.test(rest) ? `${codes} ${rest}` : `${codes}${rest}`;
  }
  return cleanValue(out);
}

/**
 * OCR clean-ups that only restore what the label prints:
 * - full-width punctuation after Chinese (OCR often returns ASCII `:` for `：`),
 * - no stray spaces between Chinese characters,
 * - letters whose upper and lower case look alike, read as capitals inside a
 *   lower-case word (`seVeral` → `several`), and a lower-case l inside a
 *   word in capitals (`POlSON` → `POISON`).
 */
export function cleanValue(text: string): string {
  return text
    .replace(/(\p{Script=Han})\s+(?=[\p{Script=Han}，。、：；！？（）])/gu, '$1')
    .replace(/(\p{Script=Han}|）)\s*([:;,!?])/gu, (_m, before: string, p: string) => before + FULL_WIDTH[p]!)
    .replace(/(\p{Script=Han})\s*\(/gu, '$1（')
    .replace(/(\p{Script=Han})\)/gu, '$1）')
    .replace(/(?<=[a-z])[CKOPSUVWXZ](?=[a-z])/g, (c) => c.toLowerCase())
    // An l between capitals is an I (`POlSON`).
    .replace(/(?<=[A-Z])l(?=[A-Z])/g, 'I')
    .replace(/\s+/g, ' ')
    .trim();
}

const FULL_WIDTH: Record<string, string> = { ':': '：', ';': '；', ',': '，', '!': '！', '?': '？' };

function isFullWidthPunct(c: string): boolean {
  return /[，。、：；！？（）【】「」]/.test(c);
}

/**
 * OCR often loses a final full stop. When most statements of a section end
 * with one, the others surely did too: add `。` (Chinese) or `.`.
 */
function completeTerminators(texts: string[]): string[] {
  const ended = texts.filter((t) => /[。.!！]$/.test(t)).length;
  if (texts.length < 2 || ended * 2 < texts.length) return texts;
  return texts.map((t) => {
    if (!/[\p{L}\p{N}）)]$/u.test(t)) return t;
    return t + (HAN.test(t) ? '。' : '.');
  });
}
