/** Compiles shell-style globs (`*`, `?`) into one matcher; an empty list matches nothing. */
export function globMatcher(patterns: readonly string[]): (value: string) => boolean {
  if (patterns.length === 0) return () => false;
  const source = patterns
    .map((p) => p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.'))
    .join('|');
  const regex = new RegExp(`^(?:${source})$`);
  return (value) => regex.test(value);
}
