export interface RecordHeader {
  key: string;
  value: Buffer | null;
}

/** A record to write. Timestamps are milliseconds since the epoch. */
export interface RecordInput {
  key?: Uint8Array | null;
  /** A string is written as UTF-8 straight into the batch. */
  value: Uint8Array | string | null;
  headers?: readonly RecordHeader[];
  timestamp?: number;
}

/** A record read back; key, value and header values are views into the decoded buffer. */
export interface DecodedRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: RecordHeader[];
}
