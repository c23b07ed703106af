/** Metadata and DescribeCluster on the Kafka door, from the broker's metadata image. */
import { ErrorCodes, MillraceError } from '../../protocol/errors.js';
import { apis } from '../../protocol/kafka/index.js';
import { topicNameProblem } from '../../protocol/topics.js';
import { wire } from '../../protocol/wire.js';
import type { MetadataImage } from '../cluster/image.js';
import { OFFSETS_TOPIC } from '../broker/group/coordinator.js';
import { AclOperation } from '../../protocol/acl.js';
import type { Caller } from '../broker/authorizer.js';
import type { DoorContext, Routes } from './door.js';
import { parseEndpoint } from './endpoints.js';
import { kafkaTopicId, topicNameById } from './topics.js';

const ADMIN_TIMEOUT_MS = 30_000;

/** Live brokers with a Kafka listener, as Metadata and DescribeCluster list them. */
function liveEndpoints(
  image: MetadataImage,
): Array<{ nodeId: number; host: string; port: number; rack: string | null }> {
  const out = [];
  for (const b of image.brokers.values()) {
    if (b.fenced || b.shuttingDown || !b.kafkaEndpoint) continue;
    out.push({ nodeId: b.id, ...parseEndpoint(b.kafkaEndpoint), rack: b.rack });
  }
  return out;
}

/** auto.create.topics.enable: creates the topics with the broker defaults; failures are logged, not answered. */
export async function autoCreateTopics(ctx: DoorContext, names: string[]): Promise<void> {
  if (names.length === 0) return;
  try {
    const res = await ctx.controller.call(
      'create_topics',
      wire.CreateTopicsRequest,
      { topics: names.map((name) => ({ name, numPartitions: -1, replicationFactor: -1 })) },
      wire.CreateTopicsResponse,
      ADMIN_TIMEOUT_MS,
    );
    for (const r of res.results)
      if (r.errorCode && r.errorCode !== ErrorCodes.TOPIC_ALREADY_EXISTS.code)
        ctx.logger.warn({ topic: r.name, error: r.errorMessage }, 'auto-creating a topic failed');
  } catch (err) {
    ctx.logger.warn({ err, topics: names }, 'auto-creating topics failed');
  }
}

/** The unknown topics a caller may have auto-created: CREATE on the cluster or on the topic. */
export function creatableBy(ctx: DoorContext, caller: Caller, names: string[]): string[] {
  if (ctx.access.clusterAllowed(caller, AclOperation.CREATE)) return names;
  return names.filter((n) => ctx.access.topicAllowed(caller, AclOperation.CREATE, n));
}

export function clusterApis(routes: Routes, ctx: DoorContext): void {
  routes.add(apis.Metadata, async (req, version, _h, { caller }) => {
    // v0: an empty list means every topic; v1+: null does.
    const all = req.topics === null || (version === 0 && req.topics.length === 0);
    let image = ctx.image();
    const described = (name: string) => ctx.access.topicAllowed(caller, AclOperation.DESCRIBE, name);
    const asked = all
      ? [...image.topics.keys()]
          .sort()
          .filter(described)
          .map((name) => ({ name, id: null as string | null }))
      : req.topics!.map((t) => ({ name: t.name ?? topicNameById(image, t.topicId) ?? null, id: t.topicId }));
    const create = creatableBy(
      ctx,
      caller,
      asked
        .map((t) => t.name)
        .filter((n): n is string => n !== null && !image.topics.has(n) && topicNameProblem(n) === null),
    );
    const creating = !all && ctx.autoCreateTopics && (version < 4 || req.allowAutoTopicCreation);
    if (creating && create.length > 0) {
      await autoCreateTopics(ctx, create);
      image = ctx.image();
    }
    const live = new Set(liveEndpoints(image).map((b) => b.nodeId));
    return {
      brokers: liveEndpoints(image),
      clusterId: ctx.cluster,
      controllerId: image.controller?.brokerId ?? -1,
      topics: asked.map(({ name, id }) => {
        if (name !== null && !described(name) && !create.includes(name)) {
          const refusal = ctx.access.topicRefusal(caller, AclOperation.DESCRIBE, name);
          return { errorCode: refusal.code, name, topicId: kafkaTopicId(id ?? undefined), partitions: [] };
        }
        const t = name === null ? undefined : image.topics.get(name);
        if (!t) {
          const problem = name === null ? null : topicNameProblem(name);
          const error = problem
            ? new MillraceError('INVALID_TOPIC_EXCEPTION', problem)
            : creating && name !== null && create.includes(name)
              ? new MillraceError('LEADER_NOT_AVAILABLE', `topic '${name}' is being created`)
              : name === null
                ? new MillraceError('UNKNOWN_TOPIC_ID', `no topic has id ${id}`)
                : new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
          return { errorCode: error.code, name: name ?? '', topicId: kafkaTopicId(id ?? undefined), partitions: [] };
        }
        return {
          errorCode: 0,
          name: t.name,
          topicId: kafkaTopicId(t.id),
          isInternal: t.name === OFFSETS_TOPIC,
          partitions: t.partitions.map((p) => ({
            errorCode: p.leader < 0 ? ErrorCodes.LEADER_NOT_AVAILABLE.code : 0,
            partitionIndex: p.partition,
            leaderId: p.leader,
            leaderEpoch: p.leaderEpoch,
            replicaNodes: p.replicas,
            isrNodes: p.isr,
            offlineReplicas: p.replicas.filter((r) => !live.has(r)),
          })),
        };
      }),
    };
  });

  routes.add(apis.DescribeCluster, () => {
    const image = ctx.image();
    return {
      clusterId: ctx.cluster,
      controllerId: image.controller?.brokerId ?? -1,
      brokers: liveEndpoints(image).map(({ nodeId, ...b }) => ({ brokerId: nodeId, ...b })),
    };
  });
}
