/**
 * Recognising an image by its bytes (never its name or declared type) and
 * preparing it once for every field's request.
 */
import { ErrorCode, InputRejectedError } from './errors';
import type { ImageMime, ImagePayload } from './ports';

/** Bytes needed to recognise every supported format. */
export const SNIFF_BYTES = 16;

/**
 * The image format of `head` (the object's first bytes), or `undefined` when
 * it is none of JPEG, PNG, WebP or GIF.
 */
export function sniffImage(head: Uint8Array): ImageMime | undefined {
  const b = head;
  const at = (i: number, ...bytes: number[]): boolean => bytes.every((x, k) => b[i + k] === x);
  if (at(0, 0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'image/png';
  if (at(0, 0x47, 0x49, 0x46, 0x38) && (b[4] === 0x37 || b[4] === 0x39) && b[5] === 0x61) return 'image/gif';
  if (at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'image/webp';
  return undefined;
}

/**
 * Base64-encodes the image once. The returned buffer is shared by every
 * field's request body, so memory does not grow with the number of fields.
 */
export function prepareImage(bytes: Buffer, mime: ImageMime): ImagePayload {
  return Object.freeze({ mime, bytes: bytes.length, base64: Buffer.from(bytes.toString('base64'), 'latin1') });
}

/** The error when an object's bytes are not a supported image. */
export function notImageError(declared: string | undefined): InputRejectedError {
  return new InputRejectedError(
    ErrorCode.INPUT_NOT_IMAGE,
    `the object is not a JPEG, PNG, WebP or GIF image by its content${declared ? ` (declared ${declared})` : ''}`,
  );
}
