/**
 * The HTML report as text, without a browser: escaping, self-containment,
 * the policy that lets its own script and style run, and how each kind of
 * document and confidence is shown.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { mergeResult, rejectedResult, type DocumentFrame, type FieldOutcome } from '../../functions/core/document';
import { ErrorCode } from '../../functions/core/errors';
import { DEFAULT_LABEL_FIELDS } from '../../functions/core/fields';
import { esc, renderHtmlReport, type ReportEntry } from '../../local/report/html-report';

const PNG = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);
const FRAME: DocumentFrame = {
  source: { bucket: 'b', key: 'incoming/a.png', etag: 'e', bytes: PNG.length, contentType: 'image/png' },
  modelName: 'm',
  fingerprint: 'a'.repeat(64),
  startedAt: new Date('2026-01-02T03:04:05.000Z'),
  finishedAt: new Date('2026-01-02T03:04:06.000Z'),
};
const OPTIONS = { title: 'report', generatedAt: new Date('2026-01-02T03:05:00.000Z') };

function ok(name: string, value: unknown, extra: Partial<FieldOutcome['result']> = {}): FieldOutcome {
  return { name, value, result: { status: 'ok', attempts: 1, latencyMs: 10, ...extra } };
}

function render(...entries: ReportEntry[]): string {
  return renderHtmlReport(entries, OPTIONS);
}

describe('renderHtmlReport', () => {
  it('escapes every text from the document, so a value cannot become markup', () => {
    // Prepare
    const document = mergeResult(FRAME, [ok('name', '<script>alert("x")</script> & <b>')], { fields: [] });

    // Act
    const html = render({ name: 'a<b>.png', document, image: PNG });

    // Assess
    expect(html).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;');
    expect(html).not.toContain('<script>alert');
    expect(html).toContain('a&lt;b&gt;.png');
    expect(esc(`'"&<>`)).toBe('&#39;&quot;&amp;&lt;&gt;');
  });

  it('is self-contained: the image inline as a data URI, nothing loaded from anywhere', () => {
    const document = mergeResult(FRAME, [ok('name', 'x')], { fields: [] });

    const html = render({ name: 'a.png', document, image: PNG });

    expect(html).toContain(`src="data:image/png;base64,${PNG.toString('base64')}"`);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/@import|url\(/);
    expect(html).toMatch(/<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:;/);
  });

  it('lets exactly its own inline script and style run, by their hashes', () => {
    const html = render({ name: 'a.png', document: mergeResult(FRAME, [ok('name', 'x')], { fields: [] }) });
    const hash = (text: string) => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

    const script = /<script>([\s\S]*?)<\/script>/.exec(html)![1]!;
    const style = /<style>([\s\S]*?)<\/style>/.exec(html)![1]!;

    expect(html).toContain(`script-src ${hash(script)}`);
    expect(html).toContain(`style-src ${hash(style)}`);
    expect(html).not.toMatch(/ style="/);
  });

  it('shows an absent confidence as not asked, a null one as n/a, and a low one marked', () => {
    // Prepare
    const document = mergeResult(
      FRAME,
      [ok('name', 'x'), ok('tag', ['GHS02'], { confidence: null }), ok('risk_notice', ['H225'], { confidence: 0.3 })],
      { fields: DEFAULT_LABEL_FIELDS },
    );

    // Act
    const html = render({ name: 'a.png', document });

    // Assess
    const row = (f: string) => new RegExp(`<tr data-field="${f}"[\\s\\S]*?</tr>`).exec(html)![0];
    expect(row('name')).toContain('<td class="confidence"><span class="none" title="not asked for (MODEL_LOGPROBS)">—</span>');
    expect(row('tag')).toContain('>n/a</span>');
    expect(row('risk_notice')).toContain('<span class="low">30%</span>');
    expect(html).toContain('risk_notice: confidence 30% is under 80%');
  });

  it('shows a rejected document’s reason, no field table, and a placeholder for bytes that are not an image', () => {
    const document = rejectedResult(FRAME, { code: ErrorCode.INPUT_NOT_IMAGE, message: 'the object is not a JPEG, PNG, WebP or GIF image' });

    const html = render({ name: 'notes.txt', document, image: Buffer.from('hello') });

    expect(html).toContain('data-status="rejected" data-review="needed"');
    expect(html).toContain('rejected: the object is not a JPEG, PNG, WebP or GIF image <code>rejected:INPUT_NOT_IMAGE</code>');
    expect(html).not.toContain('<table');
    expect(html).toContain('no image to show');
  });

  it('says a document written before review flags existed has none, rather than that it needs no review', () => {
    const { review: _review, checks: _checks, ...older } = mergeResult(FRAME, [ok('name', 'x')], { fields: [] });

    const html = render({ name: 'a.png', document: older });

    expect(html).toContain('data-review="unknown"');
    expect(html).toContain('no review flag');
    expect(html).not.toContain('No review needed');
  });
});
