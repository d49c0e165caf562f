import { describe, expect, it } from 'vitest';
import { fromDetectorBox, readingOrder } from '../../local/model-server/lines';

describe('fromDetectorBox', () => {
  it('undoes the detector input: scaled to sides rounded up to 32, centred between bars', () => {
    // 1000 × 1589 goes in as 1024 × 1600: scaled by 1600/1589, 8 px bars left and right.
    const scale = 1600 / 1589;
    const box = fromDetectorBox({ x: 8 + 67 * scale, y: 1242 * scale, width: 910 * scale, height: 27 * scale }, 1000, 1589);
    expect(box).toEqual({ x: 67, y: 1242, width: 910, height: 27 });
  });

  it('leaves a box alone when the image sides are already multiples of 32', () => {
    expect(fromDetectorBox({ x: 10, y: 20, width: 30, height: 40 }, 640, 320)).toEqual({ x: 10, y: 20, width: 30, height: 40 });
  });

  it('keeps the box inside the image', () => {
    expect(fromDetectorBox({ x: 0, y: 0, width: 1024, height: 40 }, 1000, 1589)).toEqual({ x: 0, y: 0, width: 1000, height: 40 });
  });
});

describe('readingOrder', () => {
  it('reads rows top to bottom and a row left to right', () => {
    const lines = [
      { text: 'B', box: { x: 300, y: 102, width: 100, height: 20 } },
      { text: 'C', box: { x: 10, y: 200, width: 100, height: 20 } },
      { text: 'A', box: { x: 10, y: 100, width: 100, height: 20 } },
    ];
    expect(readingOrder(lines).map((l) => l.text)).toEqual(['A', 'B', 'C']);
  });
});
