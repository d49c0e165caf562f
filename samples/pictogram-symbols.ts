/**
 * Simplified GHS hazard pictograms for the sample labels: a red-bordered
 * diamond with a plain black symbol. They only need to look like the real
 * thing to a person; the local model never reads them (it infers pictogram
 * codes from the hazard statements).
 */
import type { SKRSContext2D } from '@napi-rs/canvas';
import type { GhsCode } from './labels';

/** Draws the pictogram `code` as a diamond of width and height `size` centred on (cx, cy). */
export function drawPictogram(ctx: SKRSContext2D, code: GhsCode, cx: number, cy: number, size: number): void {
  const r = size / 2;
  ctx.save();
  ctx.beginPath();
  ctx.moveTo(cx, cy - r);
  ctx.lineTo(cx + r, cy);
  ctx.lineTo(cx, cy + r);
  ctx.lineTo(cx - r, cy);
  ctx.closePath();
  ctx.fillStyle = '#ffffff';
  ctx.fill();
  ctx.lineJoin = 'miter';
  ctx.lineWidth = size * 0.07;
  ctx.strokeStyle = '#e30613';
  ctx.stroke();
  ctx.translate(cx, cy);
  // Symbols are drawn in a unit box of [-1, 1] scaled to the diamond's inner square.
  const s = r * 0.5;
  ctx.scale(s, s);
  ctx.fillStyle = '#000000';
  ctx.strokeStyle = '#000000';
  SYMBOLS[code](ctx);
  ctx.restore();
}

const SYMBOLS: Record<GhsCode, (ctx: SKRSContext2D) => void> = {
  GHS01: (ctx) => {
    // Exploding bomb: a ball with rays.
    ctx.beginPath();
    ctx.arc(0, 0.35, 0.45, 0, Math.PI * 2);
    ctx.fill();
    ctx.lineWidth = 0.12;
    for (let i = 0; i < 7; i++) {
      const a = Math.PI + (i * Math.PI) / 6;
      ctx.beginPath();
      ctx.moveTo(Math.cos(a) * 0.6, 0.35 + Math.sin(a) * 0.6);
      ctx.lineTo(Math.cos(a) * 1.05, 0.35 + Math.sin(a) * 1.05);
      ctx.stroke();
    }
  },
  GHS02: (ctx) => {
    flame(ctx, 0, -0.1, 1);
    ctx.fillRect(-0.75, 0.75, 1.5, 0.18);
  },
  GHS03: (ctx) => {
    flame(ctx, 0, -0.35, 0.75);
    ctx.lineWidth = 0.16;
    ctx.beginPath();
    ctx.arc(0, 0.45, 0.35, 0, Math.PI * 2);
    ctx.stroke();
    ctx.fillRect(-0.75, 0.85, 1.5, 0.12);
  },
  GHS04: (ctx) => {
    // Gas cylinder lying on its side.
    ctx.save();
    ctx.rotate(-0.35);
    roundRect(ctx, -0.85, -0.28, 1.5, 0.56, 0.28);
    ctx.fill();
    ctx.fillRect(0.6, -0.12, 0.3, 0.24);
    ctx.restore();
  },
  GHS05: (ctx) => {
    // Corrosion: two tilted tubes dripping onto a surface and a hand.
    for (const [x, angle] of [
      [-0.5, -0.9],
      [0.5, 0.9],
    ] as const) {
      ctx.save();
      ctx.translate(x, -0.55);
      ctx.rotate(angle);
      roundRect(ctx, -0.13, -0.4, 0.26, 0.8, 0.1);
      ctx.fill();
      ctx.restore();
    }
    for (const [x, y] of [
      [-0.55, 0.0],
      [-0.55, 0.25],
      [0.55, 0.0],
      [0.55, 0.25],
    ] as const) {
      ctx.beginPath();
      ctx.arc(x, y, 0.07, 0, Math.PI * 2);
      ctx.fill();
    }
    ctx.fillRect(-0.95, 0.5, 0.75, 0.2);
    ctx.beginPath();
    ctx.moveTo(0.1, 0.7);
    ctx.quadraticCurveTo(0.2, 0.45, 0.45, 0.5);
    ctx.lineTo(0.95, 0.5);
    ctx.lineTo(0.95, 0.72);
    ctx.lineTo(0.1, 0.72);
    ctx.closePath();
    ctx.fill();
    ctx.fillRect(-0.95, 0.85, 1.9, 0.1);
  },
  GHS06: (ctx) => {
    // Skull and crossbones.
    ctx.lineWidth = 0.18;
    ctx.lineCap = 'round';
    ctx.beginPath();
    ctx.moveTo(-0.8, 0.2);
    ctx.lineTo(0.8, 0.9);
    ctx.moveTo(0.8, 0.2);
    ctx.lineTo(-0.8, 0.9);
    ctx.stroke();
    ctx.beginPath();
    ctx.ellipse(0, -0.35, 0.5, 0.45, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillRect(-0.25, -0.05, 0.5, 0.35);
    ctx.fillStyle = '#ffffff';
    for (const x of [-0.2, 0.2]) {
      ctx.beginPath();
      ctx.arc(x, -0.38, 0.13, 0, Math.PI * 2);
      ctx.fill();
    }
  },
  GHS07: (ctx) => {
    // Exclamation mark, drawn as shapes.
    ctx.beginPath();
    ctx.moveTo(-0.2, -0.95);
    ctx.lineTo(0.2, -0.95);
    ctx.lineTo(0.1, 0.35);
    ctx.lineTo(-0.1, 0.35);
    ctx.closePath();
    ctx.fill();
    ctx.beginPath();
    ctx.arc(0, 0.72, 0.17, 0, Math.PI * 2);
    ctx.fill();
  },
  GHS08: (ctx) => {
    // Health hazard: head and shoulders with a burst on the chest.
    ctx.beginPath();
    ctx.arc(0, -0.7, 0.28, 0, Math.PI * 2);
    ctx.fill();
    ctx.beginPath();
    ctx.moveTo(-0.75, 0.95);
    ctx.lineTo(-0.7, -0.1);
    ctx.quadraticCurveTo(0, -0.55, 0.7, -0.1);
    ctx.lineTo(0.75, 0.95);
    ctx.closePath();
    ctx.fill();
    ctx.fillStyle = '#ffffff';
    ctx.beginPath();
    for (let i = 0; i < 16; i++) {
      const a = (i * Math.PI) / 8;
      const rr = i % 2 === 0 ? 0.42 : 0.18;
      const x = Math.cos(a) * rr;
      const y = 0.3 + Math.sin(a) * rr;
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.closePath();
    ctx.fill();
  },
  GHS09: (ctx) => {
    // Environment: a bare tree and a fish.
    ctx.lineWidth = 0.1;
    ctx.beginPath();
    ctx.moveTo(-0.5, 0.5);
    ctx.lineTo(-0.5, -0.9);
    ctx.moveTo(-0.5, -0.4);
    ctx.lineTo(-0.85, -0.75);
    ctx.moveTo(-0.5, -0.2);
    ctx.lineTo(-0.1, -0.6);
    ctx.stroke();
    ctx.beginPath();
    ctx.ellipse(0.3, 0.55, 0.45, 0.18, 0, 0, Math.PI * 2);
    ctx.fill();
    ctx.fillRect(-0.95, 0.85, 1.9, 0.1);
  },
};

function flame(ctx: SKRSContext2D, x: number, y: number, k: number): void {
  ctx.beginPath();
  ctx.moveTo(x - 0.55 * k, y + 0.75 * k);
  ctx.bezierCurveTo(x - 0.85 * k, y + 0.2 * k, x - 0.3 * k, y - 0.2 * k, x - 0.1 * k, y - 0.95 * k);
  ctx.bezierCurveTo(x + 0.15 * k, y - 0.45 * k, x + 0.35 * k, y - 0.4 * k, x + 0.3 * k, y - 0.05 * k);
  ctx.bezierCurveTo(x + 0.5 * k, y - 0.2 * k, x + 0.55 * k, y - 0.45 * k, x + 0.5 * k, y - 0.6 * k);
  ctx.bezierCurveTo(x + 0.9 * k, y - 0.1 * k, x + 0.8 * k, y + 0.5 * k, x + 0.55 * k, y + 0.75 * k);
  ctx.closePath();
  ctx.fill();
}

function roundRect(ctx: SKRSContext2D, x: number, y: number, w: number, h: number, r: number): void {
  ctx.beginPath();
  ctx.moveTo(x + r, y);
  ctx.arcTo(x + w, y, x + w, y + h, r);
  ctx.arcTo(x + w, y + h, x, y + h, r);
  ctx.arcTo(x, y + h, x, y, r);
  ctx.arcTo(x, y, x + w, y, r);
  ctx.closePath();
}
