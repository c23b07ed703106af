/**
 * Byte vectors for RecordBatch v2, written out field by field from Kafka's protocol
 * documentation (the "Record Batch" and "Record" sections), and two batches produced by a real
 * Kafka broker (published as test fixtures by the kafkajs project, MIT).
 */

/** Bitwise CRC-32C (reflected polynomial 0x82F63B78): an independent reference for the native one. */
export function referenceCrc32c(data: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of data) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

/** Hex bytes, one field a line, each followed by a `//` comment naming it. */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\/\/.*$/gm, '').replace(/\s+/g, ''), 'hex');

/** Fills in the CRC-32C at byte 17 over attributes..end with the reference implementation. */
function withCrc(batch: Buffer): Buffer {
  batch.writeUInt32BE(referenceCrc32c(batch.subarray(21)), 17);
  return batch;
}

/** One record: null key, value "hello", no headers, CreateTime 1700000000000, no producer. */
export const singleRecordBatch = withCrc(
  hex(`
    0000000000000000  // baseOffset 0
    0000003d          // batchLength 61 (73 bytes - 12)
    ffffffff          // partitionLeaderEpoch -1
    02                // magic 2
    00000000          // crc (filled in)
    0000              // attributes: no compression, CreateTime
    00000000          // lastOffsetDelta 0
    0000018bcfe56800  // baseTimestamp 1700000000000
    0000018bcfe56800  // maxTimestamp
    ffffffffffffffff  // producerId -1
    ffff              // producerEpoch -1
    ffffffff          // baseSequence -1
    00000001          // records 1
    16                // record length 11 (zigzag 22)
    00                // attributes
    00                // timestampDelta 0
    00                // offsetDelta 0
    01                // keyLength -1 (null)
    0a                // valueLength 5
    68656c6c6f        // "hello"
    00                // headers 0
  `),
);

/**
 * Two records at base offset 42, leader epoch 7, producer 1000 epoch 2 sequence 5:
 *  #0 key "k", value null (a tombstone), header { "h": "v" }, timestamp 1700000000000
 *  #1 key null, value of 200 bytes 0xab (a two-byte varint length), no headers, timestamp +300
 */
export const twoRecordBatch = withCrc(
  Buffer.concat([
    hex(`
      000000000000002a  // baseOffset 42
      0000010f          // batchLength 271 (283 - 12)
      00000007          // partitionLeaderEpoch 7
      02                // magic
      00000000          // crc
      0000              // attributes
      00000001          // lastOffsetDelta 1
      0000018bcfe56800  // baseTimestamp
      0000018bcfe5692c  // maxTimestamp = base + 300
      00000000000003e8  // producerId 1000
      0002              // producerEpoch 2
      00000005          // baseSequence 5
      00000002          // records 2
      16                // record 0 length 11: 1+1+1+2+1+1+2+2
      00                // attributes
      00                // timestampDelta 0
      00                // offsetDelta 0
      02 6b             // keyLength 1, "k"
      01                // valueLength -1 (null)
      02                // headers 1
      02 68             // header key length 1, "h"
      02 76             // header value length 1, "v"
      a003              // record 1 length 208 (zigzag 416): 1+2+1+1+2+200+1
      00                // attributes
      d804              // timestampDelta 300 (zigzag 600)
      02                // offsetDelta 1
      01                // keyLength -1
      9003              // valueLength 200 (zigzag 400)
    `),
    Buffer.alloc(200, 0xab),
    hex('00'), // headers 0
  ]),
);

/** A gzip batch with LogAppendTime written by a Kafka broker: one record, key "key-0". */
export const kafkaGzipBatch = Buffer.from([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 113, 0, 0, 0, 0, 2, 228, 195, 36, 165, 0, 9, 0, 0, 0, 0, 0, 0, 1, 115, 237, 245, 255,
  167, 0, 0, 1, 115, 237, 245, 255, 201, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 31, 139,
  8, 0, 0, 0, 0, 0, 0, 19, 11, 99, 96, 96, 224, 202, 78, 173, 212, 53, 112, 40, 75, 204, 41, 77, 213, 53, 208, 53, 50,
  48, 50, 208, 53, 176, 208, 53, 52, 9, 49, 52, 183, 50, 52, 182, 50, 176, 208, 51, 179, 48, 138, 98, 0, 0, 181, 227,
  241, 167, 44, 0, 0, 0,
]);

/** A zstd batch written by Kafka (streaming frame: no content size in the frame header). */
export const kafkaZstdBatch = Buffer.from([
  0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 94, 0, 0, 3, 143, 2, 42, 205, 57, 244, 0, 0, 0, 0, 0, 0, 0, 0, 1, 117, 3, 123, 67,
  83, 0, 0, 1, 117, 3, 123, 67, 83, 255, 255, 255, 255, 255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 40, 181, 47,
  253, 0, 88, 37, 9, 0, 150, 153, 65, 36, 160, 37, 73, 7, 255, 255, 255, 255, 231, 170, 111, 179, 73, 185, 119, 219, 82,
  94, 74, 250, 173, 165, 189, 19, 201, 233, 248, 129, 211, 100, 160, 106, 127, 90, 158, 4, 58, 0, 54, 0, 54, 0, 104, 73,
  78, 62, 236, 69, 119, 140, 177, 228, 76, 202, 187, 71, 74, 156, 58, 192, 23, 215, 96, 31, 79, 63, 39, 85, 148, 104,
  28, 78, 118, 163, 3, 180, 169, 226, 83, 209, 149, 35, 53, 153, 206, 107, 140, 142, 64, 65, 2, 99, 116, 37, 64, 81, 20,
  0, 16, 4, 77, 184, 231, 152, 125, 186, 53, 253, 134, 169, 82, 178, 118, 199, 194, 15, 228, 132, 75, 18, 97, 58, 107,
  122, 30, 58, 48, 117, 51, 162, 230, 118, 83, 82, 53, 55, 23, 11, 148, 80, 121, 120, 169, 150, 25, 202, 212, 232, 26,
  157, 129, 42, 197, 108, 40, 177, 142, 234, 180, 74, 73, 43, 214, 13, 89, 104, 186, 46, 229, 163, 78, 201, 197, 23, 35,
  106, 44, 60, 89, 14, 81, 123, 241, 200, 196, 124, 192, 232, 24, 213, 94, 163, 68, 175, 49, 171, 233, 41, 160, 4, 172,
  60, 28, 57, 99, 110, 180, 28, 133, 201, 228, 146, 215, 220, 170, 248, 82, 206, 20, 45, 145, 147, 73, 235, 227, 133,
  194, 245, 121, 104, 157, 146, 195, 50, 117, 128, 102, 242, 67, 167, 118, 86, 44, 44, 242, 147, 163, 88, 195, 53, 198,
  21, 237, 169, 40, 141, 199, 35, 49, 160, 132, 8, 0, 220, 218, 44, 15, 30, 45, 218, 100, 95, 73, 49, 124, 21, 109, 0,
  43, 70, 43, 93, 140, 67, 127, 67, 136, 2,
]);
