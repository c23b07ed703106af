/** Broker-side calls to the active controller, addressed by the epoch the metadata log names. */
import type { NatsConnection } from '@nats-io/transport-node';
import { MillraceError } from '../../protocol/errors.js';
import { subjects, type ControllerApi } from '../../protocol/subjects.js';
import { request, type MessageType } from '../transport/rpc.js';
import type { MetadataImage } from './image.js';

export class ControllerClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly cluster: string,
    private readonly image: () => MetadataImage,
  ) {}

  call<ReqI, Res>(
    api: ControllerApi,
    requestType: MessageType<ReqI, unknown>,
    message: ReqI,
    responseType: MessageType<unknown, Res>,
    timeoutMs: number,
  ): Promise<Res> {
    const controller = this.image().controller;
    if (!controller) return Promise.reject(new MillraceError('NOT_CONTROLLER', 'no active controller yet'));
    return request(
      this.nc,
      subjects.controller(this.cluster, controller.epoch, api),
      requestType,
      message,
      responseType,
      timeoutMs,
    );
  }
}
