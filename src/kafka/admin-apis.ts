/** Topic and partition administration on the Kafka door, forwarded to the controller as the NATS door does. */
import { MillraceError, errorFields } from '../../protocol/errors.js';
import { apis } from '../../protocol/kafka/index.js';
import { AclOperation } from '../../protocol/acl.js';
import { wire } from '../../protocol/wire.js';
import type { Caller } from '../broker/authorizer.js';
import type { DoorContext, Routes } from './door.js';
import { ConfigOps } from '../cluster/config-control.js';
import { kafkaTopicId } from './topics.js';

const noAssignments = (): MillraceError =>
  new MillraceError(
    'INVALID_REQUEST',
    'manual replica assignment is not supported: replicas are placed by the controller',
  );

export function adminApis(routes: Routes, ctx: DoorContext): void {
  routes.add(apis.CreateTopics, async (req, _v, _h, { caller }) => {
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
          caller,
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

  routes.add(apis.DeleteTopics, async (req, version, _h, { caller }) => {
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
        caller,
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

  routes.add(apis.CreatePartitions, async (req, _v, _h, { caller }) => {
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
          caller,
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

const refusedCluster = (caller: Caller) =>
  new MillraceError('CLUSTER_AUTHORIZATION_FAILED', `${caller.principal} may not describe the broker's configs`);

const TOPIC = 2;
const BROKER = 4;

/** DescribeConfigs, AlterConfigs and IncrementalAlterConfigs: topics through the core; broker configs are read-only. */
export function configApis(routes: Routes, ctx: DoorContext): void {
  routes.add(apis.DescribeConfigs, (req, _v, _h, { caller }) => ({
    results: req.resources.map((r) => {
      const base = { resourceType: r.resourceType, resourceName: r.resourceName };
      const keys = r.configurationKeys ?? [];
      const entry = (c: { name: string; value: string; source: number }, readOnly: boolean) => ({
        name: c.name,
        value: c.value,
        readOnly,
        configSource: c.source,
        synonyms: req.includeSynonyms ? [{ name: c.name, value: c.value, source: c.source }] : [],
      });
      if (r.resourceType === TOPIC) {
        const [described] = ctx.handlers.describeConfigs([r.resourceName], keys, caller).results ?? [];
        if (described?.errorCode)
          return { ...base, errorCode: described.errorCode, errorMessage: described.errorMessage };
        return {
          ...base,
          configs: (described?.configs ?? []).map((c) =>
            entry({ name: c.name ?? '', value: c.value ?? '', source: c.source ?? 5 }, false),
          ),
        };
      }
      if (r.resourceType === BROKER && !ctx.access.clusterAllowed(caller, AclOperation.DESCRIBE_CONFIGS))
        return { ...base, ...errorFields(refusedCluster(caller)) };
      if (r.resourceType === BROKER && r.resourceName === String(ctx.brokerId)) {
        const wanted = new Set(keys);
        return {
          ...base,
          configs: Object.entries(ctx.brokerConfigs)
            .filter(([name]) => wanted.size === 0 || wanted.has(name))
            .map(([name, value]) => entry({ name, value, source: 4 }, true)),
        };
      }
      const e = new MillraceError(
        'INVALID_REQUEST',
        r.resourceType === BROKER
          ? `broker ${r.resourceName} is not this broker (${ctx.brokerId}): ask it`
          : `resource type ${r.resourceType} has no configs here (topics: 2, brokers: 4)`,
      );
      return { ...base, ...errorFields(e) };
    }),
  }));

  const alter = async (
    resources: Array<{
      resourceType: number;
      resourceName: string;
      ops: Array<{ name: string; op: number; value: string | null }>;
    }>,
    replace: boolean,
    validateOnly: boolean,
    caller: Caller,
  ) => {
    const topics = resources.filter((r) => r.resourceType === TOPIC);
    const results = new Map<string, { errorCode: number; errorMessage: string | null }>();
    if (topics.length > 0) {
      try {
        const res = await ctx.handlers.forward(
          'alter_configs',
          wire.AlterConfigsRequest,
          wire.AlterConfigsRequest.create({
            topics: topics.map((t) => ({
              topic: t.resourceName,
              replace,
              ops: t.ops.map((o) => ({ name: o.name, op: o.op, value: o.value ?? '' })),
            })),
            validateOnly,
          }),
          wire.AlterConfigsResponse,
          caller,
        );
        if (res.errorCode) throw MillraceError.fromCode(res.errorCode, res.errorMessage ?? '');
        for (const r of res.results ?? [])
          results.set(r.name ?? '', { errorCode: r.errorCode ?? 0, errorMessage: r.errorMessage || null });
      } catch (err) {
        for (const t of topics) results.set(t.resourceName, errorFields(err));
      }
    }
    const readOnly = errorFields(
      new MillraceError('INVALID_REQUEST', 'broker configs are static: set them in the broker config file or flags'),
    );
    return {
      responses: resources.map((r) => ({
        resourceType: r.resourceType,
        resourceName: r.resourceName,
        ...(r.resourceType === TOPIC ? results.get(r.resourceName) : readOnly),
      })),
    };
  };

  // AlterConfigs replaces a topic's configs with the ones given (a null value leaves one out).
  routes.add(apis.AlterConfigs, (req, _v, _h, { caller }) =>
    alter(
      req.resources.map((r) => ({
        ...r,
        ops: r.configs
          .filter((c) => c.value !== null)
          .map((c) => ({ name: c.name, op: ConfigOps.SET, value: c.value })),
      })),
      true,
      req.validateOnly,
      caller,
    ),
  );

  routes.add(apis.IncrementalAlterConfigs, (req, _v, _h, { caller }) =>
    alter(
      req.resources.map((r) => ({
        ...r,
        ops: r.configs.map((c) => ({ name: c.name, op: c.configOperation, value: c.value })),
      })),
      false,
      req.validateOnly,
      caller,
    ),
  );
}

const PREFERRED = 0;

/** ElectLeaders (preferred) and AlterPartitionReassignments, forwarded to the controller; ListPartitionReassignments. */
export function partitionApis(routes: Routes, ctx: DoorContext): void {
  routes.add(apis.ElectLeaders, async (req, version, _h, { caller }) => {
    const asked = req.topicPartitions;
    const topics = asked === null ? [] : [...new Set(asked.map((t) => t.topic))];
    if (version >= 1 && req.electionType !== PREFERRED) {
      const e = errorFields(
        new MillraceError('INVALID_REQUEST', 'only preferred elections: an unclean one is a topic config here'),
      );
      return {
        errorCode: e.errorCode,
        replicaElectionResults: (asked ?? []).map((t) => ({
          topic: t.topic,
          partitionResult: t.partitions.map((partitionId) => ({ partitionId, ...e })),
        })),
      };
    }
    const res = await ctx.handlers.forward(
      'elect_leaders',
      wire.ElectLeadersRequest,
      wire.ElectLeadersRequest.create({ topics, timeoutMs: req.timeoutMs }),
      wire.ElectLeadersResponse,
      caller,
    );
    if (res.errorCode) return { errorCode: res.errorCode, replicaElectionResults: [] };
    const wanted = asked === null ? null : new Set(asked.flatMap((t) => t.partitions.map((p) => `${t.topic}:${p}`)));
    const byTopic = new Map<string, Array<{ partitionId: number; errorCode: number; errorMessage: string | null }>>();
    for (const r of res.results ?? []) {
      if (wanted && !wanted.has(`${r.topic}:${r.partition}`)) continue;
      const list = byTopic.get(r.topic ?? '') ?? [];
      list.push({ partitionId: r.partition ?? 0, errorCode: r.errorCode ?? 0, errorMessage: r.errorMessage || null });
      byTopic.set(r.topic ?? '', list);
    }
    return { replicaElectionResults: [...byTopic].map(([topic, partitionResult]) => ({ topic, partitionResult })) };
  });

  routes.add(apis.AlterPartitionReassignments, async (req, _v, _h, { caller }) => {
    const noCancel = errorFields(
      new MillraceError(
        'INVALID_REQUEST',
        'cancelling a reassignment is not supported: reassign to the replicas wanted',
      ),
    );
    const moves = req.topics.flatMap((t) =>
      t.partitions
        .filter((p) => p.replicas !== null)
        .map((p) => ({ topic: t.name, partition: p.partitionIndex, replicas: p.replicas! })),
    );
    const results = new Map<string, { errorCode: number; errorMessage: string | null }>();
    if (moves.length > 0) {
      try {
        const res = await ctx.handlers.forward(
          'alter_reassignments',
          wire.AlterReassignmentsRequest,
          wire.AlterReassignmentsRequest.create({ partitions: moves }),
          wire.AlterReassignmentsResponse,
          caller,
        );
        if (res.errorCode) throw MillraceError.fromCode(res.errorCode, res.errorMessage ?? '');
        for (const r of res.results ?? [])
          results.set(`${r.topic}:${r.partition}`, {
            errorCode: r.errorCode ?? 0,
            errorMessage: r.errorMessage || null,
          });
      } catch (err) {
        for (const m of moves) results.set(`${m.topic}:${m.partition}`, errorFields(err));
      }
    }
    return {
      responses: req.topics.map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partitionIndex,
          ...(p.replicas === null ? noCancel : results.get(`${t.name}:${p.partitionIndex}`)),
        })),
      })),
    };
  });

  routes.add(apis.ListPartitionReassignments, (req, _v, _h, { caller }) => ({
    topics: ctx.handlers
      .listReassignments(
        req.topics === null ? null : req.topics.map((t) => ({ name: t.name, partitions: t.partitionIndexes })),
        caller,
      )
      .map((t) => ({
        name: t.name,
        partitions: t.partitions.map((p) => ({
          partitionIndex: p.partition,
          replicas: p.replicas,
          addingReplicas: p.adding,
          removingReplicas: p.removing,
        })),
      })),
  }));
}
