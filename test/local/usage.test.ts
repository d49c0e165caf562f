import { createCanvas } from '@napi-rs/canvas';
import { describe, expect, it } from 'vitest';
import { imageDimensions, imageTokens, textTokens } from '../../local/model-server/usage';

describe('imageDimensions', () => {
  const canvas = createCanvas(321, 123);
  canvas.getContext('2d').fillRect(0, 0, 10, 10);

  it('reads PNG, JPEG, WebP and GIF headers', async () => {
    expect(imageDimensions(canvas.toBuffer('image/png'))).toEqual({ width: 321, height: 123 });
    expect(imageDimensions(canvas.toBuffer('image/jpeg'))).toEqual({ width: 321, height: 123 });
    expect(imageDimensions(canvas.toBuffer('image/webp'))).toEqual({ width: 321, height: 123 });
    expect(imageDimensions(await canvas.encode('gif'))).toEqual({ width: 321, height: 123 });
  });

  it('says undefined for anything else', () => {
    expect(imageDimensions(Buffer.from('not an image at all, just text'))).toBeUndefined();
    expect(imageDimensions(Buffer.alloc(0))).toBeUndefined();
  });
});

describe('token estimates', () => {
  it('counts image tiles like high-detail vision pricing', () => {
    expect(imageTokens({ width: 512, height: 512 })).toBe(85 + 170);
    // 1000×1500 → shortest side 768 → 768×1152 → 2×3 tiles.
    expect(imageTokens({ width: 1000, height: 1500 })).toBe(85 + 170 * 6);
    expect(imageTokens(undefined)).toBe(765);
  });

  it('counts one token per Chinese character and one per four other characters', () => {
    expect(textTokens('乙醇')).toBe(2);
    expect(textTokens('Acetone!')).toBe(2);
    expect(textTokens('H225 高度易燃')).toBe(4 + 2);
  });
});
