/** A small Dockerfile reader for tests: instructions with continuation lines joined and comments dropped. */

export interface Instruction {
  readonly keyword: string;
  readonly args: string;
  /** Index of the build stage (0-based) the instruction belongs to; -1 before the first FROM. */
  readonly stage: number;
}

export function parseDockerfile(text: string): Instruction[] {
  const logical: string[] = [];
  let current = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (current === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue; // a comment inside a continued instruction
    if (line.endsWith('\\')) {
      current += `${line.slice(0, -1).trim()} `;
      continue;
    }
    logical.push(current + line);
    current = '';
  }
  if (current.trim()) logical.push(current.trim());
  let stage = -1;
  return logical.map((line) => {
    const [keyword, ...rest] = line.split(/\s+/);
    const upper = keyword!.toUpperCase();
    if (upper === 'FROM') stage++;
    return { keyword: upper, args: rest.join(' '), stage };
  });
}

/** `ENV A=1 B="x y"` → {A: '1', B: 'x y'} over every ENV of the stage. */
export function envOf(instructions: readonly Instruction[], stage: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const i of instructions.filter((i) => i.keyword === 'ENV' && i.stage === stage)) {
    for (const match of i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      env[match[1]!] = match[2]!.startsWith('"') ? JSON.parse(match[2]!) as string : match[2]!;
    }
  }
  return env;
}
