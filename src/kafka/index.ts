/** The Kafka protocol door: every API it serves, onto the broker core. */
import { adminApis, configApis, partitionApis } from './admin-apis.js';
import { clusterApis } from './cluster-apis.js';
import { dataApis } from './data-apis.js';
import { Routes, type DoorContext } from './door.js';
import { groupApis } from './group-apis.js';
import { saslApis, saslStep } from './sasl.js';
import { securityApis } from './security-apis.js';
import { apiVersionsOf, type Door } from './connection.js';
import { apis } from '../../protocol/kafka/index.js';

export { KafkaListener } from './listener.js';
export type { DoorContext } from './door.js';

export function kafkaDoor(ctx: DoorContext): Door {
  const routes = new Routes();
  let door: Door | null = null;
  routes.add(apis.ApiVersions, () => ({ errorCode: 0, apiKeys: apiVersionsOf(door!) }));
  clusterApis(routes, ctx);
  dataApis(routes, ctx);
  groupApis(routes, ctx);
  adminApis(routes, ctx);
  configApis(routes, ctx);
  partitionApis(routes, ctx);
  securityApis(routes, ctx);
  saslApis(routes, ctx.sasl, ctx.image);
  door = { ...routes.door(), saslToken: (session, token) => saslStep(session, token, ctx.image) };
  return door;
}
