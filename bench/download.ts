/**
 * Child process of `npm run bench`: the pure transfer of an export. Replays the requests an export
 * made (a JSON file of paths and queries, in the order the simulator saw them) with `--concurrency`
 * requests in flight, reading every body and discarding it: the time a run would take if our
 * processing cost nothing. Prints one JSON line.
 */
import { readFile } from 'node:fs/promises';
import { SIMULATOR_TOKEN } from '../functions/simulator/index.js';
import { argValue, cpuMsOf, printResult } from './process.js';
import type { DownloadRun } from './results.js';

async function main(): Promise<DownloadRun> {
  const url = argValue('url');
  const concurrency = Number(argValue('concurrency'));
  const requests = JSON.parse(await readFile(argValue('requests'), 'utf8')) as string[];
  const headers = { Authorization: `Token ${SIMULATOR_TOKEN}`, 'User-Agent': 'pluto-export-bench/download' };
  let next = 0;
  let bytes = 0;
  const worker = async () => {
    while (next < requests.length) {
      const target = requests[next++] as string;
      const response = await fetch(new URL(target, url), { headers });
      bytes += (await response.arrayBuffer()).byteLength;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  return { wallMs, requests: requests.length, bytes, cpuMs: cpuMsOf(process.cpuUsage()) };
}

printResult('bench/download.ts', main);
