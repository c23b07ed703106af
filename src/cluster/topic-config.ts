/**
 * Topic configuration with Kafka's names, defaults and validation. Values arrive as strings
 * (from the CLI, the SDK or the metadata log) and every bad one is an INVALID_CONFIG naming it.
 */
import { MillraceError } from '../../protocol/errors.js';
import { logConfig, type LogConfig, type LogConfigInput } from '../storage/config.js';

type Parser = (value: string, key: string) => unknown;

const integer =
  (min: number, max = Number.MAX_SAFE_INTEGER): Parser =>
  (value, key) => {
    const n = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < min || n > max) {
      throw new MillraceError('INVALID_CONFIG', `${key}=${value}: expected an integer from ${min} to ${max}`);
    }
    return n;
  };

const oneOf =
  (...allowed: string[]): Parser =>
  (value, key) => {
    if (!allowed.includes(value))
      throw new MillraceError('INVALID_CONFIG', `${key}=${value}: expected one of ${allowed.join(', ')}`);
    return value;
  };

const ratio: Parser = (value, key) => {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1)
    throw new MillraceError('INVALID_CONFIG', `${key}=${value}: expected a number from 0 to 1`);
  return n;
};

/** delete, compact, or both in either order (Kafka accepts a list). */
const cleanupPolicy: Parser = (value, key) => {
  const parts = [...new Set(value.split(',').map((p) => p.trim()))].sort();
  if (parts.length === 0 || parts.some((p) => p !== 'delete' && p !== 'compact'))
    throw new MillraceError('INVALID_CONFIG', `${key}=${value}: expected delete, compact or compact,delete`);
  return parts.join(',');
};

const bool: Parser = (value, key) => {
  if (value !== 'true' && value !== 'false')
    throw new MillraceError('INVALID_CONFIG', `${key}=${value}: expected true or false`);
  return value === 'true';
};

const MAX_LONG = Number.MAX_SAFE_INTEGER;

/** Kafka topic config -> [parser, LogConfig field or null when it is not a log setting]. */
const topicConfigs: Record<string, [Parser, keyof LogConfigInput | null]> = {
  'cleanup.policy': [cleanupPolicy, 'cleanupPolicy'],
  'delete.retention.ms': [integer(0, MAX_LONG), 'deleteRetentionMs'],
  'min.cleanable.dirty.ratio': [ratio, 'minCleanableDirtyRatio'],
  'min.compaction.lag.ms': [integer(0, MAX_LONG), 'minCompactionLagMs'],
  'segment.bytes': [integer(14, 2 ** 31 - 1), 'segmentBytes'],
  'segment.ms': [integer(1, MAX_LONG), 'segmentMs'],
  'segment.jitter.ms': [integer(0, MAX_LONG), 'segmentJitterMs'],
  'segment.index.bytes': [integer(8, 2 ** 31 - 1), 'segmentIndexBytes'],
  'index.interval.bytes': [integer(0, 2 ** 31 - 1), 'indexIntervalBytes'],
  'retention.ms': [integer(-1, MAX_LONG), 'retentionMs'],
  'retention.bytes': [integer(-1, MAX_LONG), 'retentionBytes'],
  'flush.messages': [integer(1, MAX_LONG), 'flushMessages'],
  'flush.ms': [integer(0, MAX_LONG), 'flushMs'],
  'max.message.bytes': [integer(0, 2 ** 31 - 1), 'maxMessageBytes'],
  'message.timestamp.type': [oneOf('CreateTime', 'LogAppendTime'), 'messageTimestampType'],
  'min.insync.replicas': [integer(1, 2 ** 31 - 1), null],
  'unclean.leader.election.enable': [bool, null],
  'compression.type': [oneOf('producer'), null],
};

/** Validates a topic's configs; throws INVALID_CONFIG for an unknown key or a bad value. */
export function validateTopicConfigs(configs: Record<string, string>): void {
  for (const [key, value] of Object.entries(configs)) {
    const entry = topicConfigs[key];
    if (!entry)
      throw new MillraceError(
        'INVALID_CONFIG',
        `unknown topic config '${key}'; known: ${Object.keys(topicConfigs).join(', ')}`,
      );
    entry[0](value, key);
  }
}

/** The log configuration of a topic, from its configs (merged over the broker's defaults by the caller). */
export function topicLogConfig(configs: Record<string, string>): LogConfig {
  const input: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(configs)) {
    const entry = topicConfigs[key];
    if (entry && entry[1] !== null) input[entry[1]] = entry[0](value, key);
  }
  // Kafka's "never" for flush settings is Long.MAX_VALUE: treat it as no explicit flush.
  for (const f of ['flushMessages', 'flushMs'] as const) if (input[f] === MAX_LONG) delete input[f];
  return logConfig(input as LogConfigInput);
}

export function minInsyncReplicas(configs: Record<string, string>, brokerDefault = 1): number {
  const v = configs['min.insync.replicas'];
  return v === undefined ? brokerDefault : (integer(1)(v, 'min.insync.replicas') as number);
}

/** Kafka's ConfigSource values that describe where a config's value comes from. */
export const ConfigSource = { TOPIC: 1, STATIC_BROKER: 4, DEFAULT: 5 } as const;

/** A config's default as Kafka writes it (Long.MAX_VALUE for "never"). */
function kafkaValue(v: unknown): string {
  return v === Number.POSITIVE_INFINITY ? '9223372036854775807' : String(v);
}

/**
 * Every topic config with its value and where it comes from: the topic's own setting, the
 * broker's default (`logDefaults`, min.insync.replicas), or Kafka's default.
 */
export function describeTopicConfigs(
  configs: Readonly<Record<string, string>>,
  brokerDefaults: Readonly<Record<string, string>>,
): Array<{ name: string; value: string; source: number }> {
  const defaults = logConfig({}) as Record<string, unknown>;
  const fallback: Record<string, string> = {
    'unclean.leader.election.enable': 'false',
    'compression.type': 'producer',
  };
  return Object.entries(topicConfigs).map(([name, [, field]]) => {
    if (configs[name] !== undefined) return { name, value: configs[name], source: ConfigSource.TOPIC };
    if (brokerDefaults[name] !== undefined)
      return { name, value: brokerDefaults[name], source: ConfigSource.STATIC_BROKER };
    return { name, value: field ? kafkaValue(defaults[field]) : fallback[name]!, source: ConfigSource.DEFAULT };
  });
}

/** Parses `k=v` pairs as the CLI takes them. */
export function parseConfigPairs(pairs: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new MillraceError('INVALID_CONFIG', `'${pair}' is not key=value`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
