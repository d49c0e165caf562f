/**
 * The HTML report: result documents as one page a person reads at a glance.
 * Each image is shown beside a table of its fields: the value, the
 * confidence, what the checks found (coloured by severity) and, for eval,
 * the expected value with a mismatch marker; above it, the document's
 * review flag and its reasons in words.
 *
 * Pure: documents and image bytes in, one HTML string out. The page is
 * self-contained (images inline as data URIs, style and script inline) and
 * its Content-Security-Policy forbids loading anything else, so it opens the
 * same from a laptop, an artefact store or an e-mail. Every text from a
 * document is escaped: values come from a model reading an image.
 */
import { createHash } from 'node:crypto';
import type { Finding } from '../../functions/core/checks/findings';
import type { FieldResult, ResultDocument } from '../../functions/core/document';
import { sniffImage, SNIFF_BYTES } from '../../functions/core/image';
import { scoreValue } from '../eval/score';

/** One image and its document. */
export interface ReportEntry {
  /** What the image is called on the page (its file name or key). */
  readonly name: string;
  readonly document: ResultDocument;
  /** The image's bytes; shown inline when they are JPEG, PNG, WebP or GIF. */
  readonly image?: Uint8Array;
  /** Eval: the values the image should yield, by field; only these fields are scored. */
  readonly expected?: Readonly<Record<string, unknown>>;
  /** Where the document is stored (`s3://…`), shown under the name. */
  readonly location?: string;
}

export interface ReportOptions {
  readonly title: string;
  readonly generatedAt: Date;
  /** A line under the title: the model, the folder. */
  readonly subtitle?: string;
}

/**
 * Renders the report.
 *
 * @example
 * ```ts
 * const html = renderHtmlReport([{ name: 'a.png', document, image: bytes }], { title: 'fieldlens', generatedAt: new Date() });
 * ```
 */
export function renderHtmlReport(entries: readonly ReportEntry[], options: ReportOptions): string {
  const evalMode = entries.some((e) => e.expected !== undefined);
  const sections = entries.map((e, i) => section(e, i, evalMode));
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="${CSP}">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    `<title>${esc(options.title)}</title>`,
    `<style>${STYLE}</style>`,
    '</head>',
    `<body data-mode="${evalMode ? 'eval' : 'run'}">`,
    '<header class="page">',
    `<h1>${esc(options.title)}</h1>`,
    options.subtitle ? `<p class="subtitle">${esc(options.subtitle)}</p>` : '',
    `<p class="generated">generated ${esc(options.generatedAt.toISOString())}</p>`,
    overview(entries, evalMode),
    '</header>',
    '<main>',
    ...sections,
    '</main>',
    `<script>${SCRIPT}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

/** The counts at the top and a line per image linking to its section. */
function overview(entries: readonly ReportEntry[], evalMode: boolean): string {
  const needed = entries.filter((e) => e.document.review?.needed).length;
  const sum = (k: 'errors' | 'warnings' | 'infos') => entries.reduce((n, e) => n + (e.document.checks?.summary[k] ?? 0), 0);
  const scored = evalMode ? entries.flatMap((e) => scoredFields(e)) : [];
  const stats = [
    `<span class="stat">${entries.length} image${entries.length === 1 ? '' : 's'}</span>`,
    `<span class="stat${needed > 0 ? ' stat-review' : ''}" data-role="review-count">${needed} need${needed === 1 ? 's' : ''} review</span>`,
    `<span class="stat sev-error">${sum('errors')} errors</span>`,
    `<span class="stat sev-warning">${sum('warnings')} warnings</span>`,
    `<span class="stat sev-info">${sum('infos')} infos</span>`,
    evalMode
      ? `<span class="stat" data-role="match-count">${scored.filter((s) => s.exact).length}/${scored.length} fields match</span>`
      : '',
  ];
  const rows = entries.map((e, i) => {
    const mismatches = evalMode ? scoredFields(e).filter((s) => !s.exact).length : 0;
    return (
      `<li><a href="#doc-${i + 1}">${esc(e.name)}</a> ${statusBadge(e.document)} ${reviewBadge(e.document)}` +
      (evalMode ? ` <span class="${mismatches > 0 ? 'mismatch' : 'match'}">${mismatches > 0 ? `✘ ${mismatches} mismatched` : '✔ all match'}</span>` : '') +
      '</li>'
    );
  });
  return `<p class="stats">${stats.join(' ')}</p>\n<ol class="toc">${rows.join('')}</ol>`;
}

function section(entry: ReportEntry, index: number, evalMode: boolean): string {
  const doc = entry.document;
  const review = doc.review;
  const state = review === undefined ? 'unknown' : review.needed ? 'needed' : 'clear';
  return [
    `<section class="doc" id="doc-${index + 1}" data-name="${esc(entry.name)}" data-status="${esc(doc.status)}" data-review="${state}">`,
    '<header>',
    `<h2>${esc(entry.name)}</h2> ${statusBadge(doc)} ${reviewBadge(doc)}`,
    entry.location ? `<p class="location">${esc(entry.location)}</p>` : '',
    '</header>',
    '<div class="pair">',
    figure(entry),
    '<div class="details">',
    reasons(doc),
    doc.error ? `<p class="doc-error"><code>${esc(doc.error.code)}</code> ${esc(doc.error.message)}</p>` : '',
    fieldTable(entry, evalMode),
    '</div>',
    '</div>',
    '</section>',
  ].join('\n');
}

function figure(entry: ReportEntry): string {
  const mime = entry.image ? sniffImage(entry.image.subarray(0, SNIFF_BYTES)) : undefined;
  if (!entry.image || !mime) return '<figure class="image"><p class="none">no image to show</p></figure>';
  const src = `data:${mime};base64,${Buffer.from(entry.image).toString('base64')}`;
  return `<figure class="image"><img src="${src}" alt="${esc(entry.name)}" data-role="label-image"></figure>`;
}

function statusBadge(doc: ResultDocument): string {
  return `<span class="badge status-${esc(doc.status)}">${esc(doc.status)}</span>`;
}

function reviewBadge(doc: ResultDocument): string {
  if (!doc.review) return '<span class="badge review-unknown" data-role="review-badge">no review flag</span>';
  return doc.review.needed
    ? '<span class="badge review-needed" data-role="review-badge">Review needed</span>'
    : '<span class="badge review-clear" data-role="review-badge">No review needed</span>';
}

/** The review reasons, each in words beside its stable string. */
function reasons(doc: ResultDocument): string {
  if (!doc.review || doc.review.reasons.length === 0) return '';
  const items = doc.review.reasons.map((r) => `<li data-reason="${esc(r)}">${esc(explain(r, doc))} <code>${esc(r)}</code></li>`);
  return `<ul class="reasons">${items.join('')}</ul>`;
}

function explain(reason: string, doc: ResultDocument): string {
  const [kind, ...rest] = reason.split(':');
  const field = rest.join(':');
  switch (kind) {
    case 'failed': {
      const error = doc.fieldResults[field]?.error;
      return `${field}: no value, its request failed${error ? ` (${error.code})` : ''}`;
    }
    case 'missing':
      return `${field}: required, but not found on the image`;
    case 'reask':
      return `${field}: the first answer was invalid; the value came from the re-ask`;
    case 'check': {
      const [code = '', name = ''] = rest;
      const found = doc.checks?.byField[name]?.find((f) => f.code === code);
      return `${name}: ${found ? found.message : code}`;
    }
    case 'confidence': {
      const [name = '', threshold = ''] = field.split('<');
      const c = doc.fieldResults[name]?.confidence;
      return `${name}: confidence ${typeof c === 'number' ? percent(c) : '?'} is under ${percent(Number(threshold))}`;
    }
    case 'rejected':
      return `rejected: ${doc.error?.message ?? field}`;
    default:
      return reason;
  }
}

function fieldTable(entry: ReportEntry, evalMode: boolean): string {
  const doc = entry.document;
  const names = Object.keys(doc.fieldResults);
  if (names.length === 0) return '';
  const lowConfidence = new Set((doc.review?.reasons ?? []).filter((r) => r.startsWith('confidence:')).map((r) => r.slice(11).split('<')[0]));
  const head = ['Field', 'Value', 'Confidence', 'Checks', ...(evalMode ? ['Expected', 'Match'] : [])];
  const rows = names.map((name) => {
    const result = doc.fieldResults[name]!;
    const cells = [
      `<th scope="row">${esc(name)}</th>`,
      `<td class="value">${valueCell(doc.fields[name], result)}</td>`,
      `<td class="confidence">${confidenceCell(result, lowConfidence.has(name))}</td>`,
      `<td class="checks">${checksCell(doc, name)}</td>`,
    ];
    let match = '';
    if (evalMode) {
      const scored = entry.expected && Object.hasOwn(entry.expected, name);
      if (scored) {
        const score = scoreValue(entry.expected![name], result.status === 'ok' ? doc.fields[name] : null);
        match = ` data-match="${score.exact}"`;
        cells.push(`<td class="expected">${renderValue(entry.expected![name] ?? null)}</td>`);
        cells.push(
          score.exact
            ? '<td><span class="match">✔ match</span></td>'
            : `<td><span class="mismatch" data-role="mismatch">✘ mismatch</span> <span class="similarity">similarity ${score.similarity.toFixed(3)}</span></td>`,
        );
      } else {
        cells.push('<td class="expected"><span class="none">not scored</span></td>', '<td></td>');
      }
    }
    return `<tr data-field="${esc(name)}" data-status="${result.status}"${match}>${cells.join('')}</tr>`;
  });
  return `<table class="fields"><thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

function valueCell(value: unknown, result: FieldResult): string {
  if (result.status === 'error') {
    return `<span class="field-error"><code>${esc(result.error?.code ?? 'ERROR')}</code> ${esc(result.error?.message ?? '')}</span>`;
  }
  return renderValue(value) + (result.reasked ? ' <span class="note">(re-asked)</span>' : '');
}

/** A value as a person reads it: text, a numbered list, or name: value lines. */
function renderValue(value: unknown): string {
  if (value === null || value === undefined) return '<span class="none">not on the label</span>';
  if (typeof value === 'string') return esc(value);
  if (Array.isArray(value)) {
    if (value.length === 0) return '<span class="none">none</span>';
    return `<ol>${value.map((v) => `<li>${typeof v === 'string' ? esc(v) : esc(JSON.stringify(v))}</li>`).join('')}</ol>`;
  }
  if (typeof value === 'object') {
    const rows = Object.entries(value as Record<string, unknown>).map(
      ([k, v]) => `<dt>${esc(k)}</dt><dd>${v === null || v === undefined ? '<span class="none">—</span>' : esc(typeof v === 'string' ? v : JSON.stringify(v))}</dd>`,
    );
    return `<dl>${rows.join('')}</dl>`;
  }
  return esc(JSON.stringify(value));
}

function confidenceCell(result: FieldResult, low: boolean): string {
  if (result.confidence === undefined) return '<span class="none" title="not asked for (MODEL_LOGPROBS)">—</span>';
  if (result.confidence === null) return '<span class="none" title="the endpoint sent no log-probabilities">n/a</span>';
  const c = result.confidence;
  return `<span class="${low ? 'low' : 'high'}">${percent(c)}</span> <meter min="0" max="1" value="${c}"></meter>`;
}

function checksCell(doc: ResultDocument, name: string): string {
  const findings: readonly Finding[] | undefined = doc.checks?.byField[name];
  if (findings === undefined) return '<span class="none">—</span>';
  if (findings.length === 0) return '<span class="ok">✓ nothing found</span>';
  const items = findings.map(
    (f) =>
      `<li class="finding sev-${f.severity}" data-code="${esc(f.code)}"><span class="sev">${f.severity}</span> <code>${esc(f.code)}</code> ${esc(f.message)}</li>`,
  );
  return `<ul class="findings">${items.join('')}</ul>`;
}

function scoredFields(entry: ReportEntry): { name: string; exact: boolean }[] {
  if (!entry.expected) return [];
  return Object.keys(entry.expected)
    .filter((name) => entry.document.fieldResults[name] !== undefined)
    .map((name) => {
      const r = entry.document.fieldResults[name]!;
      return { name, exact: scoreValue(entry.expected![name], r.status === 'ok' ? entry.document.fields[name] : null).exact };
    });
}

function percent(x: number): string {
  const p = x * 100;
  return `${p >= 99 && p < 100 ? p.toFixed(1) : Math.round(p)}%`;
}

/** Escapes text for HTML content and double- or single-quoted attributes. */
export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/**
 * Marks each image once it has loaded (`data-loaded`, `data-natural-width`),
 * so a headless browser's DOM dump shows whether a person would see it.
 */
const SCRIPT = `
for (const img of document.querySelectorAll('img[data-role="label-image"]')) {
  const mark = () => { img.dataset.loaded = img.naturalWidth > 0 ? 'true' : 'false'; img.dataset.naturalWidth = String(img.naturalWidth); };
  if (img.complete) mark(); else { img.addEventListener('load', mark); img.addEventListener('error', mark); }
}
`;

const STYLE = `
:root { --error: #b42318; --warning: #b54708; --info: #175cd3; --ok: #067647; --muted: #667085; --line: #eaecf0; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Noto Sans SC", sans-serif; color: #101828; margin: 0; background: #f9fafb; }
header.page { padding: 16px 24px; background: #fff; border-bottom: 1px solid var(--line); }
h1 { font-size: 20px; margin: 0 0 4px; }
.subtitle, .generated, .location { color: var(--muted); margin: 2px 0; }
.stats { margin: 10px 0 6px; }
.stat { display: inline-block; margin-right: 14px; font-weight: 600; }
.stat.sev-error { color: var(--error); } .stat.sev-warning { color: var(--warning); } .stat.sev-info { color: var(--info); }
.stat-review { color: var(--error); }
.toc { margin: 4px 0 0; padding-left: 22px; }
.toc li { margin: 2px 0; }
main { padding: 16px 24px; }
section.doc { background: #fff; border: 1px solid var(--line); border-radius: 8px; margin: 0 0 20px; padding: 14px 16px; }
section.doc[data-review="needed"] { border-left: 6px solid var(--error); }
section.doc[data-review="clear"] { border-left: 6px solid var(--ok); }
section.doc h2 { display: inline; font-size: 17px; margin: 0 8px 0 0; }
.badge { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; font-weight: 600; vertical-align: 2px; border: 1px solid transparent; }
.status-complete { background: #ecfdf3; color: var(--ok); } .status-partial { background: #fffaeb; color: var(--warning); }
.status-failed, .status-rejected { background: #fef3f2; color: var(--error); }
.review-needed { background: var(--error); color: #fff; } .review-clear { background: #ecfdf3; color: var(--ok); border-color: #abefc6; }
.review-unknown { background: #f2f4f7; color: var(--muted); }
.pair { display: flex; gap: 18px; align-items: flex-start; margin-top: 10px; }
figure.image { margin: 0; flex: 0 0 34%; max-width: 34%; position: sticky; top: 8px; }
figure.image img { width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; background: #fff; }
.details { flex: 1 1 auto; min-width: 0; }
ul.reasons { margin: 0 0 10px; padding: 8px 12px 8px 28px; background: #fef3f2; border-radius: 6px; color: #7a271a; }
ul.reasons code { color: var(--muted); font-size: 12px; }
.doc-error { color: var(--error); }
table.fields { border-collapse: collapse; width: 100%; }
table.fields td { overflow-wrap: anywhere; }
table.fields th, table.fields td { border-top: 1px solid var(--line); padding: 6px 8px; text-align: left; vertical-align: top; }
table.fields thead th { color: var(--muted); font-weight: 600; font-size: 12px; text-transform: uppercase; letter-spacing: .03em; }
table.fields tbody th { white-space: nowrap; font-family: ui-monospace, monospace; font-weight: 600; }
tr[data-match="false"] { background: #fff6ed; }
td ol { margin: 0; padding-left: 18px; } td dl { margin: 0; display: grid; grid-template-columns: max-content 1fr; gap: 0 10px; } td dt { color: var(--muted); } td dd { margin: 0; }
.none { color: var(--muted); font-style: italic; }
.note { color: var(--muted); font-size: 12px; }
.field-error { color: var(--error); }
td.confidence { white-space: nowrap; } meter { width: 60px; vertical-align: middle; }
.low { color: var(--error); font-weight: 700; } .high { color: var(--ok); }
ul.findings { list-style: none; margin: 0; padding: 0; }
.finding { margin: 0 0 4px; padding: 2px 6px; border-left: 4px solid; border-radius: 2px; }
.finding .sev { font-weight: 700; text-transform: uppercase; font-size: 11px; }
.finding.sev-error { border-color: var(--error); background: #fef3f2; } .finding.sev-error .sev { color: var(--error); }
.finding.sev-warning { border-color: var(--warning); background: #fffaeb; } .finding.sev-warning .sev { color: var(--warning); }
.finding.sev-info { border-color: var(--info); background: #eff8ff; } .finding.sev-info .sev { color: var(--info); }
.finding code { font-size: 12px; }
.ok, .match { color: var(--ok); font-weight: 600; } .mismatch { color: var(--error); font-weight: 700; }
.similarity { color: var(--muted); font-size: 12px; }
@media (max-width: 800px) { .pair { flex-direction: column; } figure.image { max-width: 100%; position: static; } }
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/** Nothing loads from anywhere: images only from data URIs, the one style and script only by their hashes. */
const CSP = [
  "default-src 'none'",
  'img-src data:',
  `style-src ${sha256(STYLE)}`,
  `script-src ${sha256(SCRIPT)}`,
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');
