/**
 * The topic part of authorizing offset requests (OffsetCommit, OffsetDelete, OffsetFetch): topics
 * the caller may not touch are taken out and answered per partition with
 * TOPIC_AUTHORIZATION_FAILED, as Kafka answers them, while the others go ahead.
 */
import { AclOperation } from '../../../protocol/acl.js';
import { errorFields } from '../../../protocol/errors.js';
import type { millrace } from '../../../protocol/generated/millrace.js';
import type { Access, Caller } from '../authorizer.js';

/** The topics the caller may `operation`, and the others answered with TOPIC_AUTHORIZATION_FAILED. */
export function splitTopics(
  access: Access,
  topics: millrace.OffsetCommitTopic[],
  caller: Caller,
  operation: number,
): { allowed: millrace.OffsetCommitTopic[]; denied: millrace.IOffsetCommitTopic[] } {
  const allowed = topics.filter((t) => access.topicAllowed(caller, operation, t.name));
  if (allowed.length === topics.length) return { allowed, denied: [] };
  const denied = topics
    .filter((t) => !access.topicAllowed(caller, operation, t.name))
    .map((t) => {
      const e = errorFields(access.topicRefusal(caller, operation, t.name));
      return { name: t.name, partitions: t.partitions.map((p) => ({ partition: p.partition, offset: -1, ...e })) };
    });
  return { allowed, denied };
}

/** Runs `run` with the topics the caller may read; the others are answered with TOPIC_AUTHORIZATION_FAILED. */
export async function onPermittedTopics<
  Req extends { topics: millrace.OffsetCommitTopic[] },
  Res extends { topics?: millrace.IOffsetCommitTopic[] | null },
>(
  access: Access,
  req: Req,
  caller: Caller,
  rebuild: (topics: millrace.OffsetCommitTopic[]) => Req,
  run: (r: Req) => Promise<Res>,
): Promise<Res> {
  const { allowed, denied } = splitTopics(access, req.topics, caller, AclOperation.READ);
  if (denied.length === 0) return run(req);
  const res = allowed.length ? await run(rebuild(allowed)) : ({} as Res);
  return { ...res, topics: [...(res.topics ?? []), ...denied] };
}
