/**
 * `millrace schema-registry`: Confluent Schema Registry's REST API (v1) over node:http, on the
 * state SchemaLog keeps from `_schemas`. Any number of these serve one cluster with the same
 * ids. Errors are Confluent's: an HTTP status with `{ error_code, message }`.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Millrace } from '../client/index.js';
import {
  RegistryError,
  compatibilityLevel,
  configRecord,
  subjectNotFound,
  type SchemaInput,
  type SchemaVersion,
} from './core.js';
import { SchemaLog } from './log.js';
import { SCHEMA_TYPES } from './schemas.js';

const CONTENT_TYPE = 'application/vnd.schemaregistry.v1+json';
const MAX_BODY_BYTES = 16 * 1024 * 1024;

type Query = URLSearchParams;
type Handler = (params: string[], query: Query, body: unknown) => Promise<unknown> | unknown;

interface Route {
  method: string;
  pattern: RegExp;
  handler: Handler;
}

const flag = (q: Query, name: string): boolean => q.get(name)?.toLowerCase() === 'true';

/** A version as Confluent shows it: schemaType and references only when they say something. */
function shown(v: SchemaVersion): Record<string, unknown> {
  return {
    subject: v.subject,
    version: v.version,
    id: v.id,
    ...(v.schemaType !== 'AVRO' ? { schemaType: v.schemaType } : {}),
    ...(v.references.length > 0 ? { references: v.references } : {}),
    schema: v.schema,
  };
}

function schemaInput(body: unknown): SchemaInput {
  if (!body || typeof body !== 'object')
    throw new RegistryError(422, 42201, 'Invalid schema: the body is not a JSON object with a "schema".');
  const b = body as Record<string, unknown>;
  if (typeof b.schema !== 'string') throw new RegistryError(422, 42201, 'Invalid schema: "schema" must be a string.');
  if (b.references !== undefined && !Array.isArray(b.references))
    throw new RegistryError(422, 42201, 'Invalid schema: "references" must be an array.');
  return {
    schema: b.schema,
    schemaType: (b.schemaType as SchemaInput['schemaType']) ?? 'AVRO',
    references: (b.references as SchemaInput['references']) ?? [],
  };
}

export class SchemaRegistryServer {
  private readonly routes: Route[];

  private constructor(
    private readonly log: SchemaLog,
    private readonly server: Server,
  ) {
    this.routes = this.routeTable();
  }

  /** Reads `_schemas` (creating it) and listens on host:port (port 0: a free one). */
  static async start(client: Millrace, options: { port: number; host?: string }): Promise<SchemaRegistryServer> {
    const log = new SchemaLog(client);
    await log.start();
    const server = createServer();
    const registry = new SchemaRegistryServer(log, server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void registry.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port, options.host ?? '127.0.0.1', resolve);
    });
    return registry;
  }

  get url(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await this.log.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status = 200;
    let payload: unknown;
    try {
      const url = new URL(req.url ?? '/', 'http://registry');
      const route = this.match(req.method ?? 'GET', url.pathname);
      const body = req.method === 'POST' || req.method === 'PUT' ? await readJson(req) : undefined;
      payload = await route.handler(route.params, url.searchParams, body);
    } catch (err) {
      const e =
        err instanceof RegistryError
          ? err
          : new RegistryError(500, 50001, `Error in the backend data store: ${(err as Error).message}`);
      status = e.status;
      payload = { error_code: e.errorCode, message: e.message };
    }
    const text =
      typeof payload === 'string' && status === 200 && req.url?.endsWith('/schema') ? payload : JSON.stringify(payload);
    res.writeHead(status, { 'content-type': CONTENT_TYPE, 'content-length': Buffer.byteLength(text) });
    res.end(text);
  }

  private match(method: string, path: string): { handler: Handler; params: string[] } {
    let pathMatched = false;
    for (const route of this.routes) {
      const m = route.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (route.method === method) return { handler: route.handler, params: m.slice(1).map(decodeURIComponent) };
    }
    throw pathMatched
      ? new RegistryError(405, 405, `HTTP ${method} is not supported on ${path}.`)
      : new RegistryError(404, 404, `HTTP 404 Not Found: ${path}`);
  }

  private routeTable(): Route[] {
    const state = this.log.state;
    const log = this.log;
    const id = (text: string): number => {
      const n = Number(text);
      if (!Number.isInteger(n) || n < 1) throw new RegistryError(404, 40403, 'Schema not found');
      return n;
    };
    const route = (method: string, path: string, handler: Handler): Route => ({
      method,
      pattern: new RegExp(`^${path.replace(/:\w+/g, '([^/]+)')}/?$`),
      handler,
    });
    const setLevel = async (subject: string | null, body: unknown) => {
      const level = compatibilityLevel((body as { compatibility?: unknown } | undefined)?.compatibility);
      await log.serialized(() => log.append([configRecord(subject, level)]));
      return { compatibility: level };
    };
    return [
      route('GET', '', () => ({})),
      route('GET', '/schemas/types', () => [...SCHEMA_TYPES]),
      route('GET', '/mode', () => ({ mode: 'READWRITE' })),
      route('GET', '/schemas/ids/:id', ([i]) => {
        const v = state.schemaById(id(i!));
        const { subject: _s, version: _v, id: _i, ...rest } = shown(v);
        return rest;
      }),
      route('GET', '/schemas/ids/:id/schema', ([i]) => state.schemaById(id(i!)).schema),
      route('GET', '/schemas/ids/:id/versions', ([i]) => state.usesOf(id(i!))),
      route('GET', '/schemas/ids/:id/subjects', ([i]) => [...new Set(state.usesOf(id(i!)).map((u) => u.subject))]),
      route('GET', '/subjects', (_, q) => state.subjectNames(flag(q, 'deleted'))),
      route('GET', '/subjects/:subject/versions', ([s], q) =>
        state.versionsOf(s!, flag(q, 'deleted')).map((v) => v.version),
      ),
      route('POST', '/subjects/:subject/versions', async ([s], _, body) => {
        const input = schemaInput(body);
        const { id: registered } = await log.register(s!, (basedOn, proposal) =>
          state.register(s!, input, basedOn, proposal),
        );
        return { id: registered };
      }),
      route('POST', '/subjects/:subject', async ([s], q, body) => {
        const input = schemaInput(body);
        await log.catchUp();
        if (!state.subjectNames(flag(q, 'deleted')).includes(s!)) throw subjectNotFound(s!);
        return shown(state.lookup(s!, input));
      }),
      route('DELETE', '/subjects/:subject', async ([s], q) =>
        log.serialized(async () => {
          await log.catchUp();
          const { versions, records } = state.deleteSubject(s!, flag(q, 'permanent'));
          await log.append(records);
          return versions;
        }),
      ),
      route('GET', '/subjects/:subject/versions/:version', ([s, v], q) =>
        shown(state.version(s!, v!, flag(q, 'deleted'))),
      ),
      route('GET', '/subjects/:subject/versions/:version/schema', ([s, v]) => state.version(s!, v!).schema),
      route('GET', '/subjects/:subject/versions/:version/referencedby', ([s, v]) =>
        state.referencedBy(s!, state.version(s!, v!).version),
      ),
      route('DELETE', '/subjects/:subject/versions/:version', async ([s, v], q) =>
        log.serialized(async () => {
          await log.catchUp();
          const { version, record } = state.deleteVersion(s!, v!, flag(q, 'permanent'));
          await log.append([record]);
          return version;
        }),
      ),
      route('POST', '/compatibility/subjects/:subject/versions/:version', ([s, v], q, body) => {
        const { parsed } = state.resolve(schemaInput(body));
        const level = state.level(s!)!;
        const problems = state.compatibilityProblems(s!, parsed, level === 'NONE' ? 'BACKWARD' : level, [
          state.version(s!, v!),
        ]);
        return {
          is_compatible: level === 'NONE' || problems.length === 0,
          ...(flag(q, 'verbose') ? { messages: problems } : {}),
        };
      }),
      route('POST', '/compatibility/subjects/:subject/versions', ([s], q, body) => {
        const { parsed } = state.resolve(schemaInput(body));
        const problems = state.compatibilityProblems(s!, parsed, state.level(s!)!);
        return { is_compatible: problems.length === 0, ...(flag(q, 'verbose') ? { messages: problems } : {}) };
      }),
      route('GET', '/config', () => ({ compatibilityLevel: state.level(null) })),
      route('PUT', '/config', (_, __, body) => setLevel(null, body)),
      route('GET', '/config/:subject', ([s], q) => {
        const level = state.level(s!, flag(q, 'defaultToGlobal'));
        if (!level)
          throw new RegistryError(404, 40408, `Subject '${s}' does not have subject-level compatibility configured`);
        return { compatibilityLevel: level };
      }),
      route('PUT', '/config/:subject', ([s], _, body) => setLevel(s!, body)),
      route('DELETE', '/config/:subject', async ([s]) => {
        const level = state.level(s!, false);
        if (!level) throw subjectNotFound(s!);
        await log.serialized(() => log.append([configRecord(s!, null)]));
        return { compatibilityLevel: level };
      }),
    ];
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new RegistryError(413, 413, `The request body exceeds ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk as Buffer);
  }
  if (size === 0) return undefined;
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch (err) {
    throw new RegistryError(422, 42201, `Invalid JSON in the request body: ${(err as Error).message}`);
  }
}
