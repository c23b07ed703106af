/**
 * Topic config changes, as Kafka's ConfigurationControlManager: a pure function of the image and
 * the request, returning the topic records to write (each topic's whole config set, validated
 * as a whole) and a result per topic.
 */
import { MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import type { MetadataImage } from './image.js';
import { keys, put, type MetadataRecord } from './records.js';
import type { ControlResult } from './replication-control.js';
import { validateTopicConfigs } from './topic-config.js';

/** Kafka's IncrementalAlterConfigs operations. */
export const ConfigOps = { SET: 0, DELETE: 1, APPEND: 2, SUBTRACT: 3 } as const;

/** The configs after `ops`: append and subtract treat the value as a comma-separated list. */
export function applyConfigOps(
  configs: Readonly<Record<string, string>>,
  ops: readonly millrace.IConfigOp[],
): Record<string, string> {
  const next = { ...configs };
  for (const o of ops) {
    const name = o.name ?? '';
    const value = o.value ?? '';
    const op = o.op ?? ConfigOps.SET;
    const list = (v: string | undefined) => (v ? v.split(',').map((x) => x.trim()) : []);
    switch (op) {
      case ConfigOps.SET:
        next[name] = value;
        break;
      case ConfigOps.DELETE:
        delete next[name];
        break;
      case ConfigOps.APPEND:
        next[name] = [...new Set([...list(next[name]), ...list(value)])].join(',');
        break;
      case ConfigOps.SUBTRACT: {
        const drop = new Set(list(value));
        const kept = list(next[name]).filter((x) => !drop.has(x));
        if (kept.length) next[name] = kept.join(',');
        else delete next[name];
        break;
      }
      default:
        throw new MillraceError('INVALID_REQUEST', `config operation ${op} on '${name}' is not one of 0-3`);
    }
  }
  return next;
}

export function alterConfigs(
  image: MetadataImage,
  req: millrace.IAlterConfigsRequest,
): ControlResult<millrace.IAlterConfigsResponse> {
  const records: MetadataRecord[] = [];
  const results: millrace.ITopicResult[] = [];
  for (const t of req.topics ?? []) {
    const name = t.topic ?? '';
    try {
      const rec = image.topicRecords.get(name);
      if (!rec) throw new MillraceError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`);
      const configs = applyConfigOps(t.replace ? {} : rec.configs, t.ops ?? []);
      validateTopicConfigs(configs);
      if (!req.validateOnly) records.push(put(keys.topic(name), { ...rec, configs }));
      results.push({ name, errorCode: 0 });
    } catch (err) {
      results.push({ name, ...errorFields(err) });
    }
  }
  return { records, response: { results }, elections: [] };
}
