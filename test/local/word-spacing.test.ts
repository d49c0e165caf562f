import { describe, expect, it } from 'vitest';
import { alignFrames, inkGaps, mayLackSpaces, restoreSpaces } from '../../local/model-server/word-spacing';
import type { FrameProbabilities, GrayImage, InkGap } from '../../local/model-server/word-spacing';

/**
 * A line crop drawn from a column pattern: `#` an inked column, `.` a blank
 * one, `:` a column whose darkest pixel is half-way grey (an anti-aliased
 * edge). Ink fills the middle rows; paper and ink colours are parameters.
 */
function crop(pattern: string, { paper = 250, ink = 10, height = 12 } = {}): GrayImage {
  const width = pattern.length;
  const data = new Uint8Array(width * height).fill(paper);
  [...pattern].forEach((c, x) => {
    if (c === '.') return;
    const value = c === '#' ? ink : Math.round((paper + ink) / 2);
    for (let y = 3; y < height - 3; y++) data[y * width + x] = value;
  });
  return { width, height, data };
}

/** Frame probabilities whose most likely class per frame is `path` (0 = blank), at 0.9. */
function frames(path: readonly number[], classes: number, extra: Record<number, Record<number, number>> = {}): FrameProbabilities {
  const data = new Float32Array(path.length * classes);
  path.forEach((k, t) => {
    for (let c = 0; c < classes; c++) data[t * classes + c] = c === k ? 0.9 : 0.1 / (classes - 1);
    for (const [c, p] of Object.entries(extra[t] ?? {})) data[t * classes + Number(c)] = p;
  });
  return { frames: path.length, classes, data };
}

describe('inkGaps', () => {
  it('measures the blank runs between inked columns, edge columns counting for their blank half', () => {
    const gaps = inkGaps(crop('..##..##:...##.'));
    expect(gaps.map((g) => [g.start, g.end])).toEqual([
      [4, 6],
      [8, 12],
    ]);
    expect(gaps[0]!.width).toBeCloseTo(2, 5);
    expect(gaps[1]!.width).toBeGreaterThan(3.3);
    expect(gaps[1]!.width).toBeLessThan(3.7);
  });

  it('reads light text on a dark background the same way', () => {
    const dark = inkGaps(crop('.##...##.', { paper: 20, ink: 240 }));
    expect(dark.map((g) => [g.start, g.end, g.width])).toEqual([[3, 6, 3]]);
  });

  it('finds nothing in a crop without contrast', () => {
    expect(inkGaps(crop('.##...##.', { paper: 200, ink: 180 }))).toEqual([]);
  });
});

const gap = (start: number, width: number): InkGap => ({ start, end: start + width, width });

describe('mayLackSpaces', () => {
  const letters = [gap(10, 3), gap(30, 3), gap(50, 2), gap(70, 3), gap(90, 3)];

  it('says yes when a line shows a word gap its text has no space for', () => {
    expect(mayLackSpaces('CITRICACID', [...letters, gap(110, 8)])).toBe(true);
    expect(mayLackSpaces('Do NOTinduce', [...letters, gap(110, 9), gap(150, 8)])).toBe(true);
  });

  it('says no when every wide gap has its space, or there are none', () => {
    expect(mayLackSpaces('Do NOT induce', [...letters, gap(110, 9), gap(150, 8)])).toBe(false);
    expect(mayLackSpaces('DANGER', letters)).toBe(false);
    expect(mayLackSpaces('AB', [gap(10, 9)])).toBe(false);
  });
});

describe('alignFrames', () => {
  // Classes: 0 blank, 1 "a", 2 "b".
  it('finds the frame each character was read at, repeated letters included', () => {
    const probs = frames([0, 1, 0, 0, 1, 0, 2, 2, 0], 3);
    expect(alignFrames(probs, [1, 1, 2])).toEqual([1, 4, 6.5]);
  });

  it('spells the given text even where the most likely class per frame disagrees', () => {
    // The frames say "ab" only weakly for the second letter (blank wins at frame 3).
    const probs = frames([0, 1, 0, 0, 0], 3, { 3: { 0: 0.6, 2: 0.35 } });
    expect(alignFrames(probs, [1, 2])).toEqual([1, 3]);
  });

  it('gives up on a text longer than the frames can spell', () => {
    expect(alignFrames(frames([1, 0], 3), [1, 1])).toBeUndefined();
    expect(alignFrames(frames([], 3), [1])).toBeUndefined();
  });
});

describe('restoreSpaces', () => {
  /** One character every 2 frames of 10 px; letter gaps of 3 px between all of them. */
  function evidence(text: string, { wide = {}, space = {} }: { wide?: Record<number, number>; space?: Record<number, number> } = {}) {
    const chars = [...text];
    const gaps = chars.slice(1).map((_, k) => {
      const centre = (2 * k + 0.5) * 10 + 10; // between character k and k + 1
      const width = wide[k] ?? 3;
      return { start: centre - width / 2, end: centre + width / 2, width };
    });
    return {
      text,
      frames: chars.map((_, k) => 2 * k),
      frameWidth: 10,
      spaceProbability: (t: number) => space[t] ?? 0,
      gaps,
    };
  }

  it('puts a space where the image shows a word gap and the recogniser saw a likely space', () => {
    // Between C (index 5, frame 10) and A (index 6, frame 12).
    expect(restoreSpaces(evidence('CITRICACID', { wide: { 5: 8 }, space: { 11: 0.6 } }))).toBe('CITRIC ACID');
  });

  it('needs both: a wide gap the recogniser saw no space in, or a likely space in a letter gap, stays as it is', () => {
    expect(restoreSpaces(evidence('CITRICACID', { wide: { 5: 8 } }))).toBe('CITRICACID');
    expect(restoreSpaces(evidence('CITRICACID', { space: { 11: 0.9 } }))).toBe('CITRICACID');
  });

  it('measures word gaps by the spaces the line has: as wide takes little evidence, narrower takes more', () => {
    // "So Do NOTinduce": the printed spaces (after indices 1 and 4) are 10 px wide; T is index 8.
    const line = (width: number, p: number) =>
      restoreSpaces(evidence('So Do NOTinduce', { wide: { 1: 10, 4: 10, 8: width }, space: { 17: p } }));
    expect(line(8, 0.15)).toBe('So Do NOT induce');
    expect(line(6, 0.15)).toBe('So Do NOTinduce');
    expect(line(6, 0.4)).toBe('So Do NOT induce');
  });

  it('never puts a space next to a Chinese character, nor after a hyphen', () => {
    expect(restoreSpaces(evidence('H225高度', { wide: { 3: 9 }, space: { 7: 0.9 } }))).toBe('H225高度');
    expect(restoreSpaces(evidence('well-ventilated', { wide: { 4: 9 }, space: { 9: 0.9 } }))).toBe('well-ventilated');
  });

  it('spaces phone numbers and a colon from what follows', () => {
    expect(restoreSpaces(evidence('Tel:+1555', { wide: { 3: 8, 5: 8 }, space: { 7: 0.5, 11: 0.4 } }))).toBe('Tel: +1 555');
  });
});
