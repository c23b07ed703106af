import { describe, expect, it } from 'vitest';
import { defaultPartitioner, murmur2, toPositive } from '../../src/client/partitioners.js';

const utf8 = (s: string) => Buffer.from(s, 'utf8');

describe('murmur2 matches Java Kafka', () => {
  it('on the vectors of Kafka UtilsTest.testMurmur2', () => {
    expect(murmur2(utf8('21'))).toBe(-973932308);
    expect(murmur2(utf8('foobar'))).toBe(-790332482);
    expect(murmur2(utf8('a-little-bit-long-string'))).toBe(-985981536);
    expect(murmur2(utf8('a-little-bit-longer-string'))).toBe(-1486304829);
    expect(murmur2(utf8('lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8'))).toBe(-58897971);
    expect(murmur2(Buffer.from([0x61, 0x62, 0x63]))).toBe(479470107);
  });

  it('on vectors published from the Java implementation (Akka cluster sharding)', () => {
    expect(murmur2(utf8('1'))).toBe(-1993445489);
    expect(murmur2(utf8('12'))).toBe(126087238);
    expect(murmur2(utf8('123'))).toBe(-267702483);
    expect(murmur2(utf8('1234'))).toBe(-1614185708);
    expect(murmur2(utf8('12345'))).toBe(-1188365604);
  });

  it('places keys as DefaultPartitioner does and leaves keyless records to stickiness', () => {
    expect(defaultPartitioner({ topic: 't', key: utf8('foobar'), partitionCount: 12 })).toBe(
      toPositive(-790332482) % 12,
    );
    expect(defaultPartitioner({ topic: 't', key: null, partitionCount: 12 })).toBeNull();
  });
});
