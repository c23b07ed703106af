/**
 * Error codes of the wire contract, and what a caller must do about each. Numbers and names are
 * Kafka's wherever the meaning is the same, so operators and Kafka users read them without a
 * table; `retriable` follows Kafka's RetriableException hierarchy; `refreshMetadata` and
 * `coordinatorMoved` are the two other reactions a client needs (kafkajs's staleMetadata and
 * its coordinator errors), classified here once for the SDK and the broker alike.
 */
interface ErrorSpec {
  readonly code: number;
  readonly retriable: boolean;
  /** The caller's view of leaders or brokers is stale: refresh metadata before retrying. */
  readonly refreshMetadata: boolean;
  /** The group coordinator moved or cannot be reached: find it again before retrying. */
  readonly coordinatorMoved: boolean;
}

const spec = (code: number, retriable = false): ErrorSpec => ({
  code,
  retriable,
  refreshMetadata: false,
  coordinatorMoved: false,
});
const stale = (code: number): ErrorSpec => ({ ...spec(code, true), refreshMetadata: true });
const moved = (code: number): ErrorSpec => ({ ...spec(code, true), coordinatorMoved: true });

export const ErrorCodes = {
  UNKNOWN_SERVER_ERROR: spec(-1),
  NONE: spec(0),
  OFFSET_OUT_OF_RANGE: spec(1),
  CORRUPT_MESSAGE: spec(2, true),
  UNKNOWN_TOPIC_OR_PARTITION: stale(3),
  INVALID_FETCH_SIZE: spec(4),
  LEADER_NOT_AVAILABLE: stale(5),
  NOT_LEADER_OR_FOLLOWER: stale(6),
  REQUEST_TIMED_OUT: moved(7),
  BROKER_NOT_AVAILABLE: spec(8),
  REPLICA_NOT_AVAILABLE: spec(9, true),
  MESSAGE_TOO_LARGE: spec(10),
  STALE_CONTROLLER_EPOCH: spec(11),
  OFFSET_METADATA_TOO_LARGE: spec(12),
  // The peer is gone or slow: leaders and the coordinator may have moved with it.
  NETWORK_EXCEPTION: { ...stale(13), coordinatorMoved: true },
  COORDINATOR_LOAD_IN_PROGRESS: spec(14, true),
  COORDINATOR_NOT_AVAILABLE: moved(15),
  NOT_COORDINATOR: moved(16),
  INVALID_TOPIC_EXCEPTION: spec(17),
  RECORD_LIST_TOO_LARGE: spec(18),
  NOT_ENOUGH_REPLICAS: spec(19, true),
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: spec(20, true),
  INVALID_REQUIRED_ACKS: spec(21),
  ILLEGAL_GENERATION: spec(22),
  INCONSISTENT_GROUP_PROTOCOL: spec(23),
  INVALID_GROUP_ID: spec(24),
  UNKNOWN_MEMBER_ID: spec(25),
  INVALID_SESSION_TIMEOUT: spec(26),
  REBALANCE_IN_PROGRESS: spec(27),
  INVALID_COMMIT_OFFSET_SIZE: spec(28),
  TOPIC_AUTHORIZATION_FAILED: spec(29),
  GROUP_AUTHORIZATION_FAILED: spec(30),
  CLUSTER_AUTHORIZATION_FAILED: spec(31),
  INVALID_TIMESTAMP: spec(32),
  UNSUPPORTED_SASL_MECHANISM: spec(33),
  ILLEGAL_SASL_STATE: spec(34),
  UNSUPPORTED_VERSION: spec(35),
  TOPIC_ALREADY_EXISTS: spec(36),
  INVALID_PARTITIONS: spec(37),
  INVALID_REPLICATION_FACTOR: spec(38),
  INVALID_REPLICA_ASSIGNMENT: spec(39),
  INVALID_CONFIG: spec(40),
  NOT_CONTROLLER: stale(41),
  INVALID_REQUEST: spec(42),
  UNSUPPORTED_FOR_MESSAGE_FORMAT: spec(43),
  POLICY_VIOLATION: spec(44),
  OUT_OF_ORDER_SEQUENCE_NUMBER: spec(45),
  DUPLICATE_SEQUENCE_NUMBER: spec(46),
  INVALID_PRODUCER_EPOCH: spec(47),
  INVALID_TXN_STATE: spec(48),
  INVALID_PRODUCER_ID_MAPPING: spec(49),
  INVALID_TRANSACTION_TIMEOUT: spec(50),
  CONCURRENT_TRANSACTIONS: spec(51, true),
  TRANSACTION_COORDINATOR_FENCED: spec(52),
  TRANSACTIONAL_ID_AUTHORIZATION_FAILED: spec(53),
  SECURITY_DISABLED: spec(54),
  OPERATION_NOT_ATTEMPTED: spec(55),
  KAFKA_STORAGE_ERROR: spec(56, true),
  LOG_DIR_NOT_FOUND: spec(57),
  SASL_AUTHENTICATION_FAILED: spec(58),
  UNKNOWN_PRODUCER_ID: spec(59),
  REASSIGNMENT_IN_PROGRESS: spec(60),
  DELEGATION_TOKEN_AUTH_DISABLED: spec(61),
  DELEGATION_TOKEN_NOT_FOUND: spec(62),
  DELEGATION_TOKEN_OWNER_MISMATCH: spec(63),
  DELEGATION_TOKEN_REQUEST_NOT_ALLOWED: spec(64),
  DELEGATION_TOKEN_AUTHORIZATION_FAILED: spec(65),
  DELEGATION_TOKEN_EXPIRED: spec(66),
  INVALID_PRINCIPAL_TYPE: spec(67),
  NON_EMPTY_GROUP: spec(68),
  GROUP_ID_NOT_FOUND: spec(69),
  FETCH_SESSION_ID_NOT_FOUND: spec(70, true),
  INVALID_FETCH_SESSION_EPOCH: spec(71, true),
  LISTENER_NOT_FOUND: spec(72, true),
  TOPIC_DELETION_DISABLED: spec(73),
  FENCED_LEADER_EPOCH: stale(74),
  UNKNOWN_LEADER_EPOCH: stale(75),
  UNSUPPORTED_COMPRESSION_TYPE: spec(76),
  STALE_BROKER_EPOCH: spec(77),
  OFFSET_NOT_AVAILABLE: spec(78, true),
  MEMBER_ID_REQUIRED: spec(79),
  PREFERRED_LEADER_NOT_AVAILABLE: spec(80, true),
  GROUP_MAX_SIZE_REACHED: spec(81),
  FENCED_INSTANCE_ID: spec(82),
  ELIGIBLE_LEADERS_NOT_AVAILABLE: spec(83, true),
  ELECTION_NOT_NEEDED: spec(84, true),
  NO_REASSIGNMENT_IN_PROGRESS: spec(85),
  GROUP_SUBSCRIBED_TO_TOPIC: spec(86),
  INVALID_RECORD: spec(87),
  UNSTABLE_OFFSET_COMMIT: spec(88, true),
  THROTTLING_QUOTA_EXCEEDED: spec(89, true),
  PRODUCER_FENCED: spec(90),
  RESOURCE_NOT_FOUND: spec(91),
  DUPLICATE_RESOURCE: spec(92),
  UNACCEPTABLE_CREDENTIAL: spec(93),
  INVALID_UPDATE_VERSION: spec(95),
  UNKNOWN_TOPIC_ID: spec(100, true),
  DUPLICATE_BROKER_REGISTRATION: spec(101),
  BROKER_ID_NOT_REGISTERED: spec(102),
  INCONSISTENT_TOPIC_ID: spec(103, true),
  INCONSISTENT_CLUSTER_ID: spec(104),
  TRANSACTIONAL_ID_NOT_FOUND: spec(105),
  INELIGIBLE_REPLICA: spec(107),
  /** KIP-890: the transaction cannot go on but the producer can: abort it and begin again. */
  TRANSACTION_ABORTABLE: spec(120),
} as const satisfies Record<string, ErrorSpec>;

export type ErrorName = keyof typeof ErrorCodes;

const nameByCode = new Map<number, ErrorName>(
  (Object.keys(ErrorCodes) as ErrorName[]).map((name) => [ErrorCodes[name].code, name]),
);

/** The name of a wire error code; codes from a newer peer map to UNKNOWN_SERVER_ERROR. */
export function errorNameOf(code: number): ErrorName {
  return nameByCode.get(code) ?? 'UNKNOWN_SERVER_ERROR';
}

export function isRetriable(name: ErrorName): boolean {
  return ErrorCodes[name].retriable;
}

/** An error as the fields every response begins with. */
export function errorFields(err: unknown): { errorCode: number; errorMessage: string } {
  const e = MillraceError.from(err);
  return { errorCode: e.code, errorMessage: e.detail };
}

/** The one error type of Millrace: carries the wire name, its code and whether a retry may help. */
export class MillraceError extends Error {
  readonly errorName: ErrorName;
  readonly code: number;
  readonly retriable: boolean;
  /** The message without the error name in front: what goes on the wire. */
  readonly detail: string;

  constructor(errorName: ErrorName, message: string, options?: { cause?: unknown }) {
    super(`${errorName}: ${message}`, options);
    this.name = 'MillraceError';
    this.detail = message;
    this.errorName = errorName;
    this.code = ErrorCodes[errorName].code;
    this.retriable = ErrorCodes[errorName].retriable;
  }

  static fromCode(code: number, message: string): MillraceError {
    return new MillraceError(errorNameOf(code), message);
  }

  /** Any thrown value as a MillraceError; what is not one becomes `fallback` with its message. */
  static from(err: unknown, fallback: ErrorName = 'UNKNOWN_SERVER_ERROR'): MillraceError {
    if (err instanceof MillraceError) return err;
    const message = err instanceof Error ? err.message : String(err);
    return new MillraceError(fallback, message, { cause: err });
  }

  get refreshMetadata(): boolean {
    return ErrorCodes[this.errorName].refreshMetadata;
  }

  get coordinatorMoved(): boolean {
    return ErrorCodes[this.errorName].coordinatorMoved;
  }
}
