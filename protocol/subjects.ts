/**
 * NATS subject names (DESIGN.md section 4). Client-facing APIs live under `api`, broker-to-broker
 * ones under `internal`, so NATS permissions can keep clients off the latter.
 */
export const BROKER_APIS = [
  'metadata',
  'produce',
  'fetch',
  'list_offsets',
  'create_topics',
  'delete_topics',
  'create_partitions',
  'elect_leaders',
  'alter_reassignments',
  'init_producer_id',
  'find_coordinator',
  'join_group',
  'sync_group',
  'heartbeat',
  'leave_group',
  'offset_commit',
  'offset_fetch',
  'list_groups',
  'describe_groups',
  'delete_groups',
  'describe_configs',
  'alter_configs',
  'delete_records',
  'offset_delete',
  'create_acls',
  'describe_acls',
  'delete_acls',
  'alter_user_scram',
  'describe_user_scram',
  'alter_client_quotas',
  'describe_client_quotas',
  'add_partitions_to_txn',
  'add_offsets_to_txn',
  'txn_offset_commit',
  'end_txn',
  'describe_transactions',
  'list_transactions',
] as const;
export type BrokerApi = (typeof BROKER_APIS)[number];
export const CONTROLLER_APIS = [
  'register_broker',
  'heartbeat',
  'create_topics',
  'delete_topics',
  'create_partitions',
  'alter_partition',
  'elect_leaders',
  'alter_reassignments',
  'allocate_producer_ids',
  'alter_configs',
  'create_acls',
  'delete_acls',
  'alter_scram',
  'alter_quotas',
] as const;
export type ControllerApi = (typeof CONTROLLER_APIS)[number];
/** `presence` answers an empty request at once: probes tell a live (or paused) process from a dead one. */
export type InternalApi = 'replica_fetch' | 'presence' | 'write_txn_markers' | 'verify_txn';

export const subjects = {
  /** Bootstrap metadata: a queue group of every broker. */
  metadata: (cluster: string): string => `mr.${cluster}.metadata`,
  brokerApi: (cluster: string, brokerId: number, api: BrokerApi): string =>
    `mr.${cluster}.broker.${brokerId}.api.${api}`,
  brokerInternal: (cluster: string, brokerId: number, api: InternalApi): string =>
    `mr.${cluster}.broker.${brokerId}.internal.${api}`,
  /** Controller RPCs carry the epoch: a zombie controller hears nothing. */
  controller: (cluster: string, epoch: number, api: ControllerApi): string =>
    `mr.${cluster}.controller.${epoch}.${api}`,
  leaseBucket: (cluster: string): string => `mr_${cluster}_lease`,
  metaBucket: (cluster: string): string => `mr_${cluster}_meta`,
};

/** Cluster names become part of subjects and bucket names: keep them to safe characters. */
export const CLUSTER_NAME = /^[a-zA-Z0-9_-]{1,64}$/;
