import { describe, expect, it } from 'vitest';
import type { OcrLine } from '../../local/model-server/lines';
import { ImageReader } from '../../local/model-server/ocr';
import type { OcrEngine } from '../../local/model-server/ocr';

/** An engine whose runs the test finishes by hand, recording what it was asked. */
function manualEngine() {
  const calls: { image: string; resolve: (lines: OcrLine[]) => void; reject: (e: Error) => void }[] = [];
  let active = 0;
  let maxActive = 0;
  const engine: OcrEngine = {
    recognize: (image) =>
      new Promise<OcrLine[]>((resolve, reject) => {
        active++;
        maxActive = Math.max(maxActive, active);
        const done = () => void active--;
        calls.push({
          image: image.toString(),
          resolve: (l) => {
            done();
            resolve(l);
          },
          reject: (e) => {
            done();
            reject(e);
          },
        });
      }),
  };
  return { engine, calls, maxActive: () => maxActive };
}

const tick = () => new Promise((r) => setImmediate(r));
const lines = (name: string): OcrLine[] => [{ text: name }, { text: 'DANGER' }];

describe('ImageReader', () => {
  it('runs OCR once for concurrent requests of one image and reads the label once', async () => {
    const { engine, calls } = manualEngine();
    const reader = new ImageReader(engine);
    const image = Buffer.from('image-a');
    const waiting = Array.from({ length: 5 }, () => reader.read(Buffer.from(image)));
    await tick();
    expect(calls).toHaveLength(1);
    calls[0]!.resolve(lines('Acetone'));
    const results = await Promise.all(waiting);
    expect(new Set(results).size).toBe(1);
    expect(results[0]!.label.name).toBe('Acetone');
    expect(results[0]!.label.signalWord).toBe('DANGER');
    expect(results[0]!.sha256).toMatch(/^[0-9a-f]{64}$/);
    // Later requests come from the cache.
    await reader.read(Buffer.from(image));
    expect(calls).toHaveLength(1);
    expect(reader.stats).toEqual({ ocrRuns: 1, hits: 5, cached: 1 });
  });

  it('reads different images one at a time', async () => {
    const { engine, calls, maxActive } = manualEngine();
    const reader = new ImageReader(engine);
    const a = reader.read(Buffer.from('a'));
    const b = reader.read(Buffer.from('b'));
    await tick();
    expect(calls.map((c) => c.image)).toEqual(['a']);
    calls[0]!.resolve(lines('A-name'));
    await a;
    await tick();
    expect(calls.map((c) => c.image)).toEqual(['a', 'b']);
    calls[1]!.resolve(lines('B-name'));
    expect((await b).label.name).toBe('B-name');
    expect(maxActive()).toBe(1);
  });

  it('gives every waiter the failure, keeps no failed entry, and goes on with the next image', async () => {
    const { engine, calls } = manualEngine();
    const reader = new ImageReader(engine);
    const first = [reader.read(Buffer.from('bad')), reader.read(Buffer.from('bad'))];
    const other = reader.read(Buffer.from('good'));
    await tick();
    calls[0]!.reject(new Error('Input buffer contains unsupported image format'));
    await expect(first[0]).rejects.toThrow('unsupported image format');
    await expect(first[1]).rejects.toThrow('unsupported image format');
    await tick();
    calls[1]!.resolve(lines('Good-name'));
    expect((await other).label.name).toBe('Good-name');
    // The failed image is tried again on the next request.
    const again = reader.read(Buffer.from('bad'));
    await tick();
    expect(calls).toHaveLength(3);
    calls[2]!.resolve(lines('Bad-name'));
    expect((await again).label.name).toBe('Bad-name');
  });

  it('keeps at most maxEntries images, dropping the least recently used', async () => {
    const runs: string[] = [];
    const engine: OcrEngine = {
      recognize: async (image) => {
        runs.push(image.toString());
        return lines(`${image.toString()}-name`);
      },
    };
    const reader = new ImageReader(engine, { maxEntries: 2 });
    await reader.read(Buffer.from('a'));
    await reader.read(Buffer.from('b'));
    await reader.read(Buffer.from('a')); // a is now the most recent
    await reader.read(Buffer.from('c')); // evicts b
    await reader.read(Buffer.from('a'));
    await reader.read(Buffer.from('b'));
    expect(runs).toEqual(['a', 'b', 'c', 'b']);
    expect(reader.stats.cached).toBe(2);
  });
});
