/** Topic names and ids as the Kafka door sees them in a metadata image. */
import { ZERO_UUID } from '../../protocol/kafka/schema.js';
import type { MetadataImage } from '../cluster/image.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const idMaps = new WeakMap<MetadataImage, Map<string, string>>();

/** A topic's id as a Kafka UUID (the zero UUID for one that has none). */
export const kafkaTopicId = (id: string | undefined): string => (id && UUID.test(id) ? id : ZERO_UUID);

/** The name of the topic with this id in the image, built once per image. */
export function topicNameById(image: MetadataImage, id: string): string | undefined {
  let byId = idMaps.get(image);
  if (!byId) {
    byId = new Map();
    for (const t of image.topics.values()) byId.set(t.id, t.name);
    idMaps.set(image, byId);
  }
  return byId.get(id);
}
