/**
 * Just enough of Elasticsearch's mapping behaviour for the test server to refuse documents the way a
 * real cluster would: explicit types from templates are enforced, unknown fields are mapped
 * dynamically from their first value (so a later document with a conflicting type fails), `strict`
 * objects refuse new fields, `constant_keyword` takes one value, `flattened` and disabled objects
 * take anything.
 */

export interface FieldMapping {
  type?: string;
  properties?: Record<string, FieldMapping>;
  dynamic?: boolean | 'true' | 'false' | 'strict' | 'runtime';
  enabled?: boolean;
  value?: unknown;
  [other: string]: unknown;
}

export interface RootMapping {
  dynamic?: FieldMapping['dynamic'];
  date_detection?: boolean;
  properties: Record<string, FieldMapping>;
  [other: string]: unknown;
}

/** A document the mapping refuses; `type` is the Elasticsearch exception type answered per item. */
export class MappingError extends Error {
  constructor(readonly type: string, reason: string) {
    super(reason);
  }
}

const INTEGER_TYPES = new Set(['long', 'integer', 'short', 'byte', 'unsigned_long']);
const FLOAT_TYPES = new Set(['double', 'float', 'half_float', 'scaled_float']);
const STRING_TYPES = new Set(['keyword', 'text', 'match_only_text', 'wildcard', 'ip', 'version']);
const DATE_TYPES = new Set(['date', 'date_nanos']);
// strict_date_optional_time, ES's first dynamic date format.
const ISO_DATE = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)?(?:Z|[+-]\d{2}:?\d{2})?$/;
const DATE_NANOS_MAX_MS = Date.parse('2262-04-11T23:47:16.854Z');

export function emptyMapping(): RootMapping {
  return { properties: {} };
}

/** Deep-merges template mappings the way composable templates do: later sources win per field. */
export function mergeMappings(...sources: readonly (Record<string, unknown> | undefined)[]): RootMapping {
  const root: RootMapping = emptyMapping();
  for (const source of sources) {
    if (!source) continue;
    mergeInto(root as unknown as Record<string, unknown>, structuredClone(source));
  }
  if (!root.properties) root.properties = {};
  return root;
}

function mergeInto(target: Record<string, unknown>, source: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(source)) {
    const existing = target[key];
    if (key === 'dynamic_templates' && Array.isArray(existing) && Array.isArray(value)) target[key] = mergeDynamicTemplates(existing, value);
    else if (isPlainObject(existing) && isPlainObject(value)) mergeInto(existing, value);
    else target[key] = value;
  }
}

/** Composed templates' dynamic templates are merged by name, as Elasticsearch does: a later one of the same name replaces it in place, others are appended. */
function mergeDynamicTemplates(existing: unknown[], added: unknown[]): unknown[] {
  const merged = [...existing];
  const nameOf = (entry: unknown) => (isPlainObject(entry) ? Object.keys(entry)[0] : undefined);
  for (const entry of added) {
    const at = merged.findIndex((e) => nameOf(e) === nameOf(entry));
    if (at >= 0) merged[at] = entry;
    else merged.push(entry);
  }
  return merged;
}

/**
 * Checks `doc` against `mapping` and adds dynamic fields to `mapping` in place, as indexing does.
 * Throws MappingError for what Elasticsearch would refuse. `parseErrorType` is the exception type of
 * field parse failures (document_parsing_exception since 8.x, mapper_parsing_exception before).
 */
export function applyMapping(mapping: RootMapping, doc: Record<string, unknown>, docId: string, parseErrorType: string): void {
  const ctx: WalkContext = { docId, parseErrorType, dateDetection: mapping.date_detection !== false, additions: [], constants: [] };
  walkObject(ctx, mapping.properties, normaliseDynamic(mapping.dynamic), '', doc);
  // Dynamic fields join the mapping only once the whole document passed, as a refused one adds none.
  for (const [properties, name, field] of ctx.additions) properties[name] ??= field;
  for (const [field, value] of ctx.constants) field.value ??= value;
}

interface WalkContext {
  readonly docId: string;
  readonly parseErrorType: string;
  readonly dateDetection: boolean;
  readonly additions: [Record<string, FieldMapping>, string, FieldMapping][];
  readonly constants: [FieldMapping, string][];
}

function lookup(ctx: WalkContext, properties: Record<string, FieldMapping>, name: string): FieldMapping | undefined {
  const known = properties[name];
  if (known) return known;
  for (const [props, added, field] of ctx.additions) if (props === properties && added === name) return field;
  return undefined;
}

function add(ctx: WalkContext, properties: Record<string, FieldMapping>, name: string, field: FieldMapping): FieldMapping {
  ctx.additions.push([properties, name, field]);
  return field;
}

type Dynamic = 'true' | 'false' | 'strict' | 'runtime';

function normaliseDynamic(value: FieldMapping['dynamic'], inherited: Dynamic = 'true'): Dynamic {
  if (value === undefined) return inherited;
  if (value === true) return 'true';
  if (value === false) return 'false';
  return value;
}

function walkObject(ctx: WalkContext, properties: Record<string, FieldMapping>, dynamic: Dynamic, parentPath: string, object: Record<string, unknown>): void {
  for (const [rawKey, value] of Object.entries(object)) {
    // A dotted key is an object path to Elasticsearch: {"a.b": 1} is {"a": {"b": 1}}.
    const parts = rawKey.split('.');
    let props = properties;
    let dyn = dynamic;
    let path = parentPath;
    let skip = false;
    for (let i = 0; i < parts.length - 1; i++) {
      const part = parts[i]!;
      path = path ? `${path}.${part}` : part;
      let child = lookup(ctx, props, part);
      if (!child) {
        if (dyn === 'strict') throw strictError(part, parentOf(path));
        if (dyn === 'false' || dyn === 'runtime') { skip = true; break; }
        child = add(ctx, props, part, { properties: {} });
      }
      if (child.type !== undefined && child.type !== 'object') {
        if (child.type === 'flattened' || child.enabled === false) { skip = true; break; }
        throw new MappingError(ctx.parseErrorType, `Could not dynamically add mapping for field [${path}.${parts.slice(i + 1).join('.')}]. Existing mapping for [${path}] must be of type object but found [${child.type}].`);
      }
      if (child.enabled === false) { skip = true; break; }
      dyn = normaliseDynamic(child.dynamic, dyn);
      child.properties ??= {};
      props = child.properties;
    }
    if (skip) continue;
    const leaf = parts[parts.length - 1]!;
    walkField(ctx, props, dyn, path ? `${path}.${leaf}` : leaf, leaf, value);
  }
}

function walkField(ctx: WalkContext, properties: Record<string, FieldMapping>, dynamic: Dynamic, path: string, name: string, value: unknown): void {
  if (value === null || value === undefined) return;
  if (Array.isArray(value)) {
    for (const element of value) walkField(ctx, properties, dynamic, path, name, element);
    return;
  }
  let field = lookup(ctx, properties, name);
  if (!field) {
    if (dynamic === 'strict') throw strictError(name, parentOf(path));
    if (dynamic === 'false' || dynamic === 'runtime') return;
    field = add(ctx, properties, name, dynamicMappingFor(ctx, value));
  }
  checkValue(ctx, field, dynamic, path, value);
}

function dynamicMappingFor(ctx: WalkContext, value: unknown): FieldMapping {
  if (isPlainObject(value)) return { properties: {} };
  if (typeof value === 'boolean') return { type: 'boolean' };
  if (typeof value === 'number') return { type: Number.isInteger(value) ? 'long' : 'float' };
  if (typeof value === 'string' && ctx.dateDetection && ISO_DATE.test(value) && !Number.isNaN(Date.parse(value.replace(' ', 'T')))) return { type: 'date' };
  return { type: 'text', fields: { keyword: { type: 'keyword', ignore_above: 256 } } };
}

function checkValue(ctx: WalkContext, field: FieldMapping, dynamic: Dynamic, path: string, value: unknown): void {
  const type = field.type ?? 'object';
  if (field.enabled === false || type === 'flattened') return;
  if (type === 'object' || type === 'nested') {
    if (!isPlainObject(value)) {
      throw new MappingError(ctx.parseErrorType, `object mapping for [${path}] tried to parse field [${path}] as object, but found a concrete value`);
    }
    field.properties ??= {};
    walkObject(ctx, field.properties, normaliseDynamic(field.dynamic, dynamic), path, value);
    return;
  }
  if (isPlainObject(value)) throw parseError(ctx, path, type, value);
  if (type === 'constant_keyword') {
    const text = String(value);
    const pending = ctx.constants.find(([f]) => f === field)?.[1];
    const current = field.value ?? pending;
    if (current === undefined) ctx.constants.push([field, text]);
    else if (current !== text) {
      throw new MappingError(ctx.parseErrorType, `[constant_keyword] field [${path}] only accepts values that are equal to the value defined in the mappings [${String(current)}], but got [${text}]`);
    }
    return;
  }
  if (INTEGER_TYPES.has(type) || FLOAT_TYPES.has(type)) {
    const number = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : Number.NaN;
    if (!Number.isFinite(number)) throw parseError(ctx, path, type, value);
    return;
  }
  if (type === 'boolean') {
    if (value === true || value === false || value === 'true' || value === 'false' || value === '') return;
    throw parseError(ctx, path, type, value);
  }
  if (DATE_TYPES.has(type)) {
    const millis = typeof value === 'number' ? value : typeof value === 'string' && ISO_DATE.test(value) ? Date.parse(value.replace(' ', 'T')) : Number.NaN;
    if (Number.isNaN(millis)) throw parseError(ctx, path, type, value);
    if (type === 'date_nanos' && (millis < 0 || millis > DATE_NANOS_MAX_MS)) throw parseError(ctx, path, type, value);
    return;
  }
  if (STRING_TYPES.has(type)) return;
  // Types this emulation does not check (geo_point, ...) accept anything.
}

function parseError(ctx: WalkContext, path: string, type: string, value: unknown): MappingError {
  const preview = typeof value === 'string' ? value : JSON.stringify(value);
  return new MappingError(ctx.parseErrorType, `failed to parse field [${path}] of type [${type}] in document with id '${ctx.docId}'. Preview of field's value: '${preview}'`);
}

function strictError(field: string, parent: string): MappingError {
  return new MappingError('strict_dynamic_mapping_exception', `[1:2] mapping set to strict, dynamic introduction of [${field}] within [${parent || '_doc'}] is not allowed`);
}

function parentOf(path: string): string {
  const dot = path.lastIndexOf('.');
  return dot < 0 ? '' : path.slice(0, dot);
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads a field by dotted path, whether the document nests objects or uses dotted keys. */
export function fieldValues(doc: unknown, path: string): unknown[] {
  if (path === '') return [doc];
  if (Array.isArray(doc)) return doc.flatMap((element) => fieldValues(element, path));
  if (!isPlainObject(doc)) return [];
  const out: unknown[] = [];
  const parts = path.split('.');
  for (let i = 1; i <= parts.length; i++) {
    const key = parts.slice(0, i).join('.');
    if (!(key in doc)) continue;
    const rest = parts.slice(i).join('.');
    const value = doc[key];
    if (rest === '') out.push(...(Array.isArray(value) ? value : [value]));
    else out.push(...fieldValues(value, rest));
  }
  return out;
}
