/**
 * The browser client: web/index.html, web/style.css and web/src/main.ts bundled by esbuild into one IIFE
 * script. The published package ships it prebuilt (scripts/build.mjs writes dist/app/client/ through
 * writePrebuiltClient), so esbuild — a devDependency — is needed only when running from the sources, where
 * the client is bundled once per process, in memory, from web/ (always current while editing).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AtlasError } from '../errors.ts';

const webDir = fileURLToPath(new URL('../../web/', import.meta.url));
/** Beside the compiled module: dist/app/client/ in the package; absent next to the sources. */
const prebuiltDir = fileURLToPath(new URL('./client/', import.meta.url));
const FILES = { html: 'index.html', css: 'style.css', js: 'app.js' } as const;

export interface ClientAssets {
  html: string;
  css: string;
  js: string;
}

/** Bundles the client from web/ (needs esbuild and the web/ sources, i.e. a checkout). */
export async function bundleClient(): Promise<ClientAssets> {
  let build: typeof import('esbuild').build;
  try {
    ({ build } = await import('esbuild'));
  } catch (e) {
    throw new AtlasError('the web client is not prebuilt and esbuild is not installed', { file: prebuiltDir, hint: "run 'npm run build' in the checkout", cause: e });
  }
  const result = await build({
    entryPoints: [join(webDir, 'src', 'main.ts')], bundle: true, write: false, format: 'iife', target: 'es2020', minify: true,
    legalComments: 'none', logLevel: 'silent',
  });
  return { html: readFileSync(join(webDir, FILES.html), 'utf8'), css: readFileSync(join(webDir, FILES.css), 'utf8'), js: result.outputFiles[0].text };
}

/** Writes the bundled client beside this module (run by the build on the compiled copy); returns the folder. */
export async function writePrebuiltClient(): Promise<string> {
  const a = await bundleClient();
  mkdirSync(prebuiltDir, { recursive: true });
  for (const [key, name] of Object.entries(FILES)) writeFileSync(join(prebuiltDir, name), a[key as keyof ClientAssets]);
  return prebuiltDir;
}

let cached: Promise<ClientAssets> | null = null;

export function clientAssets(): Promise<ClientAssets> {
  cached ??= (async () => {
    if (!existsSync(join(prebuiltDir, FILES.js))) return bundleClient();
    const read = (name: string) => readFileSync(join(prebuiltDir, name), 'utf8');
    return { html: read(FILES.html), css: read(FILES.css), js: read(FILES.js) };
  })();
  cached.catch(() => { cached = null; });
  return cached;
}
