import { describe, expect, it } from 'vitest';
import { AclOperation as Op, PatternType, ResourceType as RT, type AclBinding } from '../../../protocol/acl.js';
import { aclBinding } from '../../harness/acl.js';
import { ErrorCodes } from '../../../protocol/errors.js';
import { saltedPassword } from '../../../protocol/scram.js';
import { createAcls, deleteAcls, describeAcls } from '../../../src/cluster/acl-control.js';
import { emptyImage, replayAll } from '../../../src/cluster/image.js';
import { alterScram, describeScram } from '../../../src/cluster/scram-control.js';

const binding = aclBinding;
const ANY: AclBinding = {
  resourceType: 1,
  resourceName: '',
  patternType: 1,
  principal: '',
  host: '',
  operation: 1,
  permission: 1,
};

describe('ACL control', () => {
  it('creates each binding once, refuses incomplete ones, and deletes what a filter matches', () => {
    const created = createAcls(emptyImage, [
      binding({}),
      binding({}),
      binding({ resourceName: 'app-', patternType: PatternType.PREFIXED, principal: 'User:bob' }),
      binding({ operation: Op.ANY }),
      binding({ principal: 'alice' }),
    ]);
    expect(created.response.results.map((r) => r.errorCode)).toEqual([
      0,
      0,
      0,
      ErrorCodes.INVALID_REQUEST.code,
      ErrorCodes.INVALID_REQUEST.code,
    ]);
    // The identical binding twice is one record.
    const image = replayAll(emptyImage, created.records.slice(0, 1).concat(created.records.slice(2)), 1);
    expect(image.acls.size).toBe(2);
    expect(createAcls(image, [binding({})]).records).toEqual([]);

    expect(describeAcls(image, ANY)).toHaveLength(2);
    expect(describeAcls(image, { ...ANY, principal: 'User:bob' })).toHaveLength(1);
    // MATCH: the bindings that apply to topic app-events.
    expect(
      describeAcls(image, {
        ...ANY,
        resourceType: RT.TOPIC,
        patternType: PatternType.MATCH,
        resourceName: 'app-events',
      }),
    ).toEqual([expect.objectContaining({ principal: 'User:bob' })]);
    const deleted = deleteAcls(image, [{ ...ANY, principal: 'User:alice' }, ANY]);
    expect(deleted.response.results[0]!.matching).toHaveLength(1);
    expect(deleted.response.results[1]!.matching).toHaveLength(2);
    expect(deleted.records).toHaveLength(2);
    expect(replayAll(image, deleted.records, 10).acls.size).toBe(0);
  });
});

describe('SCRAM control', () => {
  const salt = Buffer.from('salt-of-alice');
  const upsert = (user: string, mechanism = 1, iterations = 4096) => ({
    user,
    mechanism,
    iterations,
    salt,
    saltedPassword: saltedPassword(mechanism === 1 ? 'SCRAM-SHA-256' : 'SCRAM-SHA-512', 'pw', salt, iterations),
  });

  it('stores keys (never the salted password), describes mechanisms, deletes, and refuses bad credentials', () => {
    const res = alterScram(emptyImage, {
      upsertions: [upsert('alice'), upsert('alice', 2), upsert('bob', 1, 100), upsert('carol', 7)],
    });
    expect(res.response.results).toEqual([
      { user: 'alice', errorCode: 0, errorMessage: '' },
      expect.objectContaining({ user: 'bob', errorCode: ErrorCodes.UNACCEPTABLE_CREDENTIAL.code }),
      expect.objectContaining({ user: 'carol', errorCode: ErrorCodes.UNSUPPORTED_SASL_MECHANISM.code }),
    ]);
    const image = replayAll(emptyImage, res.records, 1);
    expect(image.scram.size).toBe(2);
    const stored = JSON.stringify([...image.scram.values()]);
    expect(stored).not.toContain(upsert('alice').saltedPassword.toString('base64'));
    expect(describeScram(image, []).results).toEqual([
      {
        user: 'alice',
        errorCode: 0,
        credentials: [
          { mechanism: 1, iterations: 4096 },
          { mechanism: 2, iterations: 4096 },
        ],
      },
    ]);
    expect(describeScram(image, ['nobody']).results![0]!.errorCode).toBe(ErrorCodes.RESOURCE_NOT_FOUND.code);
    const dup = alterScram(image, { upsertions: [upsert('dave'), upsert('dave')] });
    expect(dup.response.results![0]!.errorCode).toBe(ErrorCodes.DUPLICATE_RESOURCE.code);
    expect(dup.records).toEqual([]);
    const del = alterScram(image, {
      deletions: [
        { user: 'alice', mechanism: 1 },
        { user: 'zed', mechanism: 1 },
      ],
    });
    expect(del.response.results!.map((r) => r.errorCode)).toEqual([0, ErrorCodes.RESOURCE_NOT_FOUND.code]);
    expect(replayAll(image, del.records, 5).scram.size).toBe(1);
  });
});
