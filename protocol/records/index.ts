export * from './batch.js';
export * from './compression.js';
export * from './crc32c.js';
export * from './decode.js';
export * from './encode.js';
export * from './markers.js';
export * from './types.js';
export { Cursor, VarintError, varintSize, writeVarint } from './varint.js';
export { RecordView, readRecord, recordBase, skipRecord, type RecordBase } from './view.js';
