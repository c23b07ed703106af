/** The active controller's gauges, computed from the metadata image. */
import type { MetadataImage } from '../cluster/image.js';
import type { ControllerGauges } from './catalogue.js';

/** Offline partitions (no leader), and per topic the partitions whose leader is not their first replica. */
export function controllerGauges(image: MetadataImage): ControllerGauges {
  let offline = 0;
  const notOnPreferredLeader = new Map<string, number>();
  for (const topic of image.topics.values()) {
    let notPreferred = 0;
    for (const p of topic.partitions) {
      if (p.leader === -1) offline++;
      else if (p.leader !== p.replicas[0]) notPreferred++;
    }
    notOnPreferredLeader.set(topic.name, notPreferred);
  }
  return { offline, notOnPreferredLeader };
}
