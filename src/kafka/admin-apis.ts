/** Topic and partition administration on the Kafka door, forwarded to the controller as the NATS door does. */
import { MillraceError, errorFields } from '../../protocol/errors.js';
import { apis } from '../../protocol/kafka/index.js';
import { wire } from '../../protocol/wire.js';
import type { DoorContext, Routes } from './door.js';
import { kafkaTopicId } from './topics.js';

const noAssignments = (): MillraceError =>
  new MillraceError(
    'INVALID_REQUEST',
    'manual replica assignment is not supported: replicas are placed by the controller',
  );

export function adminApis(routes: Routes, ctx: DoorContext): void {
  routes.add(apis.CreateTopics, async (req) => {
    const manual = new Set(req.topics.filter((t) => t.assignments.length > 0).map((t) => t.name));
    const asked = req.topics.filter((t) => !manual.has(t.name));
    const results = new Map<
      string,
      { errorCode: number; errorMessage: string | null; numPartitions?: number; replicationFactor?: number }
    >();
    for (const name of manual) results.set(name, errorFields(noAssignments()));
    if (asked.length > 0) {
      try {
        const res = await ctx.handlers.forward(
          'create_topics',
          wire.CreateTopicsRequest,
          wire.CreateTopicsRequest.create({
            topics: asked.map((t) => ({
              name: t.name,
              numPartitions: t.numPartitions,
              replicationFactor: t.replicationFactor,
              configs: Object.fromEntries(t.configs.filter((c) => c.value !== null).map((c) => [c.name, c.value!])),
            })),
            timeoutMs: req.timeoutMs,
            validateOnly: req.validateOnly,
          }),
          wire.CreateTopicsResponse,
          asked.map((t) => t.name),
        );
        if (res.errorCode) throw MillraceError.fromCode(res.errorCode, res.errorMessage ?? '');
        for (const r of res.results ?? [])
          results.set(r.name ?? '', {
            errorCode: r.errorCode ?? 0,
            errorMessage: r.errorMessage || null,
            numPartitions: r.numPartitions ?? -1,
            replicationFactor: r.replicationFactor ?? -1,
          });
      } catch (err) {
        for (const t of asked) results.set(t.name, errorFields(err));
      }
    }
    const image = ctx.image();
    return {
      topics: req.topics.map((t) => ({
        name: t.name,
        topicId: kafkaTopicId(image.topics.get(t.name)?.id),
        configs: null,
        ...results.get(t.name),
      })),
    };
  });

  routes.add(apis.DeleteTopics, async (req, version) => {
    const image = ctx.image();
    const names =
      version >= 6
        ? req.topics.map((t) => t.name ?? [...image.topics.values()].find((x) => x.id === t.topicId)?.name ?? null)
        : req.topicNames;
    const known = names.filter((n): n is string => n !== null);
    const results = new Map<string, { errorCode: number; errorMessage: string | null }>();
    try {
      const res = await ctx.handlers.forward(
        'delete_topics',
        wire.DeleteTopicsRequest,
        wire.DeleteTopicsRequest.create({ topics: known, timeoutMs: req.timeoutMs }),
        wire.DeleteTopicsResponse,
        known,
      );
      if (res.errorCode) throw MillraceError.fromCode(res.errorCode, res.errorMessage ?? '');
      for (const r of res.results ?? [])
        results.set(r.name ?? '', { errorCode: r.errorCode ?? 0, errorMessage: r.errorMessage || null });
    } catch (err) {
      for (const n of known) results.set(n, errorFields(err));
    }
    const unknownId = errorFields(new MillraceError('UNKNOWN_TOPIC_ID', 'no topic has this id'));
    return {
      responses: names.map((name, i) => ({
        name,
        topicId: version >= 6 ? req.topics[i]!.topicId : kafkaTopicId(image.topics.get(name ?? '')?.id),
        ...(name === null ? unknownId : results.get(name)),
      })),
    };
  });

  routes.add(apis.CreatePartitions, async (req) => {
    const manual = new Set(req.topics.filter((t) => t.assignments !== null).map((t) => t.name));
    const asked = req.topics.filter((t) => !manual.has(t.name));
    const results = new Map<string, { errorCode: number; errorMessage: string | null }>();
    for (const name of manual) results.set(name, errorFields(noAssignments()));
    if (asked.length > 0) {
      try {
        const res = await ctx.handlers.forward(
          'create_partitions',
          wire.CreatePartitionsRequest,
          wire.CreatePartitionsRequest.create({
            topics: asked.map((t) => ({ name: t.name, count: t.count })),
            timeoutMs: req.timeoutMs,
            validateOnly: req.validateOnly,
          }),
          wire.CreatePartitionsResponse,
          [],
        );
        if (res.errorCode) throw MillraceError.fromCode(res.errorCode, res.errorMessage ?? '');
        for (const r of res.results ?? [])
          results.set(r.name ?? '', { errorCode: r.errorCode ?? 0, errorMessage: r.errorMessage || null });
      } catch (err) {
        for (const t of asked) results.set(t.name, errorFields(err));
      }
    }
    return { results: req.topics.map((t) => ({ name: t.name, ...results.get(t.name) })) };
  });
}
