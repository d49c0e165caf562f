/**
 * Puts back the spaces between English words that the recogniser leaves out
 * ("CITRICACID", "offire", "+1555 0100"). Pure: the engine hands in the
 * line's pixels and the recogniser's per-frame probabilities.
 *
 * Two independent signals have to agree before a space goes in:
 * - the image: a gap in the ink between the two characters, wide compared
 *   with the gaps between letters of the same line;
 * - the recogniser: a real probability of the space token in the frames
 *   between the two characters, even though "blank" won there.
 * Where the characters sit is found by aligning the OCR text to the
 * recogniser's frames (CTC forced alignment), so the recognised text itself
 * is never changed, only spaced.
 *
 * Chinese needs none of this: lines with Chinese characters are left alone
 * by the engine, and a space is never put next to a Chinese character.
 */

/** A grayscale picture of one text line: one byte per pixel, row by row. */
export interface GrayImage {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
}

/** A run of columns without ink between two inked columns. */
export interface InkGap {
  /** First blank column (crop pixels). */
  readonly start: number;
  /** Column after the last blank one. */
  readonly end: number;
  /** The gap's width in pixels, partly inked edge columns counting for their blank part. */
  readonly width: number;
}

/** The recogniser's output for one line: `frames` × `classes` probabilities, row by row. */
export interface FrameProbabilities {
  readonly frames: number;
  readonly classes: number;
  readonly data: Float32Array;
}

/** Below this contrast between ink and paper a crop holds no readable text. */
const MIN_CONTRAST = 48;
/** A column whose darkest pixel is at least this dark (0-1) is ink. */
const INK = 0.9;

/**
 * The blank column runs between the first and the last inked column of a
 * line crop. Works for dark text on light paper and for light text on a dark
 * background: the paper is whichever side most pixels are on.
 */
export function inkGaps(crop: GrayImage): InkGap[] {
  const { width, height, data } = crop;
  if (width === 0 || height === 0) return [];
  const sorted = Uint8Array.from(data).sort();
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
  const dark = at(0.02);
  const light = at(0.98);
  if (light - dark < MIN_CONTRAST) return [];
  const median = at(0.5);
  // Paper is the majority: light paper when the median is nearer the light end.
  const lightPaper = light - median <= median - dark;
  const paper = lightPaper ? at(0.9) : at(0.1);
  const ink = lightPaper ? dark : light;
  const span = Math.abs(paper - ink) || 1;

  const column = new Float64Array(width);
  for (let x = 0; x < width; x++) {
    let max = 0;
    for (let y = 0; y < height; y++) {
      const v = data[y * width + x]!;
      const d = lightPaper ? (paper - v) / span : (v - paper) / span;
      if (d > max) max = d;
    }
    column[x] = Math.min(1, max);
  }

  const gaps: InkGap[] = [];
  let start = -1;
  let blank = 0;
  let seenInk = false;
  for (let x = 0; x < width; x++) {
    const d = column[x]!;
    if (d < INK) {
      if (start < 0) {
        start = x;
        blank = 0;
      }
      blank += 1 - Math.max(0, d);
    } else {
      if (start >= 0 && seenInk) gaps.push({ start, end: x, width: blank });
      start = -1;
      seenInk = true;
    }
  }
  return gaps;
}

function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** A word gap is at least this many times the line's typical gap (mostly gaps between letters). */
const WORD_GAP_RATIO = 1.4;

/**
 * Whether the line may have lost a space: it shows more wide gaps than the
 * text has spaces. Cheap (pixels only), so the recogniser runs again only
 * for the lines that need it.
 */
export function mayLackSpaces(text: string, gaps: readonly InkGap[]): boolean {
  if (gaps.length < 2) return false;
  const widths = gaps.map((g) => g.width).sort((a, b) => b - a);
  const typical = median(widths);
  const spaces = (text.match(/ /g) ?? []).length;
  const next = widths[spaces];
  if (next === undefined || next < WORD_GAP_RATIO * typical) return false;
  if (spaces === 0) return true;
  // The widest gaps are the spaces the text has; one almost as wide is a space it lacks.
  return next >= 0.6 * median(widths.slice(0, spaces));
}

/**
 * CTC forced alignment: the most probable frame path that spells exactly
 * `labels` (class indices, blank = 0), by Viterbi. Returns, for each label,
 * the mean frame it was read at; `undefined` when the line has too few
 * frames to spell the text.
 */
export function alignFrames(probs: FrameProbabilities, labels: readonly number[]): number[] | undefined {
  const { frames: T, classes: C, data } = probs;
  const L = labels.length;
  if (L === 0 || T === 0) return L === 0 ? [] : undefined;
  const S = 2 * L + 1;
  const label = (s: number) => (s % 2 === 0 ? 0 : labels[(s - 1) >> 1]!);
  const logp = (t: number, k: number) => Math.log(Math.max(data[t * C + k] ?? 0, 1e-12));
  let prev = new Float64Array(S).fill(-Infinity);
  prev[0] = logp(0, 0);
  prev[1] = logp(0, label(1));
  // steps[t][s]: how far back (0, 1 or 2 states) the best path to s at t came from.
  const steps: Uint8Array[] = [new Uint8Array(S)];
  for (let t = 1; t < T; t++) {
    const cur = new Float64Array(S).fill(-Infinity);
    const step = new Uint8Array(S);
    // A path can only have reached states up to 2t+1 by frame t, and must still reach the end.
    const lo = Math.max(0, S - 2 * (T - t));
    const hi = Math.min(S - 1, 2 * t + 1);
    for (let s = lo; s <= hi; s++) {
      let best = prev[s]!;
      let back = 0;
      if (s >= 1 && prev[s - 1]! > best) {
        best = prev[s - 1]!;
        back = 1;
      }
      const k = label(s);
      if (s >= 2 && k !== 0 && k !== label(s - 2) && prev[s - 2]! > best) {
        best = prev[s - 2]!;
        back = 2;
      }
      if (best === -Infinity) continue;
      cur[s] = best + logp(t, k);
      step[s] = back;
    }
    steps.push(step);
    prev = cur;
  }
  let s = prev[S - 1]! >= prev[S - 2]! ? S - 1 : S - 2;
  if (prev[s] === -Infinity) return undefined;
  const sum = new Float64Array(L);
  const count = new Uint32Array(L);
  for (let t = T - 1; t >= 0; t--) {
    if (s % 2 === 1) {
      sum[(s - 1) >> 1]! += t;
      count[(s - 1) >> 1]!++;
    }
    s -= steps[t]![s]!;
  }
  return Array.from(sum, (v, i) => v / count[i]!);
}

/** What {@link restoreSpaces} needs to know about one line. */
export interface SpacingEvidence {
  /** The recognised text. */
  readonly text: string;
  /** The frame each character of `text` (by code point) was aligned to, from {@link alignFrames}. */
  readonly frames: readonly number[];
  /** Width of one frame in crop pixels. */
  readonly frameWidth: number;
  /** The recogniser's probability of the space token, per frame. */
  readonly spaceProbability: (frame: number) => number;
  readonly gaps: readonly InkGap[];
}

/**
 * How sure the recogniser must be of a space it did not write: a little
 * when the gap is as wide as the line's other word gaps, more when it is
 * narrower.
 */
const SPACE_PROBABILITY = { wideGap: 0.1, narrowGap: 0.3 } as const;
/** Fractions of the line's word gap that count as wide and as narrow. */
const GAP_SHARE = { wide: 0.75, narrow: 0.5 } as const;
/** Without spaces to measure, a word gap is taken to be this many typical gaps. */
const DEFAULT_WORD_GAP = 2.2;

const HAN = /\p{Script=Han}/u;
/** A space may follow a letter, digit or closing punctuation… */
const BEFORE_SPACE = /^[\p{L}\p{N}.,:;!?%)\]]$/u;
/** …and precede a letter, digit, opening bracket or the plus of a phone number. */
const AFTER_SPACE = /^[\p{L}\p{N}(+[]$/u;

/**
 * The text with a space put between two characters where the image shows
 * a word gap and the recogniser saw a likely space. The line's own spaces
 * say how wide its word gaps are.
 */
export function restoreSpaces(evidence: SpacingEvidence): string {
  const chars = [...evidence.text];
  const { frames, frameWidth, gaps } = evidence;
  if (frames.length !== chars.length || gaps.length < 2) return evidence.text;
  const typical = median(gaps.map((g) => g.width));
  const x = frames.map((f) => (f + 0.5) * frameWidth);
  const widestBetween = (i: number, j: number): number => {
    let widest = 0;
    for (const g of gaps) {
      const centre = (g.start + g.end) / 2;
      if (centre > x[i]! && centre < x[j]! && g.width > widest) widest = g.width;
    }
    return widest;
  };

  // Neighbouring characters, skipping the spaces the text has.
  const pairs: { i: number; j: number; spaced: boolean; gap: number }[] = [];
  let prev = -1;
  chars.forEach((c, k) => {
    if (c === ' ') return;
    if (prev >= 0) pairs.push({ i: prev, j: k, spaced: k > prev + 1, gap: widestBetween(prev, k) });
    prev = k;
  });
  const known = pairs.filter((p) => p.spaced).map((p) => p.gap);
  const wordGap = known.length >= 2 ? median(known) : DEFAULT_WORD_GAP * typical;

  const insertAfter = new Set<number>();
  for (const { i, j, spaced, gap } of pairs) {
    const a = chars[i]!;
    const b = chars[j]!;
    if (spaced || !BEFORE_SPACE.test(a) || !AFTER_SPACE.test(b) || HAN.test(a) || HAN.test(b)) continue;
    if (gap < WORD_GAP_RATIO * typical || gap < 1) continue;
    let p = 0;
    for (let t = Math.floor(frames[i]!); t <= Math.ceil(frames[j]!); t++) p = Math.max(p, evidence.spaceProbability(t));
    const wide = gap >= GAP_SHARE.wide * wordGap && p >= SPACE_PROBABILITY.wideGap;
    const narrow = gap >= GAP_SHARE.narrow * wordGap && p >= SPACE_PROBABILITY.narrowGap;
    if (wide || narrow) insertAfter.add(i);
  }
  return chars.map((c, k) => (insertAfter.has(k) ? `${c} ` : c)).join('');
}
