import { ConfigError } from '../core/errors.js';
import { printable } from '../core/safe-text.js';
import { stderr } from './terminal.js';

/** Runs a command's main: its number is the exit code; an error is one line, 2 for configuration, else 1. */
export function runMain(main: () => Promise<number>): void {
  main().then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      // Messages may quote Pluto's text: escape sequences must not reach the terminal.
      stderr.write(`pluto-export: ${printable(message.split('\n')[0] ?? '')}\n`);
      process.exitCode = error instanceof ConfigError ? 2 : 1;
    },
  );
}
