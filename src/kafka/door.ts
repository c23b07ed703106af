/**
 * The Kafka door's routing: each API served maps its Kafka request onto the broker core (the same
 * handlers, group coordinator and controller the NATS door calls) and the core's answer back
 * onto the Kafka response of the version asked. The adapters own no semantics.
 */
import type { Logger } from 'pino';
import type { Loose, MessageOf } from '../../protocol/kafka/index.js';
import type { KafkaApi, RequestHeader } from '../../protocol/kafka/index.js';
import type { ControllerClient } from '../cluster/controller-client.js';
import type { MetadataImage } from '../cluster/image.js';
import type { TxnCoordinator } from '../broker/txn/coordinator.js';
import type { TxnApis } from '../broker/txn/txn-apis.js';
import type { GroupCoordinator } from '../broker/group/coordinator.js';
import type { QuotaKey } from '../../protocol/quota.js';
import type { Access } from '../broker/authorizer.js';
import type { ClientQuotas } from '../broker/client-quotas.js';
import type { BrokerHandlers } from '../broker/handlers.js';
import type { ProducerIdManager } from '../broker/producer-ids.js';
import type { Door } from './connection.js';
import type { KafkaSession, SaslSettings } from './sasl.js';

export interface DoorContext {
  brokerId: number;
  cluster: string;
  image: () => MetadataImage;
  handlers: BrokerHandlers;
  groups: GroupCoordinator;
  txns: TxnCoordinator;
  txnApis: TxnApis;
  controller: ControllerClient;
  producerIds: ProducerIdManager;
  /** auto.create.topics.enable */
  autoCreateTopics: boolean;
  /** This broker's settings in Kafka's names, for DescribeConfigs of the broker (read-only). */
  brokerConfigs: Readonly<Record<string, string>>;
  /** The same authorization the core applies, for what the door decides itself (auto-creation, Metadata). */
  access: Access;
  /** Client quotas, and what to do with a throttle owed (metrics). */
  quotas: ClientQuotas;
  onThrottle: (quota: QuotaKey, ms: number) => void;
  sasl: SaslSettings;
  logger: Logger;
}

type Route = (
  body: Record<string, unknown>,
  version: number,
  header: RequestHeader,
  session: KafkaSession,
) => Promise<unknown>;

export class Routes {
  private readonly byKey = new Map<number, { api: KafkaApi; route: Route }>();

  /**
   * Serves `api`: the handler gets its decoded request and the connection's session (who is
   * asking), and returns its response (null: none).
   */
  add<A extends KafkaApi>(
    api: A,
    handler: (
      req: MessageOf<A['request']>,
      version: number,
      header: RequestHeader,
      session: KafkaSession,
    ) => Promise<Loose<MessageOf<A['response']>> | null> | Loose<MessageOf<A['response']>>,
  ): void {
    this.byKey.set(api.key, {
      api,
      route: async (body, v, h, session) => handler(body as MessageOf<A['request']>, v, h, session),
    });
  }

  door(): Door {
    return {
      served: new Map([...this.byKey].map(([key, r]) => [key, r.api])),
      handle: async (api, header, body, session) => {
        const r = this.byKey.get(api.key)!;
        return (await r.route(body, header.apiVersion, header, session)) as Record<string, unknown> | null;
      },
    };
  }
}
