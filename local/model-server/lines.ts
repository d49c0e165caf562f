/**
 * What OCR hands to the rules: lines of text, top to bottom, each with the
 * box it was found in. Pure data, so the rules can be tested with fixtures
 * instead of images.
 */

/** An axis-aligned box in image pixels. */
export interface Box {
  readonly x: number;
  readonly y: number;
  readonly width: number;
  readonly height: number;
}

/** One line of recognised text. */
export interface OcrLine {
  readonly text: string;
  /** Mean character confidence, 0-1; absent in hand-written fixtures. */
  readonly confidence?: number;
  /** Where the line is; absent in hand-written fixtures (then order is reading order). */
  readonly box?: Box;
}

/** The box around a polygon (OCR engines report four corner points). */
export function boxOfPoints(points: readonly (readonly number[])[]): Box | undefined {
  if (points.length === 0) return undefined;
  const xs = points.map((p) => p[0] ?? 0);
  const ys = points.map((p) => p[1] ?? 0);
  const x = Math.min(...xs);
  const y = Math.min(...ys);
  return { x, y, width: Math.max(...xs) - x, height: Math.max(...ys) - y };
}

/**
 * @gutenye/ocr-node reports boxes in its detector's input, not in the image:
 * the image scaled to fit sides rounded up to multiples of 32, centred
 * between bars (sharp's `fit: 'contain'`). This maps such a box back onto
 * the image (`width` × `height`), so boxes can address its pixels.
 */
export function fromDetectorBox(box: Box, width: number, height: number): Box {
  const inputWidth = Math.max(32, Math.ceil(width / 32) * 32);
  const inputHeight = Math.max(32, Math.ceil(height / 32) * 32);
  const scale = Math.min(inputWidth / width, inputHeight / height);
  const padX = Math.floor((inputWidth - Math.round(width * scale)) / 2);
  const padY = Math.floor((inputHeight - Math.round(height * scale)) / 2);
  const x = Math.max(0, Math.round((box.x - padX) / scale));
  const y = Math.max(0, Math.round((box.y - padY) / scale));
  return {
    x,
    y,
    width: Math.min(width - x, Math.round(box.width / scale)),
    height: Math.min(height - y, Math.round(box.height / scale)),
  };
}

/**
 * Reading order: top to bottom, then left to right for lines whose vertical
 * centres are within half a line height of each other. Lines without a box
 * keep their given order.
 */
export function readingOrder(lines: readonly OcrLine[]): OcrLine[] {
  if (lines.some((l) => !l.box)) return [...lines];
  return [...lines].sort((a, b) => {
    const ba = a.box!;
    const bb = b.box!;
    const ca = ba.y + ba.height / 2;
    const cb = bb.y + bb.height / 2;
    const sameRow = Math.abs(ca - cb) < Math.min(ba.height, bb.height) / 2;
    return sameRow ? ba.x - bb.x : ca - cb;
  });
}
