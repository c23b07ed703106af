/** ACL bindings for tests: alice may READ topic 'orders' from anywhere, unless a field is overridden. */
import { AclOperation, AclPermission, PatternType, ResourceType, type AclBinding } from '../../protocol/acl.js';

export const aclBinding = (a: Partial<AclBinding> = {}): AclBinding => ({
  resourceType: ResourceType.TOPIC,
  resourceName: 'orders',
  patternType: PatternType.LITERAL,
  principal: 'User:alice',
  host: '*',
  operation: AclOperation.READ,
  permission: AclPermission.ALLOW,
  ...a,
});
