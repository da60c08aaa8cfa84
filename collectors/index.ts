/** Every collector type, declared explicitly (no side-effect registration). Order is start order. */
import type { CollectorFactory } from '../src/component.js';
import { eventsCollectorFactory } from './events/index.js';
import { statsCollectorFactory } from './stats/index.js';
import { engineCollectorFactory } from './engine/index.js';
import { logsCollectorFactory } from './logs/index.js';

export const collectorFactories: readonly CollectorFactory[] = [
  eventsCollectorFactory,
  statsCollectorFactory,
  engineCollectorFactory,
  logsCollectorFactory,
];
