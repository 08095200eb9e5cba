/** How busy the machine was while a section ran: all processes (/proc/stat) against the bench's own. */
import { readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';

interface CpuTimes {
  readonly busy: number;
  readonly total: number;
}

/** Jiffies of all CPUs since boot; undefined where /proc/stat does not exist. */
function cpuTimes(): CpuTimes | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
    const fields = line.trim().split(/\s+/).slice(1, 9).map(Number);
    const total = fields.reduce((sum, value) => sum + value, 0);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

export interface SectionLoad {
  readonly wallMs: number;
  /** Cores kept busy on average by every process on the machine. */
  readonly machineBusyCores: number | null;
  /** Cores used on average by the bench itself (this process and the section's child). */
  readonly benchCores: number;
  /** The rest: other engineers' work. */
  readonly otherCores: number | null;
  readonly loadAverage1m: number;
}

export class LoadMeter {
  private readonly startedAt = performance.now();
  private readonly startTimes = cpuTimes();
  private readonly startCpu = process.cpuUsage();

  /** `childCpuMs`: CPU time reported by the section's child processes. */
  finish(childCpuMs = 0): SectionLoad {
    const wallMs = performance.now() - this.startedAt;
    const end = cpuTimes();
    const own = process.cpuUsage(this.startCpu);
    const benchCores = ((own.user + own.system) / 1000 + childCpuMs) / wallMs;
    const machineBusyCores =
      this.startTimes === undefined || end === undefined || end.total === this.startTimes.total
        ? null
        : ((end.busy - this.startTimes.busy) / (end.total - this.startTimes.total)) * cpus().length;
    return {
      wallMs,
      machineBusyCores,
      benchCores,
      otherCores: machineBusyCores === null ? null : Math.max(0, machineBusyCores - benchCores),
      loadAverage1m: loadavg()[0] ?? 0,
    };
  }
}
