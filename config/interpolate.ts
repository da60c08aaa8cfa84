/**
 * Environment variables in config values, as Compose and the OpenTelemetry config spec write them:
 * `${NAME}`, `${NAME:-default}` (unset or empty), `${NAME:?message}` (unset or empty is an error),
 * and `$$` for a literal `$`. A `$` followed by anything else is kept as it is.
 *
 * An unset variable without a default is an error, not an empty string (as Vector since 0.37):
 * a silently empty password or URL is the footgun the peers' users report. Applied by the loader
 * to scalar values after the YAML is parsed, never to keys, so a value cannot inject structure.
 */
import YAML from 'yaml';

export interface Substitution {
  readonly text: string;
  /** The variables the value referred to, for messages naming where it came from. */
  readonly variables: readonly string[];
}

/** Why a value could not be substituted; the loader adds the key and the file position. */
export class InterpolationError extends Error {
  override readonly name = 'InterpolationError';
}

const REFERENCE = /^([A-Za-z_][A-Za-z0-9_]*)(?:(:-|:\?)(.*))?$/s;

export function hasReference(value: string): boolean {
  return value.includes('$');
}

export function interpolate(value: string, env: NodeJS.ProcessEnv): Substitution {
  const variables: string[] = [];
  let text = '';
  let from = 0;
  for (;;) {
    const dollar = value.indexOf('$', from);
    if (dollar < 0) break;
    text += value.slice(from, dollar);
    const next = value[dollar + 1];
    if (next === '$') {
      text += '$';
      from = dollar + 2;
    } else if (next === '{') {
      const close = value.indexOf('}', dollar + 2);
      if (close < 0) throw new InterpolationError('a ${ without its closing } (write $$ for a literal $; the value is not shown: it may be a secret)');
      text += resolve(value.slice(dollar + 2, close), env, variables);
      from = close + 1;
    } else {
      text += '$';
      from = dollar + 1;
    }
  }
  return { text: text + value.slice(from), variables };
}

function resolve(expression: string, env: NodeJS.ProcessEnv, variables: string[]): string {
  const match = REFERENCE.exec(expression);
  if (!match || match[3]?.includes('${')) {
    throw new InterpolationError('a ${…} that is not a variable reference: expected ${NAME}, ${NAME:-default} or ${NAME:?message} (nesting is not supported; write $$ for a literal $; the value is not shown: it may be a secret)');
  }
  const [, name, operator, argument = ''] = match as unknown as [string, string, string | undefined, string | undefined];
  variables.push(name);
  const value = env[name];
  if (value !== undefined && (value !== '' || operator === undefined)) return value;
  if (operator === ':-') return argument;
  if (operator === ':?') throw new InterpolationError(`${name} is not set${value === '' ? ' (empty)' : ''}: ${argument || 'a value is required'}`);
  throw new InterpolationError(`${name} is not set (write \${${name}:-default} to give a default)`);
}

/**
 * A plain YAML scalar read with the YAML 1.2 core schema, as the parser reads the file: null,
 * booleans, integers (decimal, 0o, 0x), floats, else the text. Only scalars: `[a, b]` stays text.
 */
export function yamlScalar(text: string): unknown {
  if (/^(?:~|null|Null|NULL)?$/.test(text)) return null;
  if (/^(?:true|True|TRUE)$/.test(text)) return true;
  if (/^(?:false|False|FALSE)$/.test(text)) return false;
  if (/^[-+]?[0-9]+$/.test(text)) return Number(text);
  if (/^0o[0-7]+$/.test(text)) return Number.parseInt(text.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(text)) return Number.parseInt(text.slice(2), 16);
  if (/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$/.test(text)) return Number(text);
  if (/^[-+]?\.(?:inf|Inf|INF)$/.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(?:nan|NaN|NAN)$/.test(text)) return Number.NaN;
  return text;
}

/** A flow list or mapping (`[a, b]`, `{k: v}`) with every scalar kept as text, for the caller to type by key. */
export function yamlFlowAsText(text: string): unknown {
  const doc = YAML.parseDocument(text, { schema: 'failsafe' });
  if (doc.errors.length > 0) throw new InterpolationError(`not a YAML flow list or mapping: ${doc.errors[0]!.code} at character ${(doc.errors[0]!.pos[0] ?? 0) + 1} (the value is not shown: it may hold a secret)`);
  return doc.toJS();
}
