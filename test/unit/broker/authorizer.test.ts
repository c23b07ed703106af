import { describe, expect, it } from 'vitest';
import {
  AclOperation as Op,
  AclPermission as Perm,
  PatternType,
  ResourceType as RT,
  type AclBinding,
} from '../../../protocol/acl.js';
import { aclBinding } from '../../harness/acl.js';
import { authorize, Authorizer, type AuthorizerSettings } from '../../../src/broker/authorizer.js';

const on: AuthorizerSettings = { enabled: true, superUsers: ['User:admin'], allowEveryoneIfNoAclFound: false };
const alice = { principal: 'User:alice', host: '10.0.0.1' };

const acl = aclBinding;

describe('authorize (Kafka StandardAuthorizer rules)', () => {
  it('allows what a binding allows and nothing else', () => {
    const acls = [acl({})];
    expect(authorize(acls, on, alice, Op.READ, RT.TOPIC, 'orders')).toBe(true);
    expect(authorize(acls, on, alice, Op.WRITE, RT.TOPIC, 'orders')).toBe(false);
    expect(authorize(acls, on, alice, Op.READ, RT.TOPIC, 'payments')).toBe(false);
    expect(authorize(acls, on, { ...alice, principal: 'User:bob' }, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('READ, WRITE, DELETE and ALTER imply DESCRIBE; ALTER_CONFIGS implies DESCRIBE_CONFIGS', () => {
    for (const op of [Op.READ, Op.WRITE, Op.DELETE, Op.ALTER])
      expect(authorize([acl({ operation: op })], on, alice, Op.DESCRIBE, RT.TOPIC, 'orders')).toBe(true);
    expect(authorize([acl({ operation: Op.ALTER_CONFIGS })], on, alice, Op.DESCRIBE_CONFIGS, RT.TOPIC, 'orders')).toBe(
      true,
    );
    expect(authorize([acl({ operation: Op.DESCRIBE })], on, alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('a matching DENY wins over any ALLOW; ALL covers every operation', () => {
    const acls = [acl({ operation: Op.ALL }), acl({ operation: Op.WRITE, permission: Perm.DENY })];
    expect(authorize(acls, on, alice, Op.READ, RT.TOPIC, 'orders')).toBe(true);
    expect(authorize(acls, on, alice, Op.WRITE, RT.TOPIC, 'orders')).toBe(false);
  });

  it('matches prefixed patterns, the literal wildcard, the wildcard principal and hosts', () => {
    const prefixed = [acl({ resourceName: 'app-', patternType: PatternType.PREFIXED })];
    expect(authorize(prefixed, on, alice, Op.READ, RT.TOPIC, 'app-events')).toBe(true);
    expect(authorize(prefixed, on, alice, Op.READ, RT.TOPIC, 'ap')).toBe(false);
    expect(authorize([acl({ resourceName: '*' })], on, alice, Op.READ, RT.TOPIC, 'anything')).toBe(true);
    const everyone = [acl({ principal: 'User:*' })];
    expect(authorize(everyone, on, { ...alice, principal: 'User:zed' }, Op.READ, RT.TOPIC, 'orders')).toBe(true);
    const fromOneHost = [acl({ host: '10.0.0.2' })];
    expect(authorize(fromOneHost, on, alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
    expect(authorize(fromOneHost, on, { ...alice, host: '10.0.0.2' }, Op.READ, RT.TOPIC, 'orders')).toBe(true);
  });

  it('keeps resource types apart', () => {
    expect(authorize([acl({ resourceType: RT.GROUP })], on, alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('super users may do anything; off allows everything; no ACL on a resource denies unless told otherwise', () => {
    expect(authorize([], on, { principal: 'User:admin', host: 'h' }, Op.ALTER, RT.CLUSTER, 'kafka-cluster')).toBe(true);
    expect(authorize([], { ...on, enabled: false }, alice, Op.DELETE, RT.TOPIC, 'x')).toBe(true);
    expect(authorize([], on, alice, Op.READ, RT.TOPIC, 'x')).toBe(false);
    const open = { ...on, allowEveryoneIfNoAclFound: true };
    expect(authorize([], open, alice, Op.READ, RT.TOPIC, 'x')).toBe(true);
    // A resource some binding names is closed to the others even then.
    expect(authorize([acl({ principal: 'User:bob' })], open, alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
  });

  it('caches decisions until the bindings change', () => {
    let acls = new Map<string, AclBinding>();
    const authorizer = new Authorizer(on, () => acls);
    expect(authorizer.allows(alice, Op.READ, RT.TOPIC, 'orders')).toBe(false);
    acls = new Map([['acl.1', acl({})]]);
    expect(authorizer.allows(alice, Op.READ, RT.TOPIC, 'orders')).toBe(true);
  });
});
