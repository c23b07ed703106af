/** Kafka's topic name rules, shared by broker and SDK. Returns why a name is invalid, or null. */
export const MAX_TOPIC_NAME_LENGTH = 249;
const LEGAL = /^[a-zA-Z0-9._-]+$/;

export function topicNameProblem(name: string): string | null {
  if (name.length === 0) return 'topic name is empty';
  if (name === '.' || name === '..') return `topic name cannot be '${name}'`;
  if (name.length > MAX_TOPIC_NAME_LENGTH)
    return `topic name is ${name.length} characters, more than ${MAX_TOPIC_NAME_LENGTH}`;
  if (!LEGAL.test(name)) return `topic name '${name}' may contain only ASCII letters, digits, '.', '_' and '-'`;
  return null;
}
