/**
 * The schema registry's core: its state, rebuilt by applying the `_schemas` log in order, and
 * every decision a request needs, returned as records to append (no I/O here).
 *
 * Any number of registry processes share one log. Ids and versions are decided optimistically:
 * a writer reads the log to its end E, decides, and appends a registration that says "based on
 * E"; every reader accepts a registration only if it landed at offset E, so of two writers that
 * raced, the first in the log wins on every instance, and the loser sees its record ignored and
 * tries again. Compaction keeps offsets, and each registration has its own key, so the rule
 * reads the same after compaction. Deletions are updates of an accepted registration's key
 * (soft) or tombstones of it (hard).
 */
import {
  InvalidSchemaError,
  canonical,
  parseSchema,
  readProblems,
  type Parsed,
  type Reference,
  type ResolvedSchema,
  type SchemaType,
} from './schemas.js';

export const COMPATIBILITY_LEVELS = [
  'NONE',
  'BACKWARD',
  'BACKWARD_TRANSITIVE',
  'FORWARD',
  'FORWARD_TRANSITIVE',
  'FULL',
  'FULL_TRANSITIVE',
] as const;
export type CompatibilityLevel = (typeof COMPATIBILITY_LEVELS)[number];

/** An error as Confluent's REST API reports it: an HTTP status and an error_code. */
export class RegistryError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const subjectNotFound = (s: string) => new RegistryError(404, 40401, `Subject '${s}' not found.`);
export const versionNotFound = (v: number | string) => new RegistryError(404, 40402, `Version ${v} not found.`);
export const schemaNotFound = () => new RegistryError(404, 40403, 'Schema not found');

export interface SchemaInput {
  schemaType?: SchemaType;
  schema: string;
  references?: Reference[];
}

export interface SchemaVersion {
  subject: string;
  version: number;
  id: number;
  schemaType: SchemaType;
  schema: string;
  references: Reference[];
  deleted: boolean;
  /** The key of the accepted registration: deletions update or tombstone it. */
  key: string;
}

/** A record of `_schemas`: JSON key and value (null: a tombstone). */
export interface LogRecord {
  key: string;
  value: string | null;
}

interface SchemaKey {
  keytype: 'SCHEMA';
  subject: string;
  version: number;
  proposal: string;
}
interface ConfigKey {
  keytype: 'CONFIG';
  subject: string | null;
}
/** A registration as stored in `_schemas`. */
type SchemaValue = Omit<SchemaVersion, 'key'> & {
  /** Set on registrations: the log end they were decided against (accepted only at that offset). */
  basedOn?: number;
};

const identity = (type: SchemaType, schema: string, refs: Reference[]): string =>
  JSON.stringify([type, canonical(type, schema), refs.map((r) => [r.name, r.subject, r.version])]);

export class RegistryState {
  private readonly subjects = new Map<string, Map<number, SchemaVersion>>();
  /** Every id with a version still stored (soft-deleted ones too), by schema identity and back. */
  private readonly idsByIdentity = new Map<string, number>();
  private readonly schemasById = new Map<number, SchemaVersion>();
  private readonly levels = new Map<string, CompatibilityLevel>();
  private globalLevel: CompatibilityLevel = 'BACKWARD';
  private maxId = 0;
  /** The offset after the last record applied. */
  applied = 0;

  /** Applies one record of the log at `offset`; records are applied in offset order. */
  apply(record: LogRecord, offset: number): void {
    this.applied = offset + 1;
    let key: SchemaKey | ConfigKey;
    try {
      key = JSON.parse(record.key) as SchemaKey | ConfigKey;
    } catch {
      return; // not ours: the log is the registry's, but a stray record must not stop it
    }
    if (key.keytype === 'CONFIG') {
      const subject = key.subject;
      const level = record.value
        ? (JSON.parse(record.value) as { compatibilityLevel: CompatibilityLevel }).compatibilityLevel
        : null;
      if (subject === null) this.globalLevel = level ?? 'BACKWARD';
      else if (level) this.levels.set(subject, level);
      else this.levels.delete(subject);
      return;
    }
    if (key.keytype !== 'SCHEMA') return;
    const versions = this.subjects.get(key.subject);
    const current = versions?.get(key.version);
    if (record.value === null) {
      if (current?.key === record.key) this.remove(current);
      return;
    }
    const v = JSON.parse(record.value) as SchemaValue;
    if (v.basedOn !== undefined) {
      // A registration: accepted only where it was decided, and only into a free version.
      if (v.basedOn !== offset || current) return;
      const known = this.schemasById.get(v.id);
      if (
        known &&
        identity(known.schemaType, known.schema, known.references) !== identity(v.schemaType, v.schema, v.references)
      )
        return;
    } else if (current && current.key !== record.key) return; // an update of a registration that is not this one
    const { subject, version, id, schemaType, schema, references, deleted } = v;
    this.store({ subject, version, id, schemaType, schema, references: references ?? [], deleted, key: record.key });
  }

  private store(v: SchemaVersion): void {
    let versions = this.subjects.get(v.subject);
    if (!versions) this.subjects.set(v.subject, (versions = new Map()));
    versions.set(v.version, v);
    this.schemasById.set(v.id, v);
    this.idsByIdentity.set(identity(v.schemaType, v.schema, v.references), v.id);
    if (v.id > this.maxId) this.maxId = v.id;
  }

  private remove(v: SchemaVersion): void {
    const versions = this.subjects.get(v.subject)!;
    versions.delete(v.version);
    if (versions.size === 0) this.subjects.delete(v.subject);
    // The id stays while another version (of any subject) holds the same schema.
    const still = [...this.subjects.values()].some((vs) => [...vs.values()].some((o) => o.id === v.id));
    if (!still) {
      this.schemasById.delete(v.id);
      this.idsByIdentity.delete(identity(v.schemaType, v.schema, v.references));
    }
  }

  // ---- reads ----

  subjectNames(includeDeleted = false): string[] {
    return [...this.subjects]
      .filter(([, vs]) => includeDeleted || [...vs.values()].some((v) => !v.deleted))
      .map(([s]) => s)
      .sort();
  }

  versionsOf(subject: string, includeDeleted = false): SchemaVersion[] {
    const all = [...(this.subjects.get(subject)?.values() ?? [])].sort((a, b) => a.version - b.version);
    const live = all.filter((v) => includeDeleted || !v.deleted);
    if (live.length === 0) throw subjectNotFound(subject);
    return live;
  }

  /** A version by number, or 'latest' / -1. */
  version(subject: string, version: string | number, includeDeleted = false): SchemaVersion {
    const versions = this.versionsOf(subject, includeDeleted);
    if (version === 'latest' || Number(version) === -1) return versions.at(-1)!;
    const n = Number(version);
    if (!Number.isInteger(n) || n < 1)
      throw new RegistryError(422, 42202, `The specified version '${version}' is not a valid version id.`);
    const found = versions.find((v) => v.version === n);
    if (!found) throw versionNotFound(n);
    return found;
  }

  schemaById(id: number): SchemaVersion {
    const found = this.schemasById.get(id);
    if (!found) throw schemaNotFound();
    return found;
  }

  /** Subject and version of every stored registration of an id. */
  usesOf(id: number): Array<{ subject: string; version: number }> {
    this.schemaById(id);
    const out: Array<{ subject: string; version: number }> = [];
    for (const [subject, vs] of this.subjects)
      for (const v of vs.values()) if (v.id === id && !v.deleted) out.push({ subject, version: v.version });
    return out.sort((a, b) => (a.subject === b.subject ? a.version - b.version : a.subject < b.subject ? -1 : 1));
  }

  /** Ids of the schemas whose references name this subject and version. */
  referencedBy(subject: string, version: number): number[] {
    const ids = new Set<number>();
    for (const vs of this.subjects.values())
      for (const v of vs.values())
        if (!v.deleted && v.references.some((r) => r.subject === subject && r.version === version)) ids.add(v.id);
    return [...ids].sort((a, b) => a - b);
  }

  level(subject: string | null, defaultToGlobal = true): CompatibilityLevel | null {
    if (subject === null) return this.globalLevel;
    return this.levels.get(subject) ?? (defaultToGlobal ? this.globalLevel : null);
  }

  // ---- decisions ----

  /** The schema with its references resolved, transitively; 42201 when it does not parse. */
  resolve(input: SchemaInput): { resolved: ResolvedSchema; parsed: Parsed } {
    const type = input.schemaType ?? 'AVRO';
    if (!['AVRO', 'PROTOBUF', 'JSON'].includes(type))
      throw new RegistryError(422, 42201, `Invalid schema type ${String(type)}: AVRO, PROTOBUF or JSON.`);
    if (typeof input.schema !== 'string' || input.schema.length === 0)
      throw new RegistryError(422, 42201, 'Invalid schema: the schema is empty.');
    const references = input.references ?? [];
    const dependencies = new Map<string, string>();
    const visit = (refs: Reference[], depth: number): void => {
      if (depth > 32) throw new RegistryError(422, 42201, 'Invalid schema: references nest too deep (a cycle?).');
      for (const ref of refs) {
        let target: SchemaVersion;
        try {
          target = this.version(ref.subject, ref.version);
        } catch {
          throw new RegistryError(
            422,
            42201,
            `Invalid schema: reference ${ref.name} to ${ref.subject} version ${ref.version} not found.`,
          );
        }
        visit(target.references, depth + 1);
        dependencies.set(ref.name, target.schema);
      }
    };
    visit(references, 0);
    const resolved: ResolvedSchema = { type, schema: input.schema, references, dependencies };
    try {
      return { resolved, parsed: parseSchema(resolved) };
    } catch (err) {
      if (err instanceof InvalidSchemaError) throw new RegistryError(422, 42201, err.message);
      throw err;
    }
  }

  /** The stored version of a subject holding this schema, if any (POST /subjects/{subject}). */
  lookup(subject: string, input: SchemaInput): SchemaVersion {
    const versions = this.versionsOf(subject);
    const want = identity(input.schemaType ?? 'AVRO', input.schema, input.references ?? []);
    const found = versions.find((v) => identity(v.schemaType, v.schema, v.references) === want);
    if (!found) throw schemaNotFound();
    return found;
  }

  /** Why the schema may not follow the subject's versions at `level` (empty: it may). */
  compatibilityProblems(
    subject: string,
    parsed: Parsed,
    level: CompatibilityLevel,
    against?: SchemaVersion[],
  ): string[] {
    if (level === 'NONE') return [];
    let existing = against ?? this.safeVersions(subject);
    if (!level.endsWith('_TRANSITIVE') && against === undefined) existing = existing.slice(-1);
    const problems: string[] = [];
    for (const old of existing) {
      const oldParsed = this.resolve(old).parsed;
      if (level.startsWith('BACKWARD') || level.startsWith('FULL'))
        problems.push(
          ...readProblems(parsed, oldParsed).map((p) => `version ${old.version}: new schema cannot read it: ${p}`),
        );
      if (level.startsWith('FORWARD') || level.startsWith('FULL'))
        problems.push(
          ...readProblems(oldParsed, parsed).map((p) => `version ${old.version}: it cannot read the new schema: ${p}`),
        );
    }
    return problems;
  }

  private safeVersions(subject: string): SchemaVersion[] {
    try {
      return this.versionsOf(subject);
    } catch {
      return [];
    }
  }

  /**
   * Registers a schema under a subject: the existing registration when the subject already has
   * it, else the record to append (accepted if it lands at offset `basedOn`).
   */
  register(
    subject: string,
    input: SchemaInput,
    basedOn: number,
    proposal: string,
  ): { existing: SchemaVersion } | { record: LogRecord; id: number; version: number } {
    validSubject(subject);
    const { resolved, parsed } = this.resolve(input);
    try {
      return { existing: this.lookup(subject, input) };
    } catch (err) {
      if (!(err instanceof RegistryError) || (err.errorCode !== 40403 && err.errorCode !== 40401)) throw err;
    }
    const level = this.level(subject)!;
    const problems = this.compatibilityProblems(subject, parsed, level);
    if (problems.length > 0)
      throw new RegistryError(
        409,
        409,
        `Schema being registered is incompatible with an earlier schema for subject "${subject}" (${level}): ${problems.join('; ')}`,
      );
    const all = [...(this.subjects.get(subject)?.values() ?? [])];
    const version = all.reduce((max, v) => Math.max(max, v.version), 0) + 1;
    const id = this.idsByIdentity.get(identity(resolved.type, resolved.schema, resolved.references)) ?? this.maxId + 1;
    const key: SchemaKey = { keytype: 'SCHEMA', subject, version, proposal };
    const value: SchemaValue = {
      subject,
      version,
      id,
      schemaType: resolved.type,
      schema: resolved.schema,
      references: resolved.references,
      deleted: false,
      basedOn,
    };
    return { record: { key: JSON.stringify(key), value: JSON.stringify(value) }, id, version };
  }

  /** Soft delete (a record marking the version deleted) or hard delete (a tombstone; soft first). */
  deleteVersion(subject: string, version: string | number, permanent: boolean): { version: number; record: LogRecord } {
    const v = this.version(subject, version, true);
    if (!permanent) {
      if (v.deleted)
        throw new RegistryError(
          404,
          40406,
          `Version ${v.version} of subject ${subject} was soft deleted. Set permanent=true to delete it permanently.`,
        );
      const value: SchemaValue = {
        subject: v.subject,
        version: v.version,
        id: v.id,
        schemaType: v.schemaType,
        schema: v.schema,
        references: v.references,
        deleted: true,
      };
      return { version: v.version, record: { key: v.key, value: JSON.stringify(value) } };
    }
    if (!v.deleted)
      throw new RegistryError(
        404,
        40407,
        `Version ${v.version} of subject ${subject} was not deleted first before being permanently deleted.`,
      );
    return { version: v.version, record: { key: v.key, value: null } };
  }

  deleteSubject(subject: string, permanent: boolean): { versions: number[]; records: LogRecord[] } {
    const all = this.versionsOf(subject, true);
    const live = all.filter((v) => !v.deleted);
    if (!permanent) {
      if (live.length === 0)
        throw new RegistryError(
          404,
          40404,
          `Subject '${subject}' was soft deleted. Set permanent=true to delete it permanently.`,
        );
      return {
        versions: live.map((v) => v.version),
        records: live.map((v) => this.deleteVersion(subject, v.version, false).record),
      };
    }
    if (live.length > 0)
      throw new RegistryError(
        404,
        40405,
        `Subject '${subject}' was not deleted first before being permanently deleted.`,
      );
    const records: LogRecord[] = all.map((v) => ({ key: v.key, value: null }));
    if (this.levels.has(subject)) records.push(configRecord(subject, null));
    return { versions: all.map((v) => v.version), records };
  }
}

export function configRecord(subject: string | null, level: CompatibilityLevel | null): LogRecord {
  const key: ConfigKey = { keytype: 'CONFIG', subject };
  return { key: JSON.stringify(key), value: level === null ? null : JSON.stringify({ compatibilityLevel: level }) };
}

export function compatibilityLevel(value: unknown): CompatibilityLevel {
  const level = typeof value === 'string' ? value.toUpperCase() : '';
  if (!(COMPATIBILITY_LEVELS as readonly string[]).includes(level))
    throw new RegistryError(
      422,
      42203,
      `Invalid compatibility level '${String(value)}': one of ${COMPATIBILITY_LEVELS.join(', ')}.`,
    );
  return level as CompatibilityLevel;
}

function validSubject(subject: string): void {
  if (subject.length === 0 || subject.length > 255 || [...subject].some((c) => c.charCodeAt(0) < 32))
    throw new RegistryError(422, 42208, `Invalid subject '${subject}'.`);
}
