/**
 * Child processes and memory sampling. Sections that measure memory or a whole export run in a
 * child of their own, so the parent's heap (the encode section's data) cannot pollute them.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * Samples the process's resident set every `intervalMs` from a worker thread, which keeps
 * sampling while the main thread is busy in synchronous code (melting, Parquet encoding).
 */
export class RssSampler {
  private readonly worker: Worker;
  private readonly ready: Promise<void>;

  constructor(intervalMs = 10) {
    this.worker = new Worker(
      `const { parentPort, workerData } = require('node:worker_threads');
       let peak = process.memoryUsage.rss();
       const timer = setInterval(() => { const rss = process.memoryUsage.rss(); if (rss > peak) peak = rss; }, workerData);
       parentPort.on('message', (m) => {
         if (m === 'reset') { peak = process.memoryUsage.rss(); parentPort.postMessage(peak); }
         else if (m === 'peak') { parentPort.postMessage(Math.max(peak, process.memoryUsage.rss())); }
         else { clearInterval(timer); parentPort.close(); }
       });
       parentPort.postMessage(0);`,
      { eval: true, workerData: intervalMs },
    );
    this.ready = new Promise((resolve) => this.worker.once('message', () => resolve()));
  }

  private ask(message: 'reset' | 'peak'): Promise<number> {
    return new Promise((resolve) => {
      this.worker.once('message', (value: number) => resolve(value));
      this.worker.postMessage(message);
    });
  }

  /** Starts a new measurement; resolves with the resident set at this moment. */
  async reset(): Promise<number> {
    await this.ready;
    return this.ask('reset');
  }

  /** The highest resident set seen since the last reset. */
  peak(): Promise<number> {
    return this.ask('peak');
  }

  stop(): void {
    this.worker.postMessage('stop');
  }
}

/** Frees what can be freed before a baseline is taken (children run with --expose-gc). */
export function collectGarbage(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc !== undefined) {
    gc();
    gc();
  }
}

/**
 * Runs `bench/<script>` in a child Node.js (through tsx, with --expose-gc) and resolves with the
 * JSON object it prints as its last line of stdout. The child's stderr passes through.
 */
export function runChild<T>(
  script: string,
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<T> {
  const file = fileURLToPath(new URL(script, import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', file, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
      env: { ...process.env, ...env },
    });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      out += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) {
        reject(new Error(`${script} exited with ${code}`));
        return;
      }
      try {
        resolve(JSON.parse(last) as T);
      } catch (cause) {
        reject(new Error(`${script} printed no JSON result`, { cause }));
      }
    });
  });
}

export const cpuMsOf = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1000;

/** The value after `--name` in argv, or the fallback. */
export function argValue(name: string, fallback?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const value = i < 0 ? fallback : process.argv[i + 1];
  if (value === undefined) throw new Error(`missing --${name}`);
  return value;
}

/** A child's ending: its result as one JSON line on stdout, or its error on stderr and exit code 1. */
export function printResult<T>(script: string, main: () => Promise<T>): void {
  main().then(
    (result) => process.stdout.write(`${JSON.stringify(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`${script}: ${error instanceof Error ? (error.stack ?? error.message) : error}\n`);
      process.exitCode = 1;
    },
  );
}
