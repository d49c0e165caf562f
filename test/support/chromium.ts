/**
 * A headless Chromium for tests that check what a person would see in a
 * page. Found on PATH (`chromium`, `chromium-browser`, `google-chrome`,
 * `google-chrome-stable`), at /usr/bin/chromium, or at `FIELDLENS_CHROMIUM`.
 *
 * Where it is absent, {@link findOrInstallChromium} installs Debian's
 * package once, but only as root and only in CI or when
 * `FIELDLENS_INSTALL_CHROMIUM=1` asks for it; otherwise the caller skips
 * and says how to install it.
 */
import { execFile, spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The command that installs it on Debian and Ubuntu. */
export const CHROMIUM_INSTALL = 'apt-get update && apt-get install -y chromium';

const NAMES = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable'];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The Chromium executable, or `undefined` when there is none. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.FIELDLENS_CHROMIUM) return executable(env.FIELDLENS_CHROMIUM) ? env.FIELDLENS_CHROMIUM : undefined;
  const dirs = (env.PATH ?? '').split(delimiter).filter(Boolean);
  for (const name of NAMES) {
    for (const dir of dirs) if (executable(join(dir, name))) return join(dir, name);
  }
  return executable('/usr/bin/chromium') ? '/usr/bin/chromium' : undefined;
}

const isRoot = (): boolean => process.getuid?.() === 0;

/**
 * Chromium, installing it first when allowed (root, and `CI` or
 * `FIELDLENS_INSTALL_CHROMIUM=1`). Returns why it is missing otherwise.
 */
export function findOrInstallChromium(env: NodeJS.ProcessEnv = process.env): { path: string } | { missing: string } {
  const found = findChromium(env);
  if (found) return { path: found };
  const allowed = isRoot() && (Boolean(env.CI) || env.FIELDLENS_INSTALL_CHROMIUM === '1');
  if (allowed) {
    const out = spawnSync('sh', ['-c', `${CHROMIUM_INSTALL} >/dev/null`], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 600_000 });
    const installed = findChromium(env);
    if (installed) return { path: installed };
    return { missing: `installing Chromium failed (${CHROMIUM_INSTALL}): ${out.stderr?.toString().trim().slice(-300) || `exit ${out.status}`}` };
  }
  return {
    missing:
      `no Chromium found (chromium, chromium-browser, google-chrome on PATH, /usr/bin/chromium or FIELDLENS_CHROMIUM). ` +
      `Install it with \`${CHROMIUM_INSTALL}\`, or run as root with CI=1 or FIELDLENS_INSTALL_CHROMIUM=1 to let the tests install it.`,
  };
}

/**
 * Opens `file` in headless Chromium, lets its scripts and image decoding run
 * (virtual time, so no wall-clock wait), and returns the DOM as the page
 * then holds it.
 */
export async function dumpDom(chromium: string, file: string): Promise<string> {
  const profile = await mkdtemp(join(tmpdir(), 'fieldlens-chromium-'));
  try {
    const args = [
      '--headless',
      '--disable-gpu',
      '--no-first-run',
      '--no-default-browser-check',
      '--disable-dev-shm-usage',
      `--user-data-dir=${profile}`,
      '--virtual-time-budget=10000',
      // Chromium refuses to run as root with its sandbox on.
      ...(isRoot() ? ['--no-sandbox'] : []),
      '--dump-dom',
      pathToFileURL(file).href,
    ];
    const { stdout } = await run(chromium, args, { maxBuffer: 256 * 1024 * 1024, timeout: 60_000 });
    return stdout;
  } finally {
    await rm(profile, { recursive: true, force: true });
  }
}
