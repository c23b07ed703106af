/**
 * Typed request-reply over NATS with protobuf messages. The server side never lets a bad request
 * or a failing handler take the broker down: it answers with an error code and message. Every
 * response type starts with error_code/error_message, so one ErrorResponse fits them all.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import { errors as natsErrors } from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { ErrorCodes, MillraceError, errorNameOf, type ErrorName } from '../../protocol/errors.js';
import { subjects } from '../../protocol/subjects.js';
import { wire } from '../../protocol/wire.js';
import { maxPayload } from './connection.js';

export interface MessageType<I, T> {
  encode(message: I): { finish(): Uint8Array };
  decode(data: Uint8Array): T;
}

interface WithError {
  errorCode?: number | null;
  errorMessage?: string | null;
}

/** Observes every handled request: for the request-rate and duration metrics. */
export type RequestObserver = (api: string, error: ErrorName | 'NONE', seconds: number) => void;

/** A Buffer view (no copy) of message bytes: protobufjs then decodes `bytes` fields as Buffers too. */
export function asBuffer(data: Uint8Array): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

export function errorReply(name: ErrorName, message: string): Uint8Array {
  return wire.ErrorResponse.encode({ errorCode: ErrorCodes[name].code, errorMessage: message }).finish();
}

export class RpcServer {
  private readonly subs: Subscription[] = [];

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly observe: RequestObserver = () => undefined,
  ) {}

  /**
   * Serves `subject`. The handler returns the response, or null for no reply (acks=0). A queue
   * group spreads requests over every server subscribed with the same one.
   */
  handle<Req, ResI>(
    api: string,
    subject: string,
    requestType: MessageType<unknown, Req>,
    responseType: MessageType<ResI, unknown>,
    handler: (request: Req, msg: Msg) => Promise<ResI | null> | ResI | null,
    queue?: string,
  ): void {
    const sub = this.nc.subscribe(subject, {
      queue,
      callback: (err, msg) => {
        if (err) {
          this.logger.warn({ err, subject }, 'subscription error');
          return;
        }
        void this.serve(api, msg, requestType, responseType, handler);
      },
    });
    this.subs.push(sub);
  }

  private async serve<Req, ResI>(
    api: string,
    msg: Msg,
    requestType: MessageType<unknown, Req>,
    responseType: MessageType<ResI, unknown>,
    handler: (request: Req, msg: Msg) => Promise<ResI | null> | ResI | null,
  ): Promise<void> {
    const started = process.hrtime.bigint();
    let outcome: ErrorName | 'NONE' = 'NONE';
    let reply: Uint8Array | null;
    try {
      let request: Req;
      try {
        request = requestType.decode(asBuffer(msg.data));
      } catch (err) {
        throw new MillraceError('INVALID_REQUEST', `cannot decode ${api} request: ${(err as Error).message}`);
      }
      const response = await handler(request, msg);
      reply = response === null ? null : responseType.encode(response).finish();
      const code = response === null ? 0 : ((response as WithError).errorCode ?? 0);
      if (code !== 0) outcome = errorNameOf(code);
    } catch (err) {
      const e = MillraceError.from(err);
      if (!(err instanceof MillraceError)) this.logger.error({ err, api }, 'request handler failed');
      outcome = e.errorName;
      reply = errorReply(e.errorName, e.detail);
    }
    if (reply !== null && msg.reply) {
      const limit = maxPayload(this.nc);
      if (reply.length > limit) {
        outcome = 'MESSAGE_TOO_LARGE';
        reply = errorReply(
          'MESSAGE_TOO_LARGE',
          `${api} response of ${reply.length} bytes exceeds max_payload ${limit}`,
        );
      }
      try {
        msg.respond(reply);
      } catch (err) {
        this.logger.warn({ err, api }, 'cannot send reply');
      }
    }
    this.observe(api, outcome, Number(process.hrtime.bigint() - started) / 1e9);
  }

  async close(): Promise<void> {
    for (const s of this.subs) s.unsubscribe();
    this.subs.length = 0;
  }
}

/**
 * Sends a request and decodes the reply, throwing a MillraceError for a top-level error code,
 * a timeout (REQUEST_TIMED_OUT), no listener (NETWORK_EXCEPTION) or an oversized request.
 */
export async function request<ReqI, Res>(
  nc: NatsConnection,
  subject: string,
  requestType: MessageType<ReqI, unknown>,
  message: ReqI,
  responseType: MessageType<unknown, Res>,
  timeoutMs: number,
  sizes?: MessageSizes,
): Promise<Res> {
  const response = await exchange(nc, subject, requestType, message, responseType, timeoutMs, sizes);
  const { errorCode, errorMessage } = response as WithError;
  if (errorCode) throw MillraceError.fromCode(errorCode, errorMessage || `error from ${subject}`);
  return response;
}

const timeoutObservers = new WeakMap<NatsConnection, (api: string) => void>();

/** Calls `observer` with the API (the subject's last token) of every request on `nc` that times out. */
export function observeRequestTimeouts(nc: NatsConnection, observer: (api: string) => void): void {
  timeoutObservers.set(nc, observer);
}

/** Filled in by a request when given: the bytes it sent and received. */
export interface MessageSizes {
  request: number;
  response: number;
}

/** A request whose reply is returned even when it carries an error code (for replies with data beside it). */
export async function exchange<ReqI, Res>(
  nc: NatsConnection,
  subject: string,
  requestType: MessageType<ReqI, unknown>,
  message: ReqI,
  responseType: MessageType<unknown, Res>,
  timeoutMs: number,
  sizes?: MessageSizes,
): Promise<Res> {
  const data = encodeWithinPayload(nc, requestType, message);
  if (sizes) sizes.request = data.length;
  let reply: Msg;
  try {
    reply = await nc.request(subject, data, { timeout: timeoutMs });
  } catch (err) {
    if (isNoResponders(err)) {
      throw new MillraceError('NETWORK_EXCEPTION', `nothing is listening on ${subject}`, { cause: err });
    }
    if (err instanceof natsErrors.TimeoutError) {
      timeoutObservers.get(nc)?.(subject.slice(subject.lastIndexOf('.') + 1));
      throw new MillraceError('REQUEST_TIMED_OUT', `no reply on ${subject} within ${timeoutMs} ms`);
    }
    throw new MillraceError('NETWORK_EXCEPTION', `request on ${subject} failed: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (sizes) sizes.response = reply.data.length;
  let response: Res;
  try {
    response = responseType.decode(asBuffer(reply.data));
  } catch (err) {
    throw new MillraceError('CORRUPT_MESSAGE', `cannot decode reply from ${subject}: ${(err as Error).message}`);
  }
  return response;
}

/** NATS's "no responders": nothing subscribes to the subject (nats.js wraps it in a RequestError). */
export function isNoResponders(err: unknown): boolean {
  return (
    err instanceof natsErrors.NoRespondersError || (err instanceof natsErrors.RequestError && err.isNoResponders())
  );
}

/** Publishes without waiting for a reply (acks=0). */
export function publish<ReqI>(
  nc: NatsConnection,
  subject: string,
  requestType: MessageType<ReqI, unknown>,
  message: ReqI,
): void {
  const data = encodeWithinPayload(nc, requestType, message);
  nc.publish(subject, data);
}

/** Encodes a request, refusing one the server would reject for exceeding its max_payload. */
function encodeWithinPayload<ReqI>(
  nc: NatsConnection,
  requestType: MessageType<ReqI, unknown>,
  message: ReqI,
): Uint8Array {
  const data = requestType.encode(message).finish();
  const limit = maxPayload(nc);
  if (data.length > limit) {
    throw new MillraceError(
      'RECORD_LIST_TOO_LARGE',
      `request of ${data.length} bytes exceeds the NATS max_payload of ${limit}`,
    );
  }
  return data;
}

/**
 * Whether a broker is gone from NATS: an empty ListOffsets (the cheapest request a broker answers)
 * to its own subject gets "no responders" at once when the process has no subscription left. A
 * broker that is alive, or paused, is not gone (a pause shows as a timeout).
 */
export async function brokerGone(
  nc: NatsConnection,
  cluster: string,
  brokerId: number,
  timeoutMs: number,
): Promise<boolean> {
  try {
    await request(
      nc,
      subjects.brokerApi(cluster, brokerId, 'list_offsets'),
      wire.ListOffsetsRequest,
      { replicaId: -1, topics: [] },
      wire.ListOffsetsResponse,
      timeoutMs,
    );
    return false;
  } catch (err) {
    return err instanceof MillraceError && isNoResponders(err.cause);
  }
}
