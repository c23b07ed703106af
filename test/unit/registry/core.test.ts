import { describe, expect, it } from 'vitest';
import { RegistryState, configRecord, type LogRecord } from '../../../src/registry/core.js';

/** A log that applies what is appended to a state, as every registry process does. */
class Log {
  readonly records: Array<LogRecord & { offset: number }> = [];
  append(r: LogRecord): number {
    const offset = this.records.length;
    this.records.push({ ...r, offset });
    return offset;
  }
  /** A fresh state from the log; `compacted` keeps only the last record per key (offsets kept). */
  replay(compacted = false): RegistryState {
    const state = new RegistryState();
    let records = this.records;
    if (compacted) {
      const last = new Map(records.map((r) => [r.key, r.offset]));
      records = records.filter((r) => last.get(r.key) === r.offset && r.value !== null);
    }
    for (const r of records) state.apply(r, r.offset);
    return state;
  }
}

const avro = (fields: Array<{ name: string; type: string; default?: unknown }>) =>
  JSON.stringify({ type: 'record', name: 'Order', fields });

/** Registers the way a registry process does: decide on the log's end, append, keep if accepted. */
function register(
  log: Log,
  state: RegistryState,
  subject: string,
  schema: string,
  schemaType?: 'AVRO' | 'JSON' | 'PROTOBUF',
) {
  const end = log.records.length;
  const decision = state.register(subject, { schema, schemaType }, end, `p${end}`);
  if ('existing' in decision) return decision.existing.id;
  const offset = log.append(decision.record);
  state.apply(log.records[offset]!, offset);
  return decision.id;
}

describe('the registry core', () => {
  it('gives one id per schema across subjects, versions per subject, and finds a registered schema again', () => {
    const log = new Log();
    const state = new RegistryState();
    const v1 = avro([{ name: 'id', type: 'string' }]);
    expect(register(log, state, 'orders-value', v1)).toBe(1);
    // The same schema, spaced differently: the same registration.
    expect(register(log, state, 'orders-value', JSON.stringify(JSON.parse(v1), null, 2))).toBe(1);
    expect(register(log, state, 'returns-value', v1)).toBe(1);
    const v2 = avro([
      { name: 'id', type: 'string' },
      { name: 'total', type: 'double', default: 0 },
    ]);
    expect(register(log, state, 'orders-value', v2)).toBe(2);
    expect(state.versionsOf('orders-value').map((v) => [v.version, v.id])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(state.usesOf(1)).toEqual([
      { subject: 'orders-value', version: 1 },
      { subject: 'returns-value', version: 1 },
    ]);
    expect(state.lookup('orders-value', { schema: v2 }).version).toBe(2);
    expect(() => state.lookup('orders-value', { schema: avro([]) })).toThrow(
      expect.objectContaining({ errorCode: 40403 }),
    );
  });

  it('refuses what the compatibility level forbids, per subject and transitively', () => {
    const log = new Log();
    const state = new RegistryState();
    register(log, state, 's', avro([{ name: 'a', type: 'int' }]));
    // BACKWARD (the default): a new field without a default cannot read old records.
    expect(() =>
      register(
        log,
        state,
        's',
        avro([
          { name: 'a', type: 'int' },
          { name: 'b', type: 'string' },
        ]),
      ),
    ).toThrow(expect.objectContaining({ status: 409 }));
    register(
      log,
      state,
      's',
      avro([
        { name: 'a', type: 'int' },
        { name: 'b', type: 'string', default: '' },
      ]),
    );
    // Removing b again is backward compatible with version 2 only: BACKWARD allows it, BACKWARD_TRANSITIVE too (v1 had no b).
    const dropB = avro([{ name: 'a', type: 'int' }]);
    expect(() => register(log, state, 's', dropB)).not.toThrow();
    // FORWARD: old readers must read the new schema; a changed type breaks that.
    const fwd = configRecord('s', 'FORWARD');
    state.apply(fwd, log.append(fwd));
    expect(() => register(log, state, 's', avro([{ name: 'a', type: 'string' }]))).toThrow(
      /cannot read the new schema/,
    );
    const none = configRecord('s', 'NONE');
    state.apply(none, log.append(none));
    expect(register(log, state, 's', avro([{ name: 'a', type: 'string' }]))).toBeGreaterThan(0);
    expect(state.level('s')).toBe('NONE');
    expect(state.level('other')).toBe('BACKWARD');
  });

  it('judges JSON Schema and Protobuf changes by Confluent’s rules', () => {
    const log = new Log();
    const state = new RegistryState();
    const closed = (props: Record<string, unknown>, required: string[] = []) =>
      JSON.stringify({ type: 'object', properties: props, required, additionalProperties: false });
    register(log, state, 'j', closed({ id: { type: 'string' } }), 'JSON');
    // A new optional property of a closed model: old data never has it, so the new schema reads it.
    expect(register(log, state, 'j', closed({ id: { type: 'string' }, n: { type: 'number' } }), 'JSON')).toBe(2);
    expect(() =>
      register(log, state, 'j', closed({ id: { type: 'string' }, n: { type: 'number' } }, ['n']), 'JSON'),
    ).toThrow(/property n became required/);
    expect(() => register(log, state, 'j', closed({ id: { type: 'integer' }, n: { type: 'number' } }), 'JSON')).toThrow(
      /type string is no longer allowed/,
    );
    register(log, state, 'p', 'syntax = "proto3"; message Order { string id = 1; int32 qty = 2; }', 'PROTOBUF');
    // int32 and int64 share a wire encoding; string and int32 do not.
    expect(() =>
      register(log, state, 'p', 'syntax = "proto3"; message Order { string id = 1; int64 qty = 2; }', 'PROTOBUF'),
    ).not.toThrow();
    expect(() =>
      register(log, state, 'p', 'syntax = "proto3"; message Order { int32 id = 1; int64 qty = 2; }', 'PROTOBUF'),
    ).toThrow(/field 1 changed type/);
    expect(() => register(log, state, 'p', 'syntax = "proto3"; message Other { string id = 1; }', 'PROTOBUF')).toThrow(
      /message Order was removed/,
    );
    expect(() => register(log, state, 'bad', '{"type": "record"', 'AVRO')).toThrow(
      expect.objectContaining({ errorCode: 42201 }),
    );
  });

  it('lets the first of two racing writers win on every replay, compacted or not', () => {
    const log = new Log();
    const a = new RegistryState();
    const b = new RegistryState();
    // Both decide against the same log end, for the same subject.
    const end = log.records.length;
    const da = a.register('s', { schema: avro([{ name: 'a', type: 'int' }]) }, end, 'from-a');
    const db = b.register('s', { schema: avro([{ name: 'b', type: 'int' }]) }, end, 'from-b');
    if ('existing' in da || 'existing' in db) throw new Error('expected two registrations');
    log.append(da.record);
    log.append(db.record);
    for (const state of [log.replay(), log.replay(true)]) {
      expect(state.versionsOf('s').map((v) => [v.version, v.id, v.schema])).toEqual([
        [1, 1, avro([{ name: 'a', type: 'int' }])],
      ]);
    }
    // The loser decides again on the new end and gets the next version and id.
    const after = log.replay();
    const again = after.register(
      's',
      { schema: avro([{ name: 'b', type: 'int', default: 0 }]) },
      log.records.length,
      'from-b-2',
    );
    if ('existing' in again) throw new Error('expected a registration');
    log.append(again.record);
    for (const state of [log.replay(), log.replay(true)])
      expect(state.versionsOf('s').map((v) => [v.version, v.id])).toEqual([
        [1, 1],
        [2, 2],
      ]);
  });

  it('soft deletes, then hard deletes, surviving compaction', () => {
    const log = new Log();
    let state = new RegistryState();
    register(log, state, 's', avro([{ name: 'a', type: 'int' }]));
    register(
      log,
      state,
      's',
      avro([
        { name: 'a', type: 'int' },
        { name: 'b', type: 'int', default: 1 },
      ]),
    );
    expect(() => state.deleteVersion('s', 1, true)).toThrow(expect.objectContaining({ errorCode: 40407 }));
    const soft = state.deleteVersion('s', 1, false);
    state.apply(soft.record, log.append(soft.record));
    expect(state.versionsOf('s').map((v) => v.version)).toEqual([2]);
    expect(state.versionsOf('s', true).map((v) => v.version)).toEqual([1, 2]);
    expect(() => state.deleteVersion('s', 1, false)).toThrow(expect.objectContaining({ errorCode: 40406 }));
    state = log.replay(true);
    expect(state.versionsOf('s', true).map((v) => [v.version, v.deleted])).toEqual([
      [1, true],
      [2, false],
    ]);
    const hard = state.deleteVersion('s', 1, true);
    state.apply(hard.record, log.append(hard.record));
    expect(state.versionsOf('s', true).map((v) => v.version)).toEqual([2]);
    expect(() => state.schemaById(1)).toThrow(expect.objectContaining({ errorCode: 40403 }));
    expect(
      log
        .replay(true)
        .versionsOf('s', true)
        .map((v) => v.version),
    ).toEqual([2]);
    // A whole subject: soft first, then permanently.
    expect(() => state.deleteSubject('s', true)).toThrow(expect.objectContaining({ errorCode: 40405 }));
    for (const r of state.deleteSubject('s', false).records) state.apply(r, log.append(r));
    for (const r of state.deleteSubject('s', true).records) state.apply(r, log.append(r));
    expect(state.subjectNames(true)).toEqual([]);
    expect(log.replay(true).subjectNames(true)).toEqual([]);
  });
});
