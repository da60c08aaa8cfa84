/** The live page's view of the agent: its own state joined with the inventory and the pipeline's figures. */
import type { InventoryView } from '../docker/inventory.js';
import type { LivePage } from './live-page.js';
import { pipelineView, type PipelineSources } from './pipeline-view.js';
import type { LivePageView } from './routes.js';

export function livePageView(page: LivePage, inventory: InventoryView, pipeline: PipelineSources): LivePageView {
  return {
    containers: (since, epoch) => page.containers(inventory.list(), since, epoch),
    pipeline: () => pipelineView(pipeline),
    followEvents: (client) => page.followEvents(client),
    followTail: (containerId, client) => {
      if (!inventory.get(containerId)) return false;
      page.tail.follow(containerId, client);
      return true;
    },
    knowsContainer: (containerId) => inventory.get(containerId) !== undefined,
    closeStreams: () => page.close(),
  };
}
