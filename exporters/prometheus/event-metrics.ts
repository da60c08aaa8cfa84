/** docker_events_total{type,action}: every daemon event the agent received, counted by the exporter. */
import { Counter, type Registry } from 'prom-client';
import type { EventRecord } from '../../src/records.js';

/**
 * The action as a label value with bounded cardinality: `exec_start: sh -c …` carries a command
 * line, so only its verb is kept; `health_status: unhealthy` keeps its status (a fixed set).
 */
export function actionLabel(action: string): string {
  const colon = action.indexOf(':');
  if (colon < 0) return action;
  const verb = action.slice(0, colon);
  return verb === 'health_status' ? `${verb}: ${action.slice(colon + 1).trim()}` : verb;
}

export class EventMetrics {
  private readonly total: Counter<'type' | 'action'>;
  counted = 0;

  constructor(registry: Registry) {
    this.total = new Counter({ name: 'docker_events_total', help: 'Docker daemon events, by object type and action.', labelNames: ['type', 'action'], registers: [registry] });
  }

  count(record: EventRecord): void {
    this.total.inc({ type: record.type, action: actionLabel(record.action) });
    this.counted++;
  }
}
