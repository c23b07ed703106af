/** The Kafka protocol door: every API it serves, onto the broker core. */
import { adminApis, configApis, partitionApis } from './admin-apis.js';
import { clusterApis } from './cluster-apis.js';
import { dataApis } from './data-apis.js';
import { Routes, type DoorContext } from './door.js';
import { txnApis } from './txn-apis.js';
import { groupApis } from './group-apis.js';
import { saslApis, saslStep } from './sasl.js';
import { securityApis } from './security-apis.js';
import { apiVersionsOf, type Door } from './connection.js';
import { apis } from '../../protocol/kafka/index.js';
import { throttleFor } from '../broker/client-quotas.js';

export { KafkaListener } from './listener.js';
export type { DoorContext } from './door.js';

export function kafkaDoor(ctx: DoorContext): Door {
  const routes = new Routes();
  let door: Door | null = null;
  routes.add(apis.ApiVersions, () => ({ errorCode: 0, apiKeys: apiVersionsOf(door!) }));
  clusterApis(routes, ctx);
  dataApis(routes, ctx);
  groupApis(routes, ctx);
  txnApis(routes, ctx);
  adminApis(routes, ctx);
  configApis(routes, ctx);
  partitionApis(routes, ctx);
  securityApis(routes, ctx);
  saslApis(routes, ctx.sasl, ctx.image);
  door = {
    ...routes.door(),
    saslToken: (session, token) => saslStep(session, token, ctx.image),
    throttle: (api, clientId, session, use) =>
      throttleFor(
        ctx.quotas,
        session.caller.principal,
        clientId,
        {
          produceBytes: api.key === apis.Produce.key ? use.requestBytes : 0,
          fetchBytes: api.key === apis.Fetch.key && use.response ? fetchedRecordBytes(use.response) : 0,
          handlerMs: use.handlerMs,
        },
        ctx.onThrottle,
      ),
  };
  return door;
}

/** The record bytes of a Kafka Fetch response (what the consumer byte-rate quota counts). */
function fetchedRecordBytes(response: Record<string, unknown>): number {
  let n = 0;
  for (const t of (response.responses ?? []) as Array<{ partitions?: Array<{ records?: Buffer | null }> }>)
    for (const p of t.partitions ?? []) n += p.records?.length ?? 0;
  return n;
}
