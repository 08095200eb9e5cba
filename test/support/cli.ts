import { spawn } from 'node:child_process';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `pluto-export` as a user would, in a child process, with a controlled environment;
 * `launcher` (e.g. another user's identity) goes before the node command.
 */
export function runCli(
  args: readonly string[],
  env: Record<string, string | undefined> = {},
  launcher: readonly string[] = [],
): Promise<CliResult> {
  const command = [...launcher, process.execPath, '--import', 'tsx', 'functions/cli/main.ts', ...args];
  return new Promise((resolve, reject) => {
    const child = spawn(command[0] ?? '', command.slice(1), {
      env: { ...process.env, PLUTO_API_TOKEN: undefined, ...env, NO_COLOR: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
