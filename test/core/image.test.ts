import { describe, expect, it } from 'vitest';
import { prepareImage, sniffImage, SNIFF_BYTES } from '../../functions/core/image';
import { JPEG_BYTES, PNG_BYTES } from './fakes';

const ascii = (s: string): number[] => [...Buffer.from(s, 'latin1')];

/** A header padded with zeros to SNIFF_BYTES. */
function head(...bytes: number[]): Uint8Array {
  const out = new Uint8Array(SNIFF_BYTES);
  out.set(bytes);
  return out;
}

describe('sniffImage', () => {
  it('recognises JPEG by FF D8 FF', () => {
    expect(sniffImage(JPEG_BYTES)).toBe('image/jpeg');
  });

  it('recognises PNG by its eight-byte signature', () => {
    expect(sniffImage(PNG_BYTES)).toBe('image/png');
  });

  it('recognises GIF87a and GIF89a', () => {
    expect(sniffImage(head(...ascii('GIF87a')))).toBe('image/gif');
    expect(sniffImage(head(...ascii('GIF89a')))).toBe('image/gif');
  });

  it('refuses a GIF-like header of another version', () => {
    expect(sniffImage(head(...ascii('GIF88a')))).toBeUndefined();
  });

  it('recognises WebP by RIFF….WEBP', () => {
    expect(sniffImage(head(...ascii('RIFF'), 0x24, 0x00, 0x00, 0x00, ...ascii('WEBPVP8 ')))).toBe('image/webp');
  });

  it('refuses a RIFF container that is not WebP (WAV)', () => {
    expect(sniffImage(head(...ascii('RIFF'), 0x24, 0x00, 0x00, 0x00, ...ascii('WAVEfmt ')))).toBeUndefined();
  });

  it('refuses text, even text that names an image', () => {
    expect(sniffImage(Buffer.from('label.jpg: a JPEG image, honest'))).toBeUndefined();
  });

  it('refuses a PDF', () => {
    expect(sniffImage(Buffer.from('%PDF-1.7\n%âãÏÓ\n', 'latin1'))).toBeUndefined();
  });

  it('refuses empty and too-short input', () => {
    expect(sniffImage(new Uint8Array(0))).toBeUndefined();
    expect(sniffImage(new Uint8Array([0xff, 0xd8]))).toBeUndefined();
    expect(sniffImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47]))).toBeUndefined();
    expect(sniffImage(Buffer.from('RIFF\0\0\0\0WEB', 'latin1'))).toBeUndefined();
  });
});

describe('prepareImage', () => {
  it('base64-encodes the bytes once into an ASCII Buffer', () => {
    // Prepare
    const bytes = Buffer.from([...PNG_BYTES, 0x00, 0xff, 0xfe, 0x7f]);

    // Act
    const image = prepareImage(bytes, 'image/png');

    // Assess
    expect(Buffer.isBuffer(image.base64)).toBe(true);
    expect(image.base64.toString('latin1')).toBe(bytes.toString('base64'));
    expect(Buffer.from(image.base64.toString('latin1'), 'base64').equals(bytes)).toBe(true);
  });

  it('records the type and the raw size, and is frozen', () => {
    const image = prepareImage(JPEG_BYTES, 'image/jpeg');

    expect(image.mime).toBe('image/jpeg');
    expect(image.bytes).toBe(JPEG_BYTES.length);
    expect(Object.isFrozen(image)).toBe(true);
  });
});
