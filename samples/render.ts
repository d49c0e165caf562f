/**
 * Renders the sample label images from their text definitions.
 *
 *   npx tsx samples/render.ts            # writes samples/<id>.png and samples/<id>.expected.json
 *   npx tsx samples/render.ts --check    # fails if a committed file differs from a fresh render
 *
 * The output is deterministic: the font ships in an npm package (Noto Sans SC,
 * variable, as WOFF2 subsets) instead of whatever the machine has installed, so
 * every machine draws the same pixels.
 */
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GlobalFonts, createCanvas } from '@napi-rs/canvas';
import type { SKRSContext2D } from '@napi-rs/canvas';
import { LABELS, expectedFields } from './labels';
import type { LabelDefinition } from './labels';
import { drawPictogram } from './pictogram-symbols';

const FONT = 'FieldlensSans';
const WIDTH = 1000;
const MARGIN = 64;
const TEXT_WIDTH = WIDTH - 2 * MARGIN;

const HEADINGS = {
  zh: {
    hazards: '危险性说明',
    precautions: '防范说明',
    supplier: '供应商',
    address: '地址',
    phone: '电话',
    emergency: '应急咨询电话',
    supplemental: '补充信息',
    colon: '：',
    phoneSeparator: '　　',
  },
  en: {
    hazards: 'Hazard statements',
    precautions: 'Precautionary statements',
    supplier: 'Supplier',
    address: 'Address',
    phone: 'Tel',
    emergency: 'Emergency',
    supplemental: 'Supplemental information',
    colon: ': ',
    phoneSeparator: '      ',
  },
} as const;

/**
 * Registers every WOFF2 subset of the packaged font under one family name;
 * the text shaper then finds each character in whichever subset holds it.
 */
async function registerFont(): Promise<void> {
  const require = createRequire(import.meta.url);
  const dir = path.join(path.dirname(require.resolve('@fontsource-variable/noto-sans-sc/package.json')), 'files');
  const files = (await readdir(dir)).filter((f) => f.endsWith('.woff2')).sort();
  for (const file of files) {
    if (!GlobalFonts.registerFromPath(path.join(dir, file), FONT)) {
      throw new Error(`could not load font file ${file}`);
    }
  }
}

/** One thing to draw, at an absolute y (the text's top). */
type Op =
  | { kind: 'text'; text: string; x: number; y: number; size: number; bold: boolean; color: string; align: 'left' | 'center' }
  | { kind: 'rule'; y: number }
  | { kind: 'pictograms'; y: number; size: number; codes: LabelDefinition['pictograms'] };

function font(size: number, bold: boolean): string {
  return `${bold ? 'bold ' : ''}${size}px ${FONT}`;
}

/**
 * Splits text into lines no wider than `width`. Latin words, codes such as
 * `P305+P351+P338` and numbers never break; Chinese breaks between any two
 * characters, but closing punctuation stays on the line it closes.
 */
function wrap(ctx: SKRSContext2D, text: string, width: number): string[] {
  const tokens = text.match(/[A-Za-z0-9+\-./()[\]]+[,.:;!?)]*|\s+|[^\s][。，、：；）」』！？]*/gu) ?? [];
  const lines: string[] = [];
  let line = '';
  for (const token of tokens) {
    const candidate = line + token;
    if (line.trim() !== '' && ctx.measureText(candidate.trimEnd()).width > width) {
      lines.push(line.trimEnd());
      line = token.trimStart();
    } else {
      line = candidate;
    }
  }
  if (line.trim() !== '') lines.push(line.trimEnd());
  return lines;
}

/** Lays the label out top to bottom in one column; returns the operations and the image height. */
function layout(label: LabelDefinition): { ops: Op[]; height: number } {
  const measure = createCanvas(10, 10).getContext('2d');
  const h = HEADINGS[label.lang];
  const ops: Op[] = [];
  let y = MARGIN;
  const text = (t: string, size: number, bold: boolean, opts: { align?: 'left' | 'center'; color?: string; gap?: number } = {}) => {
    measure.font = font(size, bold);
    const lineHeight = Math.round(size * 1.45);
    for (const line of wrap(measure, t, TEXT_WIDTH)) {
      const align = opts.align ?? 'left';
      ops.push({ kind: 'text', text: line, x: align === 'center' ? WIDTH / 2 : MARGIN, y, size, bold, color: opts.color ?? '#111111', align });
      y += lineHeight;
    }
    y += opts.gap ?? 0;
  };
  const rule = () => {
    y += 6;
    ops.push({ kind: 'rule', y });
    y += 22;
  };

  // A long name is set smaller so that it stays on one line.
  let nameSize = 64;
  measure.font = font(nameSize, true);
  while (nameSize > 36 && measure.measureText(label.name).width > TEXT_WIDTH) measure.font = font(--nameSize, true);
  text(label.name, nameSize, true, { align: 'center', gap: 4 });
  if (label.identifiers) text(label.identifiers, 24, false, { align: 'center', color: '#333333', gap: 16 });
  const pictogramSize = 150;
  ops.push({ kind: 'pictograms', y, size: pictogramSize, codes: label.pictograms });
  y += pictogramSize + 20;
  text(label.signalWord, 50, true, { align: 'center', gap: 4 });
  rule();

  // Compact labels run each section's statements on as one paragraph.
  const statements = (list: readonly string[]) => {
    if (label.layout === 'compact') text(list.join(label.lang === 'zh' ? '' : ' '), 26, false, { gap: 6 });
    else for (const s of list) text(s, 26, false, { gap: 6 });
  };
  text(h.hazards, 32, true, { gap: 4 });
  statements(label.hazards);
  y += 10;
  text(h.precautions, 32, true, { gap: 4 });
  if (label.layout === 'compact') {
    statements(label.precautions.flatMap((g) => g.statements));
  } else {
    for (const group of label.precautions) {
      if (group.heading) text(group.heading, 27, true, { color: '#333333' });
      statements(group.statements);
    }
  }
  if (label.supplemental) {
    y += 10;
    text(h.supplemental, 32, true, { gap: 4 });
    statements(label.supplemental);
  }
  rule();

  const s = label.supplier;
  const phone = `${label.phoneLabels?.phone ?? h.phone}${h.colon}${s.phone}`;
  const emergency = `${label.phoneLabels?.emergency ?? h.emergency}${h.colon}${s.emergencyPhone}`;
  text(`${h.supplier}${h.colon}${s.name}`, 26, false, { gap: 4 });
  text(`${h.address}${h.colon}${s.address}`, 26, false, { gap: 4 });
  if (label.phonesOnOneLine) {
    text(`${phone}${h.phoneSeparator}${emergency}`, 26, false, { gap: 4 });
  } else {
    text(phone, 26, false, { gap: 4 });
    text(emergency, 26, true, { gap: 4 });
  }
  return { ops, height: y + MARGIN - 16 };
}

/** Renders one label to PNG bytes. */
export function renderLabel(label: LabelDefinition): Buffer {
  const { ops, height } = layout(label);
  const canvas = createCanvas(WIDTH, height);
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, WIDTH, height);
  ctx.strokeStyle = '#111111';
  ctx.lineWidth = 4;
  ctx.strokeRect(24, 24, WIDTH - 48, height - 48);
  ctx.textBaseline = 'top';
  for (const op of ops) {
    if (op.kind === 'text') {
      ctx.font = font(op.size, op.bold);
      ctx.fillStyle = op.color;
      ctx.textAlign = op.align;
      ctx.fillText(op.text, op.x, op.y);
    } else if (op.kind === 'rule') {
      ctx.fillStyle = '#888888';
      ctx.fillRect(MARGIN, op.y, TEXT_WIDTH, 2);
    } else {
      const gap = 28;
      const total = op.codes.length * op.size + (op.codes.length - 1) * gap;
      op.codes.forEach((code, i) => {
        const cx = (WIDTH - total) / 2 + i * (op.size + gap) + op.size / 2;
        drawPictogram(ctx, code, cx, op.y + op.size / 2, op.size);
      });
    }
  }
  return canvas.toBuffer('image/png');
}

async function main(): Promise<void> {
  const check = process.argv.includes('--check');
  const dir = path.dirname(fileURLToPath(import.meta.url));
  await registerFont();
  const stale: string[] = [];
  for (const label of LABELS) {
    const outputs: Array<[string, Buffer]> = [
      [`${label.id}.png`, renderLabel(label)],
      [`${label.id}.expected.json`, Buffer.from(`${JSON.stringify(expectedFields(label), null, 2)}\n`)],
    ];
    for (const [name, bytes] of outputs) {
      const file = path.join(dir, name);
      if (check) {
        const current = await readFile(file).catch(() => undefined);
        if (!current || !current.equals(bytes)) stale.push(name);
      } else {
        await writeFile(file, bytes);
        console.log(`${name}  ${(bytes.length / 1024).toFixed(1)} KiB`);
      }
    }
  }
  if (check) {
    if (stale.length > 0) {
      console.error(`out of date (run npx tsx samples/render.ts): ${stale.join(', ')}`);
      process.exitCode = 1;
    } else {
      console.log(`${LABELS.length} sample labels are up to date`);
    }
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await main();
}
