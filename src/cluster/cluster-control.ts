/**
 * Brokers' registrations and liveness (KIP-631), as Kafka's ClusterControlManager, and producer
 * id blocks, as its ProducerIdControlManager. Pure: each function takes the image and returns the
 * records to write and the response. A broker's epoch is the metadata-log sequence of its
 * registration record, so the caller passes the sequence the first record will get.
 */
import { MillraceError } from '../../protocol/errors.js';
import type { millrace } from '../../protocol/generated/millrace.js';
import { replayAll, type MetadataImage } from './image.js';
import { keys, put, type BrokerRecord, type MetadataRecord } from './records.js';
import { partitionsWith, partitionsWithout, type ControlResult } from './replication-control.js';

/** Kafka's ProducerIdsBlock size. */
export const PRODUCER_ID_BLOCK_SIZE = 1000;

/** Fences a broker (or marks it shutting down): its record, then its partitions' changes. */
export function fenceBroker(image: MetadataImage, brokerId: number, shuttingDown: boolean): ControlResult<null> {
  const rec = image.brokers.get(brokerId);
  if (!rec) return { records: [], response: null, elections: [] };
  const records: MetadataRecord[] = [];
  if (!rec.fenced || rec.shuttingDown !== shuttingDown)
    records.push(put(keys.broker(brokerId), { ...rec, fenced: true, shuttingDown }));
  const moved = partitionsWithout(image, brokerId, shuttingDown ? 'controlled_shutdown' : 'fenced');
  return { records: [...records, ...moved.records], response: null, elections: moved.elections };
}

/** A caught-up broker rejoins: its record unfenced, then the offline partitions it can lead. */
export function unfenceBroker(image: MetadataImage, brokerId: number): ControlResult<null> {
  const rec = image.brokers.get(brokerId);
  if (!rec) return { records: [], response: null, elections: [] };
  const record = put(keys.broker(brokerId), { ...rec, fenced: false, shuttingDown: false });
  const back = partitionsWith(replayAll(image, [record], image.version + 1), brokerId);
  return { records: [record, ...back.records], response: null, elections: back.elections };
}

/**
 * Registers a broker, fenced until it heartbeats caught up. A live registration of another
 * process with the same id is refused; an earlier one of this id is fenced first.
 */
export function registerBroker(
  image: MetadataImage,
  req: millrace.IBrokerRegistrationRequest,
  nextSeq: number,
  sessionAlive: (brokerId: number) => boolean,
): ControlResult<millrace.IBrokerRegistrationResponse> {
  const id = req.brokerId ?? -1;
  if (id < 0) throw new MillraceError('INVALID_REQUEST', `broker id ${id} is negative`);
  const existing = image.brokers.get(id);
  if (existing && existing.incarnationId !== req.incarnationId && !existing.fenced && sessionAlive(id))
    throw new MillraceError(
      'DUPLICATE_BROKER_REGISTRATION',
      `broker ${id} is registered by another live process; retry after its session times out`,
    );
  const fenced = existing && !existing.fenced ? fenceBroker(image, id, false) : null;
  const records = fenced?.records ?? [];
  const rec: BrokerRecord = {
    id,
    rack: req.rack || null,
    epoch: nextSeq + records.length,
    incarnationId: req.incarnationId ?? '',
    fenced: true,
    shuttingDown: false,
    kafkaEndpoint: req.kafkaEndpoint || null,
  };
  return {
    records: [...records, put(keys.broker(id), rec)],
    response: { brokerEpoch: rec.epoch },
    elections: fenced?.elections ?? [],
  };
}

/** The broker's registration, or STALE_BROKER_EPOCH when `brokerEpoch` is not its current one. */
export function registeredBroker(image: MetadataImage, brokerId: number, brokerEpoch: number): BrokerRecord {
  const rec = image.brokers.get(brokerId);
  if (!rec || rec.epoch !== brokerEpoch)
    throw new MillraceError('STALE_BROKER_EPOCH', `broker ${brokerId} epoch ${brokerEpoch} is not the registered one`);
  return rec;
}

/**
 * A heartbeat's writes: a controlled shutdown when asked for, an unfence when the broker is
 * caught up and no longer asks to stay fenced. Most heartbeats write nothing.
 */
export function brokerHeartbeat(
  image: MetadataImage,
  req: millrace.IBrokerHeartbeatRequest,
): ControlResult<millrace.IBrokerHeartbeatResponse> {
  const rec = registeredBroker(image, req.brokerId ?? -1, Number(req.brokerEpoch ?? -1));
  const isCaughtUp = Number(req.currentMetadataOffset ?? -1) >= rec.epoch;
  if (req.wantShutdown) {
    const result = rec.shuttingDown ? null : fenceBroker(image, rec.id, true);
    return {
      records: result?.records ?? [],
      elections: result?.elections ?? [],
      response: { isFenced: true, shouldShutdown: true, isCaughtUp },
    };
  }
  if (rec.fenced && !req.wantFence && isCaughtUp) {
    const result = unfenceBroker(image, rec.id);
    return { ...result, response: { isFenced: false, shouldShutdown: false, isCaughtUp } };
  }
  return { records: [], elections: [], response: { isFenced: rec.fenced, shouldShutdown: false, isCaughtUp } };
}

/** Hands a broker the next block of producer ids, recorded in the metadata log so none is reused. */
export function allocateProducerIds(
  image: MetadataImage,
  req: millrace.IAllocateProducerIdsRequest,
): ControlResult<millrace.IAllocateProducerIdsResponse> {
  const brokerId = req.brokerId ?? -1;
  const brokerEpoch = Number(req.brokerEpoch ?? -1);
  registeredBroker(image, brokerId, brokerEpoch);
  const start = image.producerIds?.nextProducerId ?? 0;
  return {
    records: [put(keys.producerIds, { nextProducerId: start + PRODUCER_ID_BLOCK_SIZE, brokerId, brokerEpoch })],
    response: { producerIdStart: start, producerIdLen: PRODUCER_ID_BLOCK_SIZE },
    elections: [],
  };
}
