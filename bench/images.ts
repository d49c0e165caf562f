/**
 * Images for the benchmark: a valid PNG of random pixels (any server, a real
 * model included, can decode it), a large stand-in that is only a PNG
 * signature followed by random bytes (fieldlens recognises images by their
 * magic bytes, and the test server never decodes them), and the sample labels.
 */
import { randomBytes } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32, deflateSync } from 'node:zlib';

/** An image to upload, with where it came from. */
export interface BenchImage {
  /** e.g. `noise 256×256 PNG` or `samples/zh-ethanol.png`. */
  readonly label: string;
  readonly bytes: Buffer;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function chunk(type: string, data: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])) >>> 0, 0);
  return Buffer.concat([head, data, crc]);
}

/**
 * A decodable RGB PNG of random pixels, about `approxBytes` large (noise
 * does not compress, so the file is as large as its pixels).
 */
export function noisePng(approxBytes: number): BenchImage {
  const side = Math.max(1, Math.ceil(Math.sqrt(approxBytes / 3)));
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(side, 0);
  ihdr.writeUInt32BE(side, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  const rowBytes = side * 3 + 1;
  const raw = randomBytes(rowBytes * side);
  for (let y = 0; y < side; y++) raw[y * rowBytes] = 0; // filter type "none"
  const bytes = Buffer.concat([
    PNG_SIGNATURE,
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 1 })),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  return { label: `noise ${side}×${side} PNG`, bytes };
}

/** Exactly `size` bytes: a PNG signature, then random bytes. Not decodable; enough for fieldlens and the test server. */
export function pngSignedBytes(size: number): BenchImage {
  const bytes = randomBytes(size);
  PNG_SIGNATURE.copy(bytes, 0);
  return { label: `PNG signature + random bytes`, bytes };
}

/** The sample label images in `directory` (`samples/*.png`), in name order; empty when there are none. */
export async function sampleImages(directory: string): Promise<BenchImage[]> {
  let names: string[];
  try {
    names = (await readdir(directory)).filter((n) => n.endsWith('.png')).sort();
  } catch {
    return [];
  }
  return Promise.all(
    names.map(async (n) => ({ label: `samples/${n}`, bytes: await readFile(join(directory, n)) })),
  );
}
