/** Keys for maps of topic-partitions: NUL cannot appear in a topic name, so a key splits back exactly. */
export const tpKey = (topic: string, partition: number): string => `${topic}\u0000${partition}`;

export function parseTpKey(key: string): { topic: string; partition: number } {
  const nul = key.lastIndexOf('\u0000');
  return { topic: key.slice(0, nul), partition: Number(key.slice(nul + 1)) };
}
