/**
 * The committed sample images and their expected values stay in step with
 * the label definitions they are rendered from (`npx tsx samples/render.ts`).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { inferPictograms } from '../../local/model-server/pictograms';
import { imageDimensions } from '../../local/model-server/usage';
import { LABELS, expectedFields } from '../../samples/labels';

const file = (name: string) => new URL(`../../samples/${name}`, import.meta.url);

describe('sample labels', () => {
  it('has Chinese and English labels, both signal words, unique ids', () => {
    expect(LABELS.filter((l) => l.lang === 'zh').length).toBeGreaterThanOrEqual(2);
    expect(LABELS.filter((l) => l.lang === 'en').length).toBeGreaterThanOrEqual(2);
    expect(new Set(LABELS.map((l) => l.signalWord))).toEqual(new Set(['危险', '警告', 'DANGER', 'WARNING']));
    expect(new Set(LABELS.map((l) => l.id)).size).toBe(LABELS.length);
  });

  for (const label of LABELS) {
    describe(label.id, () => {
      it('has its expected values written from the definition', () => {
        expect(JSON.parse(readFileSync(file(`${label.id}.expected.json`), 'utf8'))).toEqual(expectedFields(label));
      });

      it('draws the pictograms GHS requires for its hazard statements', () => {
        expect(label.pictograms).toEqual(inferPictograms(label.hazards));
      });

      it('is a PNG of a reasonable size to commit and to send', () => {
        const png = readFileSync(file(`${label.id}.png`));
        const size = imageDimensions(png);
        expect(size?.width).toBeGreaterThanOrEqual(800);
        expect(size?.width).toBeLessThanOrEqual(1200);
        expect(png.length).toBeLessThan(300 * 1024);
      });
    });
  }
});
