/** Every collector type, declared explicitly (no side-effect registration). Order is start order. */
import type { CollectorFactory } from '../src/component.js';
import { eventsCollectorFactory } from './events/index.js';

export const collectorFactories: readonly CollectorFactory[] = [
  eventsCollectorFactory,
];
