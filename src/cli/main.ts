import { isAtlasError } from '../errors.ts';
import { fsError } from '../data/fs-errors.ts';
import type { Command } from './command.ts';
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

const commands: Command[] = [demoCommand, extractCommand, mapCommand, profileCommand, infoCommand, makeTinyCommand, fimCommand, similarityCommand, taskVectorCommand, fisherCommand, mriCommand, serveCommand, reportCommand];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    'latent-atlas — hidden representations of transformer language models and their geometry',
    '',
    'Usage: latent-atlas <command> [options]   (latent-atlas <command> --help for its options)',
    '',
    'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
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
  if (name === '--version') {
    const { default: pkg } = await import('../../package.json', { with: { type: 'json' } });
    console.log(pkg.version);
    return;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) {
    console.error(`latent-atlas: unknown command '${name}'\n\n${usage()}`);
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
