import { describe, expect, it } from 'vitest';
import { emptyImage, type MetadataImage, type TopicImage } from '../../src/cluster/image.js';
import { controllerGauges } from '../../src/metrics/controller-gauges.js';

const topic = (name: string, partitions: Array<{ leader: number; replicas: number[] }>): [string, TopicImage] => [
  name,
  {
    name,
    id: name,
    configs: {},
    partitions: partitions.map((p, partition) => ({
      ...p,
      partition,
      isr: p.replicas,
      leaderEpoch: 0,
      partitionEpoch: 0,
      topicId: name,
    })),
  },
];

describe("the active controller's gauges", () => {
  it('counts offline partitions, and per topic those not led by their preferred replica', () => {
    const image: MetadataImage = {
      ...emptyImage,
      topics: new Map([
        topic('a', [
          { leader: 1, replicas: [1, 2] },
          { leader: 2, replicas: [1, 2] },
          { leader: -1, replicas: [3] },
        ]),
        topic('b', [{ leader: 2, replicas: [2, 3] }]),
      ]),
    };
    expect(controllerGauges(image)).toEqual({
      offline: 1,
      notOnPreferredLeader: new Map([
        ['a', 1],
        ['b', 0],
      ]),
    });
  });
});
