// Opens a page in headless Chromium (Debian's `chromium`, which CI installs): a screenshot and
// the DOM after its scripts ran. A missing browser is an error, not a skip: CI has one.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';

const BROWSERS = ['chromium', 'chromium-browser', 'google-chrome'];

/** The browser's path; throws naming what to install when there is none. */
export function chromiumPath(): string {
  for (const name of BROWSERS) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {
      // try the next name
    }
  }
  throw new Error(`no headless browser found (${BROWSERS.join(', ')}): apt-get install -y chromium`);
}

const COMMON = [
  '--headless=new',
  '--no-sandbox',
  '--disable-gpu',
  '--no-first-run',
  '--disable-extensions',
  '--window-size=1400,1000',
  '--virtual-time-budget=3000',
];

/** The page's DOM once its scripts ran, and a screenshot of it at `screenshot`. */
export function openInChromium(htmlFile: string, screenshot: string): string {
  const browser = chromiumPath();
  const url = pathToFileURL(htmlFile).href;
  mkdirSync(dirname(screenshot), { recursive: true });
  const opts = {
    encoding: 'utf8' as const,
    timeout: 30_000,
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'pipe'] as ['ignore', 'pipe', 'pipe'],
  };
  execFileSync(browser, [...COMMON, `--screenshot=${screenshot}`, url], opts);
  if (!existsSync(screenshot)) throw new Error(`${browser} wrote no screenshot of ${url}`);
  return execFileSync(browser, [...COMMON, '--dump-dom', url], opts);
}

/** What the report page's script says about itself, read from <body>'s data attributes. */
export function bodyData(dom: string): { rendered?: string; errors?: string; charts?: string } {
  const body = /<body([^>]*)>/.exec(dom)?.[1] ?? '';
  const attr = (name: string) => new RegExp(`data-${name}="([^"]*)"`).exec(body)?.[1];
  const out: { rendered?: string; errors?: string; charts?: string } = {};
  for (const k of ['rendered', 'errors', 'charts'] as const) {
    const v = attr(k);
    if (v !== undefined) out[k] = v;
  }
  return out;
}
