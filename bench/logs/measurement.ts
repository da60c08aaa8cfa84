/** What one contender did with one workload. */
export interface Measurement {
  /** Who read: "docker logs (CLI)", "dockhand → file", … */
  readonly contender: string;
  /** How, in a few words (input / sink). */
  readonly detail: string;
  readonly expectedLines: number;
  /** Lines that reached the contender's counting sink. */
  readonly lines: number;
  /** Message bytes those lines hold (as the containers wrote them, newline included). */
  readonly bytes: number;
  /** Wall seconds from the contender's start until the last line was in its sink. */
  readonly seconds: number;
  /** Seconds from start until the first line was in the sink (process start, discovery, …). */
  readonly firstLineSeconds?: number;
  /** CPU seconds (user+system) of the contender's own processes. */
  readonly cpuSeconds?: number;
  readonly peakRss?: number;
  /** The daemon's CPU seconds during the measurement (its cost of serving the logs). */
  readonly daemonCpuSeconds?: number;
  /** A sink running in its own process (the Elasticsearch test server): its CPU and peak RSS. */
  readonly sinkCpuSeconds?: number;
  readonly sinkPeakRss?: number;
  /** CPU seconds every process on the machine used during the measurement (others' work shows here). */
  readonly machineBusySeconds?: number;
  readonly complete: boolean;
  /** 1-minute load average when it ended (the machine is shared). */
  readonly loadAverage?: number;
  readonly note?: string;
  /** The exact command line (with placeholders for temp paths and ids). */
  readonly command?: string;
  /** The contender's configuration file, as written. */
  readonly config?: string;
}

export const linesPerSecond = (m: Measurement) => (m.seconds > 0 ? m.lines / m.seconds : 0);
export const megabytesPerSecond = (m: Measurement) => (m.seconds > 0 ? m.bytes / 1e6 / m.seconds : 0);
/** CPU seconds per million lines; not given below 10,000 lines, where start-up cost would be all it shows. */
export const cpuPerMillion = (m: Measurement) => (m.cpuSeconds !== undefined && m.lines >= 10_000 ? (m.cpuSeconds / m.lines) * 1e6 : undefined);
