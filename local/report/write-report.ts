/**
 * Writes the HTML report of `npm start` and `npm run eval`: reads each
 * image from disk, renders the page (`html-report.ts`) and writes it.
 * Also builds eval's documents, which come from the fan-out without the
 * handler, with the same merge the pipeline writes, so the report shows
 * the checks and review flag a deployed run would record.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { mergeResult, type FieldOutcome, type ResultDocument } from '../../functions/core/document';
import type { ImageMime } from '../../functions/core/ports';
import type { PipelineSettings } from '../../functions/core/settings';
import { renderHtmlReport, type ReportEntry } from './html-report';

/** One image on disk and its document. */
export interface ReportSource {
  readonly imagePath: string;
  readonly document: ResultDocument;
  /** Eval: the expected values. */
  readonly expected?: Readonly<Record<string, unknown>>;
  /** Where the document is stored, when it is. */
  readonly location?: string;
}

export interface WriteReportOptions {
  readonly title: string;
  readonly subtitle?: string;
  /** @default now */
  readonly generatedAt?: Date;
}

/**
 * Renders the report for `sources` and writes it to `file` (its folder is
 * created). An image that cannot be read is shown as missing.
 *
 * @returns the absolute path of the written file.
 */
export async function writeHtmlReport(file: string, sources: readonly ReportSource[], options: WriteReportOptions): Promise<string> {
  const entries: ReportEntry[] = await Promise.all(
    sources.map(async (s) => {
      const image = await readFile(s.imagePath).catch(() => undefined);
      return {
        name: path.basename(s.imagePath),
        document: s.document,
        ...(image ? { image } : {}),
        ...(s.expected ? { expected: s.expected } : {}),
        ...(s.location ? { location: s.location } : {}),
      };
    }),
  );
  const html = renderHtmlReport(entries, { title: options.title, generatedAt: options.generatedAt ?? new Date(), ...(options.subtitle ? { subtitle: options.subtitle } : {}) });
  const out = path.resolve(file);
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, html);
  return out;
}

/** What eval knows about one image after its fan-out. */
export interface EvalRun {
  /** The image's path as eval prints it. */
  readonly key: string;
  readonly bytes: number;
  readonly mime: ImageMime;
  readonly outcomes: readonly FieldOutcome[];
  readonly settings: PipelineSettings;
  readonly modelName: string;
  readonly durationMs: number;
}

/** The document the pipeline would write for eval's outcomes (source bucket `local`, no ETag). */
export function evalDocument(run: EvalRun): ResultDocument {
  const finishedAt = new Date();
  return mergeResult(
    {
      source: { bucket: 'local', key: run.key, etag: '', bytes: run.bytes, contentType: run.mime },
      modelName: run.modelName,
      fingerprint: run.settings.fingerprint,
      startedAt: new Date(finishedAt.getTime() - run.durationMs),
      finishedAt,
    },
    run.outcomes,
    run.settings,
  );
}
