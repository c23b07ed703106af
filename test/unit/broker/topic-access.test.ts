import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../../protocol/errors.js';
import { wire } from '../../../protocol/wire.js';
import { Access, Authorizer } from '../../../src/broker/authorizer.js';
import { onPermittedTopics } from '../../../src/broker/group/topic-access.js';
import { aclBinding } from '../../harness/acl.js';

const access = new Access(
  new Authorizer(
    { enabled: true, superUsers: [], allowEveryoneIfNoAclFound: false },
    () => new Map([['a', aclBinding()]]),
  ),
);
const alice = { principal: 'User:alice', host: 'h' };

describe('offset requests restricted to permitted topics', () => {
  it('runs the permitted topics and answers the others per partition with TOPIC_AUTHORIZATION_FAILED', async () => {
    const req = wire.OffsetCommitRequest.create({
      groupId: 'g',
      topics: [
        { name: 'orders', partitions: [{ partition: 0, offset: 5 }] },
        {
          name: 'secret',
          partitions: [
            { partition: 0, offset: 1 },
            { partition: 1, offset: 1 },
          ],
        },
      ],
    });
    const ran: string[][] = [];
    const res = await onPermittedTopics(
      access,
      req,
      alice,
      (topics) => wire.OffsetCommitRequest.create({ ...req, topics }),
      async (r) => {
        ran.push(r.topics.map((t) => t.name));
        return { topics: r.topics.map((t) => ({ name: t.name, partitions: [{ partition: 0, errorCode: 0 }] })) };
      },
    );
    expect(ran).toEqual([['orders']]);
    expect(res.topics!.map((t) => [t.name, t.partitions!.map((p) => p.errorCode)])).toEqual([
      ['orders', [0]],
      ['secret', [ErrorCodes.TOPIC_AUTHORIZATION_FAILED.code, ErrorCodes.TOPIC_AUTHORIZATION_FAILED.code]],
    ]);
    // Nothing permitted: nothing runs.
    const none = await onPermittedTopics(
      access,
      wire.OffsetCommitRequest.create({ groupId: 'g', topics: [{ name: 'secret', partitions: [{ partition: 0 }] }] }),
      alice,
      (topics) => wire.OffsetCommitRequest.create({ topics }),
      async (): Promise<{ topics: [] }> => {
        throw new Error('must not run');
      },
    );
    expect(none.topics).toHaveLength(1);
  });
});
