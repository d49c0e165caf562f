/**
 * Checks the relative links of the project's Markdown pages the way GitHub
 * renders them: heading anchors by GitHub's slug rules, links and headings
 * inside code left alone. Pure: the caller hands in the files, so the rules
 * are unit-tested on small made-up trees and then run on the real one.
 */
import { posix } from 'node:path';

/**
 * Characters GitHub drops from a heading's text to make its anchor (the
 * github-slugger rule): every punctuation, symbol, separator, control and
 * unassigned character. Letters of any script, marks, digits, `_` and `-`
 * stay; a space becomes `-`.
 */
const SLUG_DROPS = /[\p{Pd}\p{Ps}\p{Pe}\p{Pi}\p{Pf}\p{Po}\p{S}\p{No}\p{Z}\p{Cc}\p{Cf}\p{Co}\p{Cn}]/gu;

/**
 * The anchor GitHub gives a heading, from its visible text (before the
 * `-1`, `-2` that repeated headings get; see {@link headingAnchors}).
 *
 * @example
 * ```ts
 * githubSlug('Running locally: npm start'); // 'running-locally-npm-start'
 * ```
 */
export function githubSlug(text: string): string {
  return text.toLowerCase().replace(SLUG_DROPS, (c) => (c === ' ' || c === '-' ? '-' : ''));
}

/**
 * The text with fenced code blocks and HTML comments blanked out, every
 * line break kept, so offsets and line numbers still point at the source.
 */
function blankFences(markdown: string): string {
  const lines = markdown.split('\n');
  let fence: { readonly char: string; readonly length: number } | undefined;
  const out = lines.map((line) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line);
    if (fence) {
      if (marker && marker[1]![0] === fence.char && marker[1]!.length >= fence.length && /^ {0,3}[`~]+\s*$/.test(line)) fence = undefined;
      return '';
    }
    if (marker && !(marker[1]![0] === '`' && line.slice(marker[0].length).includes('`'))) {
      fence = { char: marker[1]![0]!, length: marker[1]!.length };
      return '';
    }
    return line;
  });
  return out.join('\n').replace(/<!--[\s\S]*?-->/g, (c) => c.replace(/[^\n]/g, ' '));
}

/** Replaces each inline code span (backticks included) with `replace(content)`. */
function mapCodeSpans(text: string, replace: (content: string, span: string) => string): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const open = /`+/g;
    open.lastIndex = i;
    const o = open.exec(text);
    if (!o) break;
    const ticks = o[0];
    const close = new RegExp(`(?<!\`)${ticks}(?!\`)`, 'g');
    close.lastIndex = o.index + ticks.length;
    const c = close.exec(text);
    // A code span ends with its paragraph: a stray backtick must not swallow
    // the links of the paragraphs after it.
    const blank = /\n[ \t]*\n/g;
    blank.lastIndex = o.index;
    const paragraphEnd = blank.exec(text)?.index ?? text.length;
    if (!c || c.index > paragraphEnd) {
      out += text.slice(i, o.index + ticks.length);
      i = o.index + ticks.length;
      continue;
    }
    const span = text.slice(o.index, c.index + ticks.length);
    out += text.slice(i, o.index) + replace(text.slice(o.index + ticks.length, c.index), span);
    i = c.index + ticks.length;
  }
  return out + text.slice(i);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** What GitHub shows of a heading's Markdown: no code ticks, link targets, tags or emphasis marks. */
function visibleText(inline: string): string {
  const codes: string[] = [];
  // Code content is shown as it is: park it while the rest is stripped.
  const parked = mapCodeSpans(inline, (content) => {
    codes.push(content.length > 2 && content.startsWith(' ') && content.endsWith(' ') ? content.slice(1, -1) : content);
    return `\u0000${codes.length - 1}\u0000`;
  });
  const stripped = parked
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/!?\[([^\]]*)\]\[[^\]]*\]/g, '$1')
    .replace(/<[^>]+>/g, '')
    .replace(/(^|[^\p{L}\p{N}])(\*{1,3}|_{1,3})(?=\S)(.+?)(?<=\S)\2(?![\p{L}\p{N}])/gu, '$1$3')
    .replace(/\*+/g, '')
    .replace(/\\([!-/:-@[-`{-~])/g, '$1')
    .replace(/&(#\d+|#x[0-9a-f]+|[a-z]+);/gi, (m, name: string) => {
      if (name.startsWith('#')) {
        const n = name[1] === 'x' || name[1] === 'X' ? parseInt(name.slice(2), 16) : parseInt(name.slice(1), 10);
        return Number.isFinite(n) ? String.fromCodePoint(n) : m;
      }
      return ENTITIES[name.toLowerCase()] ?? m;
    });
  return stripped.replace(/\u0000(\d+)\u0000/g, (_, n: string) => codes[Number(n)]!).trim();
}

/** A heading: its visible text and the 1-based line it starts on. */
export interface Heading {
  readonly text: string;
  readonly line: number;
}

/** The headings of a page (ATX `#` and setext underlined), outside code blocks. */
export function headings(markdown: string): Heading[] {
  const lines = blankFences(markdown).split('\n');
  const found: Heading[] = [];
  lines.forEach((line, i) => {
    const atx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(line);
    if (atx) {
      found.push({ text: visibleText(atx[1] ?? ''), line: i + 1 });
      return;
    }
    const prev = lines[i - 1];
    if (
      /^ {0,3}(=+|-+)[ \t]*$/.test(line) &&
      prev !== undefined &&
      prev.trim() !== '' &&
      !/^ {0,3}(#|>|[-*+] |\d+[.)] |\|)/.test(prev) &&
      !/^ {0,3}(=+|-+)[ \t]*$/.test(prev)
    ) {
      found.push({ text: visibleText(prev), line: i });
    }
  });
  return found;
}

/**
 * Every anchor a page has, in order: each heading's slug, with `-1`, `-2`, …
 * for a slug already taken (as github-slugger counts them).
 */
export function headingAnchors(markdown: string): string[] {
  const taken = new Map<string, number>();
  return headings(markdown).map(({ text }) => {
    const base = githubSlug(text);
    let slug = base;
    while (taken.has(slug)) {
      const n = taken.get(base)! + 1;
      taken.set(base, n);
      slug = `${base}-${n}`;
    }
    taken.set(slug, 0);
    return slug;
  });
}

/** A link found in a page: its target as written and the line it is on. */
export interface MarkdownLink {
  readonly target: string;
  readonly line: number;
}

const INLINE_LINK =
  /!?\[((?:[^[\]\\]|\\.|\[[^\]]*\])*)\]\(\s*(<[^>\n]*>|(?:[^\s()\\]|\\.|\([^\s()]*\))*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g;
const REFERENCE_DEFINITION = /^ {0,3}\[[^\]]+\]:[ \t]*(<[^>\n]*>|\S+)/gm;

/**
 * The targets of a page's inline links, images and reference definitions,
 * outside code blocks and code spans. Link text may run over several lines.
 */
export function extractLinks(markdown: string): MarkdownLink[] {
  const text = mapCodeSpans(blankFences(markdown), (_, span) => span.replace(/[^\n]/g, ' '));
  const lineAt = (index: number): number => text.slice(0, index).split('\n').length;
  const found: Array<MarkdownLink & { readonly index: number }> = [];
  for (const m of text.matchAll(INLINE_LINK)) {
    const target = m[2]!.replace(/^<|>$/g, '');
    found.push({ target, line: lineAt(m.index), index: m.index });
  }
  for (const m of text.matchAll(REFERENCE_DEFINITION)) {
    found.push({ target: m[1]!.replace(/^<|>$/g, ''), line: lineAt(m.index), index: m.index });
  }
  return found.sort((a, b) => a.index - b.index).map(({ target, line }) => ({ target, line }));
}

/** True for links that leave the repository (`https:`, `mailto:`, any scheme) and are not checked. */
export function isExternal(target: string): boolean {
  return /^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//');
}

/** What the checker needs of the repository: what is at a path, and a page's text. */
export interface RepoFiles {
  /** `'file'`, `'dir'`, or `undefined` when nothing is there; paths are relative to the root, `/`-separated. */
  kind(path: string): 'file' | 'dir' | undefined;
  /** The text of a Markdown file that `kind` said exists. */
  read(path: string): string;
}

/** One broken link: where it is, what it says, and why it does not resolve. */
export interface LinkProblem {
  readonly file: string;
  readonly line: number;
  readonly link: string;
  readonly reason: string;
}

/** `file:line: [link] reason`, the form the tests print. */
export function formatProblem(p: LinkProblem): string {
  return `${p.file}:${p.line}: (${p.link}) ${p.reason}`;
}

/** GitHub's line anchors on source files: `#L10`, `#L10-L20`, `#L10C2-L12C5`. */
const LINE_ANCHOR = /^L\d+(C\d+)?(-L\d+(C\d+)?)?$/;

/**
 * Whether `target`, written in `fromFile`, resolves in `repo`: the file or
 * folder exists inside the repository and, for a Markdown file, the anchor
 * names one of its headings.
 *
 * @returns why not, or `undefined` when it resolves (external links always do).
 */
export function whyUnresolved(fromFile: string, target: string, repo: RepoFiles): string | undefined {
  if (isExternal(target)) return undefined;
  const hash = target.indexOf('#');
  const rawPath = (hash === -1 ? target : target.slice(0, hash)).replace(/\?.*$/, '');
  const rawAnchor = hash === -1 ? '' : target.slice(hash + 1);
  let path: string;
  let anchor: string;
  try {
    path = decodeURI(rawPath);
    anchor = decodeURIComponent(rawAnchor);
  } catch {
    return 'is not a valid URL (bad percent-encoding)';
  }
  if (path === '' && rawAnchor === '') return 'is empty';

  let resolved = fromFile;
  if (path !== '') {
    resolved = posix.normalize(path.startsWith('/') ? path.slice(1) : posix.join(posix.dirname(fromFile), path)).replace(/\/+$/, '');
    if (resolved === '..' || resolved.startsWith('../')) return `points outside the repository (${resolved})`;
    if (resolved === '.') resolved = '';
  }
  const kind = resolved === '' ? 'dir' : repo.kind(resolved);
  if (!kind) return `no such file: ${resolved}`;
  if (anchor === '') return undefined;
  if (kind === 'dir') return `has an anchor (#${anchor}) but ${resolved || 'the root'} is a folder`;
  if (!/\.(md|markdown)$/i.test(resolved)) {
    return LINE_ANCHOR.test(anchor) ? undefined : `anchor #${anchor} on ${resolved}, which has no headings (only #L<line> anchors)`;
  }
  const anchors = headingAnchors(repo.read(resolved));
  if (anchors.includes(anchor)) return undefined;
  const near = closest(anchor, anchors);
  return `no heading in ${resolved} has the anchor #${anchor}${near ? ` (closest: #${near})` : ''}`;
}

/**
 * Checks every relative link of one page.
 *
 * @returns how many links it checked (external ones not counted) and the broken ones.
 */
export function checkPage(file: string, repo: RepoFiles): { readonly checked: number; readonly problems: LinkProblem[] } {
  const links = extractLinks(repo.read(file)).filter((l) => !isExternal(l.target));
  const problems = links.flatMap(({ target, line }) => {
    const reason = whyUnresolved(file, target, repo);
    return reason ? [{ file, line, link: target, reason }] : [];
  });
  return { checked: links.length, problems };
}

/** A `docs/….md` path (with an optional `#anchor`) named in a source file. */
export interface DocMention {
  readonly path: string;
  readonly line: number;
}

/** Every `docs/<name>.md` (or `docs/<name>.md#anchor`) a source text names, as a repository-root path. */
export function docMentions(source: string): DocMention[] {
  const lines = source.split('\n');
  return lines.flatMap((text, i) =>
    [...text.matchAll(/(?<![\w./-])docs\/(?:[\w-]+\/)*[\w.-]+?\.md(?:#[\w-]+)?(?![\w])/g)].map((m) => ({ path: m[0], line: i + 1 })),
  );
}

/** The candidate nearest to `word` by edit distance, when it is near enough to be a likely rename. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: { readonly c: string; readonly d: number } | undefined;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (!best || d < best.d) best = { c, d };
  }
  return best && best.d <= Math.max(3, Math.floor(word.length / 3)) ? best.c : undefined;
}

function editDistance(a: string, b: string): number {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const next = [i];
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j]! + 1, next[j - 1]! + 1, row[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    row = next;
  }
  return row[b.length]!;
}
