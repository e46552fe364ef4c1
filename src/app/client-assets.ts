/**
 * The browser client: web/index.html, web/style.css and web/src/main.ts bundled by esbuild (a dependency of
 * tsx, so present wherever the CLI runs) into one IIFE script. Built once per process, in memory.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const webDir = fileURLToPath(new URL('../../web/', import.meta.url));

export interface ClientAssets {
  html: string;
  css: string;
  js: string;
}

let cached: Promise<ClientAssets> | null = null;

export function clientAssets(): Promise<ClientAssets> {
  cached ??= (async () => {
    const result = await build({
      entryPoints: [`${webDir}src/main.ts`], bundle: true, write: false, format: 'iife', target: 'es2020', minify: true,
      legalComments: 'none', logLevel: 'silent',
    });
    return { html: readFileSync(`${webDir}index.html`, 'utf8'), css: readFileSync(`${webDir}style.css`, 'utf8'), js: result.outputFiles[0].text };
  })();
  cached.catch(() => { cached = null; });
  return cached;
}
