import { readFileSync } from 'node:fs';
import { isAtlasError } from '../errors.ts';
import { fsError } from '../data/fs-errors.ts';
import { didYouMean, type Command } from './command.ts';
import { infoCommand } from './commands/info.ts';
import { makeTinyCommand } from './commands/make-tiny.ts';
import { mriCommand } from './commands/mri.ts';
import { fimCommand } from './commands/fim.ts';
import { similarityCommand } from './commands/similarity.ts';
import { taskVectorCommand } from './commands/task-vector.ts';
import { extractCommand } from './commands/extract.ts';
import { mapCommand } from './commands/map.ts';
import { profileCommand } from './commands/profile.ts';
import { demoCommand } from './commands/demo.ts';
import { fisherCommand } from './commands/fisher.ts';
import { serveCommand } from './commands/serve.ts';
import { reportCommand } from './commands/report.ts';
import { compareCommand } from './commands/compare.ts';
import { filterCommand } from './commands/filter.ts';
import { planCommand } from './commands/plan.ts';
import { workCommand } from './commands/work.ts';
import { mergeCommand } from './commands/merge.ts';
import { queueCommand } from './commands/queue.ts';

export const commands: Command[] = [demoCommand, extractCommand, mapCommand, profileCommand, compareCommand, filterCommand, infoCommand, makeTinyCommand, fimCommand, similarityCommand, taskVectorCommand, fisherCommand, mriCommand, serveCommand, reportCommand, planCommand, workCommand, mergeCommand, queueCommand];

/** The package's version, from its package.json (two folders up from src/cli/ and from dist/cli/ alike). */
export function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'latent-atlas — hidden representations of transformer language models and their geometry',
    '',
    'Usage: latent-atlas <command> [options]   (latent-atlas <command> --help for its options)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Options: --help, --version',
    'Exit status: 0 done, 2 bad input (one line on stderr naming the file, field or flag), 1 a bug (with its stack).',
  ].join('\n');
}

/**
 * CLI entry point. Input errors (AtlasError) are printed as one line and exit with status 2; anything else
 * is a bug and is printed with its stack (status 1).
 */
export async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(packageVersion());
    return;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    const guess = didYouMean(name, commands.map((c) => c.name));
    console.error(`latent-atlas: error: unknown command '${name}' (${guess ? `did you mean '${guess}'? ` : ''}see 'latent-atlas --help')`);
    process.exitCode = 2;
    return;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    console.log(command.help);
    return;
  }
  try {
    await command.run(rest);
  } catch (caught) {
    // A disk that is full or a folder that is read-only is the user's to fix: one line, status 2.
    const e = fsError(caught);
    if (isAtlasError(e)) {
      console.error(`latent-atlas ${name}: error: ${e.message}`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}
