/** The log collector's self-metrics (`dockhand_logs_*`). Per-container series are labelled by container name. */
import type { Counter, Gauge } from 'prom-client';
import type { SelfMetrics } from '../../src/telemetry/metrics.js';

export class LogsMetrics {
  readonly lines: Counter<'container' | 'stream'>;
  readonly bytes: Counter<'container' | 'stream'>;
  readonly partialMerges: Counter<'container'>;
  readonly truncated: Counter<'container'>;
  readonly invalidUtf8: Counter<'container' | 'replaced_by'>;
  readonly replaySkipped: Counter<'container'>;
  readonly multilineRecords: Counter<'container'>;
  readonly streamsOpen: Gauge;
  readonly resumes: Counter<'reason'>;
  readonly lag: Gauge<'container'>;
  readonly containers: Gauge;

  constructor(metrics: SelfMetrics, lagCollect: (gauge: Gauge<'container'>) => void, followed: () => number) {
    this.lines = metrics.counter('dockhand_logs_lines_total', 'Log lines read and emitted, per container and stream.', ['container', 'stream']);
    this.bytes = metrics.counter('dockhand_logs_bytes_total', 'Bytes of log lines read and emitted (content without line endings), per container and stream.', ['container', 'stream']);
    this.partialMerges = metrics.counter('dockhand_logs_partial_merges_total', 'Lines put back together from the daemon\'s 16 KiB pieces.', ['container']);
    this.truncated = metrics.counter('dockhand_logs_truncated_total', 'Lines cut at max_line_bytes.', ['container']);
    this.invalidUtf8 = metrics.counter('dockhand_logs_invalid_utf8_total',
      'Lines with invalid UTF-8 replaced by U+FFFD: replaced_by="agent" when the bytes reached us raw (local, journald drivers), '
      + '"upstream" when the line arrived with U+FFFD already (the json-file driver stores JSON strings, so the daemon replaces invalid bytes itself).',
      ['container', 'replaced_by']);
    this.replaySkipped = metrics.counter('dockhand_logs_replay_skipped_total', 'Lines the daemon sent again on a resume that were already delivered (skipped).', ['container']);
    this.multilineRecords = metrics.counter('dockhand_logs_multiline_records_total', 'Records joined from more than one line.', ['container']);
    this.streamsOpen = metrics.gauge('dockhand_logs_streams_open', 'Log streams open to the daemon.');
    this.resumes = metrics.counter('dockhand_logs_resumes_total', 'Log streams opened again from a position (checkpoint at start, stream end while running, daemon reconnect).', ['reason']);
    this.lag = metrics.gauge('dockhand_logs_lag_seconds', 'Now minus the timestamp of the last acknowledged line, while lines are waiting for acknowledgement (0 when all read lines are stored).', ['container'], function collect() {
      lagCollect(this);
    });
    this.containers = metrics.gauge('dockhand_logs_containers_followed', 'Containers whose log stream is being read.', [], function collect() {
      this.set(followed());
    });
  }

  /** Drops the series of a container that is gone. */
  forget(container: string): void {
    for (const stream of ['stdout', 'stderr']) {
      this.lines.remove({ container, stream });
      this.bytes.remove({ container, stream });
    }
    for (const counter of [this.partialMerges, this.truncated, this.replaySkipped, this.multilineRecords]) counter.remove({ container });
    for (const replaced_by of ['agent', 'upstream']) this.invalidUtf8.remove({ container, replaced_by });
    this.lag.remove({ container });
  }
}

/** What one batch's lines did, counted on the hot path as plain numbers and added to the metrics once per batch. */
export class LineCounters {
  readonly lines: [number, number] = [0, 0];
  readonly bytes: [number, number] = [0, 0];
  merges = 0;
  truncated = 0;
  invalid = 0;
  replacedUpstream = 0;
  skipped = 0;
  multiline = 0;

  /** Adds the counts to the metrics under `container` and starts again from zero. */
  flush(metrics: LogsMetrics, container: string): void {
    for (const stream of [0, 1] as const) {
      if (this.lines[stream] === 0) continue;
      const labels = { container, stream: stream === 0 ? 'stdout' : 'stderr' };
      metrics.lines.inc(labels, this.lines[stream]);
      metrics.bytes.inc(labels, this.bytes[stream]);
      this.lines[stream] = 0;
      this.bytes[stream] = 0;
    }
    if (this.merges) metrics.partialMerges.inc({ container }, this.merges);
    if (this.truncated) metrics.truncated.inc({ container }, this.truncated);
    if (this.invalid) metrics.invalidUtf8.inc({ container, replaced_by: 'agent' }, this.invalid);
    if (this.replacedUpstream) metrics.invalidUtf8.inc({ container, replaced_by: 'upstream' }, this.replacedUpstream);
    if (this.multiline) metrics.multilineRecords.inc({ container }, this.multiline);
    if (this.skipped) metrics.replaySkipped.inc({ container }, this.skipped);
    this.merges = this.truncated = this.invalid = this.replacedUpstream = this.multiline = this.skipped = 0;
  }
}
