/**
 * SCRAM credentials in the metadata log, as Kafka's ScramControlManager: upsertions arrive salted
 * (the password never reaches a broker) and are stored as the salt, iterations and the stored and
 * server keys; a pure function of the image and the request.
 */
import { MillraceError, errorFields } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import {
  MAX_ITERATIONS,
  MIN_ITERATIONS,
  scramKeys,
  scramMechanismOf,
  type ScramMechanism,
} from '../../protocol/scram.js';
import type { MetadataImage } from './image.js';
import { del, keys, put, type MetadataRecord, type ScramRecord } from './records.js';
import type { ControlResult } from './replication-control.js';

const KEY_BYTES: Record<ScramMechanism, number> = { 'SCRAM-SHA-256': 32, 'SCRAM-SHA-512': 64 };

function mechanismOf(code: number | null | undefined): ScramMechanism {
  const m = scramMechanismOf(code ?? 0);
  if (!m)
    throw new MillraceError('UNSUPPORTED_SASL_MECHANISM', `SCRAM mechanism ${code} is not 1 (SHA-256) or 2 (SHA-512)`);
  return m;
}

/** Each user's changes are applied together or not at all; one result per user, as Kafka's. */
export function alterScram(
  image: MetadataImage,
  req: millrace.IAlterScramRequest,
): ControlResult<millrace.IAlterScramResponse> {
  const byUser = new Map<string, Array<() => MetadataRecord>>();
  const failed = new Map<string, unknown>();
  const seen = new Set<string>();
  const plan = (
    user: string,
    mechanismCode: number | null | undefined,
    make: (m: ScramMechanism) => MetadataRecord,
  ) => {
    if (failed.has(user)) return;
    try {
      if (!user) throw new MillraceError('UNACCEPTABLE_CREDENTIAL', 'a user name cannot be empty');
      const m = mechanismOf(mechanismCode);
      if (seen.has(`${m}/${user}`))
        throw new MillraceError('DUPLICATE_RESOURCE', `user '${user}' has more than one change of ${m} in the request`);
      seen.add(`${m}/${user}`);
      const record = make(m);
      const list = byUser.get(user) ?? [];
      list.push(() => record);
      byUser.set(user, list);
    } catch (err) {
      failed.set(user, err);
      byUser.delete(user);
    }
  };
  for (const d of req.deletions ?? []) {
    const user = d.user ?? '';
    plan(user, d.mechanism, (m) => {
      if (!image.scram.has(keys.scram(m, user)))
        throw new MillraceError('RESOURCE_NOT_FOUND', `user '${user}' has no ${m} credential to delete`);
      return del(keys.scram(m, user));
    });
  }
  for (const u of req.upsertions ?? []) {
    const user = u.user ?? '';
    plan(user, u.mechanism, (m) => {
      const iterations = u.iterations ?? 0;
      if (iterations < MIN_ITERATIONS || iterations > MAX_ITERATIONS)
        throw new MillraceError(
          'UNACCEPTABLE_CREDENTIAL',
          `${iterations} iterations: ${m} takes ${MIN_ITERATIONS} to ${MAX_ITERATIONS}`,
        );
      const salt = Buffer.from(u.salt ?? []);
      const salted = Buffer.from(u.saltedPassword ?? []);
      if (salt.length === 0) throw new MillraceError('UNACCEPTABLE_CREDENTIAL', 'the salt cannot be empty');
      if (salted.length !== KEY_BYTES[m])
        throw new MillraceError(
          'UNACCEPTABLE_CREDENTIAL',
          `a ${m} salted password is ${KEY_BYTES[m]} bytes, not ${salted.length}`,
        );
      const { storedKey, serverKey } = scramKeys(m, salted);
      const record: ScramRecord = {
        user,
        mechanism: m,
        iterations,
        salt: salt.toString('base64'),
        storedKey: storedKey.toString('base64'),
        serverKey: serverKey.toString('base64'),
      };
      return put(keys.scram(m, user), record);
    });
  }
  const records = [...byUser.values()].flat().map((make) => make());
  const users = [...new Set([...(req.deletions ?? []), ...(req.upsertions ?? [])].map((x) => x.user ?? ''))];
  const results = users.map((user) =>
    failed.has(user) ? { user, ...errorFields(failed.get(user)) } : { user, errorCode: 0, errorMessage: '' },
  );
  return { records, response: { results }, elections: [] };
}

/** Each user's mechanisms and iterations (never the keys); every user when none is named. */
export function describeScram(image: MetadataImage, users: readonly string[]): millrace.IDescribeScramResponse {
  const byUser = new Map<string, millrace.IScramCredentialInfo[]>();
  for (const r of image.scram.values()) {
    const list = byUser.get(r.user) ?? [];
    list.push({ mechanism: r.mechanism === 'SCRAM-SHA-256' ? 1 : 2, iterations: r.iterations });
    byUser.set(r.user, list);
  }
  const wanted = users.length ? [...new Set(users)] : [...byUser.keys()].sort();
  return {
    results: wanted.map((user) => {
      const credentials = byUser.get(user);
      if (!credentials)
        return {
          user,
          ...errorFields(new MillraceError('RESOURCE_NOT_FOUND', `user '${user}' has no SCRAM credential`)),
        };
      return { user, errorCode: 0, credentials };
    }),
  };
}
