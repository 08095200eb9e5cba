/**
 * Child process of `npm run bench`: the pure transfer of an export. Replays the requests an export
 * made and Pluto answered (bench/requests.ts: path and query, whether it carried the token, the
 * body bytes that arrived) with `--concurrency` requests in flight: each request as the export sent it (the token
 * to the API, none to a signed URL), its body read as far as the export read it and discarded.
 * The time a run would take if our processing cost nothing. Prints one JSON line.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { SIMULATOR_TOKEN } from '../functions/simulator/index.js';
import { argValue, cpuMsOf, printResult } from './process.js';
import { madeRequestSchema } from './requests.js';
import type { DownloadRun } from './results.js';

const replayed = z.object({
  requests: z.array(madeRequestSchema.pick({ path: true, authorized: true, bytes: true, answered: true })),
});

/** Reads the body until `bytes` have arrived (all of it when the export read it whole), then stops. */
async function readAsFarAs(response: Response, bytes: number): Promise<number> {
  const reader = response.body?.getReader();
  if (reader === undefined) return 0;
  let read = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return read;
    read += value.byteLength;
    if (read >= bytes) {
      await reader.cancel();
      return read;
    }
  }
}

async function main(): Promise<DownloadRun> {
  const url = argValue('url');
  const concurrency = Number(argValue('concurrency'));
  const made = replayed.parse(JSON.parse(await readFile(argValue('requests'), 'utf8')));
  const requests = made.requests.filter((request) => request.answered);
  const userAgent = { 'User-Agent': 'pluto-export-bench/download' };
  const authorized = { ...userAgent, Authorization: `Token ${SIMULATOR_TOKEN}` };
  let next = 0;
  let bytes = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++] as (typeof requests)[number];
      const response = await fetch(new URL(request.path, url), {
        headers: request.authorized ? authorized : userAgent,
      });
      const read = await readAsFarAs(response, request.bytes);
      bytes += read;
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const wallMs = performance.now() - started;
  return { wallMs, requests: requests.length, bytes, cpuMs: cpuMsOf(process.cpuUsage()) };
}

printResult('bench/download.ts', main);
