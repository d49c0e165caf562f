import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import {
  checkPage,
  docMentions,
  extractLinks,
  formatProblem,
  githubSlug,
  headingAnchors,
  whyUnresolved,
  type RepoFiles,
} from '../support/markdown-links';

/** A repository held in memory: paths → text; folders are the paths' prefixes. */
function memoryRepo(files: Record<string, string>): RepoFiles {
  const dirs = new Set(Object.keys(files).flatMap((p) => p.split('/').slice(0, -1).map((_, i, parts) => parts.slice(0, i + 1).join('/'))));
  return {
    kind: (p) => (p in files ? 'file' : dirs.has(p) ? 'dir' : undefined),
    read: (p) => {
      const text = files[p];
      if (text === undefined) throw new Error(`no file ${p}`);
      return text;
    },
  };
}

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The working tree, read from disk. */
const workingTree: RepoFiles = {
  kind: (p) => {
    try {
      const s = statSync(join(ROOT, p));
      return s.isDirectory() ? 'dir' : s.isFile() ? 'file' : undefined;
    } catch {
      return undefined;
    }
  },
  read: (p) => readFileSync(join(ROOT, p), 'utf8'),
};

const docPages = (): string[] => [
  'README.md',
  ...readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];

const SOURCE_DIRS = ['functions', 'infra', 'local', 'bench'];
const SOURCE_FILE = /\.(ts|mts|cts|js|mjs|cjs|json|md|sh)$/;

function sourceFiles(dir: string): string[] {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    if (entry.name === 'node_modules' || entry.name.startsWith('.')) return [];
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.isFile() && SOURCE_FILE.test(entry.name) ? [path] : [];
  });
}

describe('githubSlug', () => {
  it.each([
    // Headings of these docs.
    ['Running it', 'running-it'],
    ['Configuration (CDK context)', 'configuration-cdk-context'],
    ['The concurrency budget: never more requests than the endpoint serves', 'the-concurrency-budget-never-more-requests-than-the-endpoint-serves'],
    ['Deleted images and `s3:ListBucket`', 'deleted-images-and-s3listbucket'],
    ['Measuring extraction: `npm run eval`', 'measuring-extraction-npm-run-eval'],
    ['1. Latency vs number of fields', '1-latency-vs-number-of-fields'],
    ["2. Throughput under the endpoint's capacity", '2-throughput-under-the-endpoints-capacity'],
    ['S3 endpoints and `npm start`', 's3-endpoints-and-npm-start'],
    // The rules themselves.
    ['MODEL_MAX_RETRIES and keep-alive', 'model_max_retries-and-keep-alive'],
    ['two  spaces', 'two--spaces'],
    ['image → document', 'image--document'],
    ['危险性说明 (hazard statements)', '危险性说明-hazard-statements'],
    ['防范说明：P 代码', '防范说明p-代码'],
    ['Étiquette générale', 'étiquette-générale'],
  ])('turns %j into %j', (heading, slug) => {
    // Prepare: the heading text. Act:
    const got = githubSlug(heading);
    // Assess:
    expect(got).toBe(slug);
  });
});

describe('headingAnchors', () => {
  it('numbers repeated headings -1, -2 in page order', () => {
    const page = '# Deploying\n## What gets deployed\ntext\n## What gets deployed\n### What gets deployed\n## What gets deployed 1\n';

    const anchors = headingAnchors(page);

    expect(anchors).toEqual(['deploying', 'what-gets-deployed', 'what-gets-deployed-1', 'what-gets-deployed-2', 'what-gets-deployed-1-1']);
  });

  it('reads the visible text: code ticks, link targets, emphasis and closing hashes go', () => {
    const page = [
      '## Running locally: `npm start`',
      '## See [the budget](deploying.md#x) **now**',
      '## _Emphasis_ but snake_case stays ##',
      '## Tom &amp; Jerry',
    ].join('\n');

    const anchors = headingAnchors(page);

    expect(anchors).toEqual(['running-locally-npm-start', 'see-the-budget-now', 'emphasis-but-snake_case-stays', 'tom--jerry']);
  });

  it('ignores "#" lines inside fenced code and counts setext headings', () => {
    const page = [
      'Intro',
      '=====',
      '```sh',
      '# The result key is the image key, plus .json.',
      '```',
      '~~~',
      '## Not a heading either',
      '~~~',
      'Second part',
      '---',
      '- a list item',
      '---',
      '#hashtag is not a heading',
    ].join('\n');

    const anchors = headingAnchors(page);

    expect(anchors).toEqual(['intro', 'second-part']);
  });
});

describe('extractLinks', () => {
  it('finds inline links, images and reference definitions with their lines, skipping code', () => {
    const page = [
      'See [Deploying](docs/deploying.md) and ![a label](samples/zh-ethanol.png "title").',
      'Inline code `[not](a-link.md)` is text; so is this:',
      '```md',
      '[inside a fence](nowhere.md)',
      '```',
      'A [link whose text',
      'runs over two lines](docs/limits.md#keys), a [same-page one](#intro)',
      'and [`code` in the text](<docs/with space.md>).',
      '',
      '[ref]: docs/operations.md#logs',
    ].join('\n');

    const links = extractLinks(page);

    expect(links).toEqual([
      { target: 'docs/deploying.md', line: 1 },
      { target: 'samples/zh-ethanol.png', line: 1 },
      { target: 'docs/limits.md#keys', line: 6 },
      { target: '#intro', line: 7 },
      { target: 'docs/with space.md', line: 8 },
      { target: 'docs/operations.md#logs', line: 10 },
    ]);
  });

  it('does not let a stray backtick hide the links of later paragraphs', () => {
    const page = 'A stray ` backtick.\n\nThen [a link](docs/x.md) and a closing ` tick.\n';

    const links = extractLinks(page);

    expect(links.map((l) => l.target)).toEqual(['docs/x.md']);
  });
});

describe('whyUnresolved', () => {
  const repo = memoryRepo({
    'README.md': '# fieldlens\n## How it works\n',
    'docs/deploying.md': '# Deploying\n## The API key\n## What gets deployed\n## What gets deployed\n',
    'docs/limits.md': '# Limits\n## Deleted images and `s3:ListBucket`\n## 危险性说明\n',
    'functions/config.ts': 'export {};\n',
  });

  it.each([
    ['README.md', 'docs/deploying.md'],
    ['README.md', 'docs/deploying.md#the-api-key'],
    ['README.md', './docs/deploying.md#what-gets-deployed-1'],
    ['README.md', '#how-it-works'],
    ['README.md', 'docs/'],
    ['docs/limits.md', '../README.md#how-it-works'],
    ['docs/limits.md', '#deleted-images-and-s3listbucket'],
    ['docs/limits.md', '#危险性说明'],
    ['docs/limits.md', `#${encodeURIComponent('危险性说明')}`],
    ['docs/limits.md', '/functions/config.ts#L1-L3'],
    ['docs/limits.md', 'https://docs.aws.amazon.com/lambda/#nothing-checked'],
    ['docs/limits.md', 'mailto:someone@example.com'],
  ])('accepts %s → %s', (from, target) => {
    const reason = whyUnresolved(from, target, repo);

    expect(reason).toBeUndefined();
  });

  it.each([
    ['README.md', 'docs/deploy.md', 'no such file: docs/deploy.md'],
    ['docs/limits.md', 'docs/deploying.md', 'no such file: docs/docs/deploying.md'],
    ['README.md', 'docs/deploying.md#the-api-keys', 'no heading in docs/deploying.md has the anchor #the-api-keys (closest: #the-api-key)'],
    ['README.md', '#how-it-work', 'no heading in README.md has the anchor #how-it-work (closest: #how-it-works)'],
    ['README.md', 'docs/deploying.md#What-gets-deployed', 'no heading in docs/deploying.md has the anchor #What-gets-deployed (closest: #what-gets-deployed)'],
    ['README.md', 'docs/deploying.md#what-gets-deployed-2', 'no heading in docs/deploying.md has the anchor #what-gets-deployed-2 (closest: #what-gets-deployed-1)'],
    ['docs/limits.md', '../../elsewhere.md', 'points outside the repository (../elsewhere.md)'],
    ['README.md', 'docs#deploying', 'has an anchor (#deploying) but docs is a folder'],
    ['README.md', 'functions/config.ts#loadConfig', 'anchor #loadConfig on functions/config.ts, which has no headings (only #L<line> anchors)'],
  ])('rejects %s → %s: %s', (from, target, why) => {
    const reason = whyUnresolved(from, target, repo);

    expect(reason).toBe(why);
  });

  it('reports the file, the line, the link and why', () => {
    const pages = memoryRepo({ 'docs/a.md': '# A\n\nSee [b](b.md#missing) and [c](c.md).\n', 'docs/b.md': '# B\n' });

    const { checked, problems } = checkPage('docs/a.md', pages);

    expect(checked).toBe(2);
    expect(problems.map(formatProblem)).toEqual([
      'docs/a.md:3: (b.md#missing) no heading in docs/b.md has the anchor #missing',
      'docs/a.md:3: (c.md) no such file: docs/c.md',
    ]);
  });
});

describe('docMentions', () => {
  it('finds docs/<name>.md paths, with an anchor when there is one, and their lines', () => {
    const source = [
      '/**',
      ' * see docs/stepfunctions.md). Also docs/operations.md#logs, and',
      " * 'Other settings: see docs/configuration.md (FIELDS, …)'",
      ' * but not mydocs/x.md, ../docs/relative.md or docs/page.mdx',
      ' */',
    ].join('\n');

    const mentions = docMentions(source);

    expect(mentions).toEqual([
      { path: 'docs/stepfunctions.md', line: 2 },
      { path: 'docs/operations.md#logs', line: 2 },
      { path: 'docs/configuration.md', line: 3 },
    ]);
  });
});

describe('the documentation', () => {
  it('resolves every relative link and anchor in README.md and docs/*.md', () => {
    // Prepare
    const pages = docPages();

    // Act
    const results = pages.map((page) => checkPage(page, workingTree));

    // Assess: enough links were found for the check to mean something, and none is broken.
    expect(pages.length).toBeGreaterThan(5);
    expect(results.reduce((n, r) => n + r.checked, 0)).toBeGreaterThan(40);
    expect(results.flatMap((r) => r.problems).map(formatProblem)).toEqual([]);
  });

  it('resolves every docs/<name>.md that functions/, infra/, local/ and bench/ name', () => {
    const files = SOURCE_DIRS.flatMap(sourceFiles);

    const mentions = files.flatMap((file) =>
      docMentions(readFileSync(join(ROOT, file), 'utf8')).map((m) => ({ file, ...m })),
    );
    const problems = mentions.flatMap(({ file, line, path }) => {
      const reason = whyUnresolved(file, `/${path}`, workingTree);
      return reason ? [formatProblem({ file, line, link: path, reason })] : [];
    });

    expect(mentions.map((m) => m.path)).toContain('docs/stepfunctions.md');
    expect(problems).toEqual([]);
  });

  it('links every docs page from the README', () => {
    const readme = workingTree.read('README.md');

    const linked = new Set(
      extractLinks(readme)
        .map((l) => l.target.split('#')[0]!)
        .filter((t) => t.startsWith('docs/')),
    );
    const orphans = docPages().filter((p) => p !== 'README.md' && !linked.has(p));

    expect(linked.size).toBeGreaterThan(0);
    expect(orphans).toEqual([]);
  });
});
