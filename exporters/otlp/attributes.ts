/**
 * OTLP attributes and values (common/v1: KeyValue, AnyValue) and the resource of a container, with
 * the semantic conventions' container attributes.
 */
import type { ContainerMeta } from '../../src/records.js';
import type { Fill, OtlpWriter } from './wire.js';

export type AttributeValue = string | boolean | number | bigint | readonly string[];
export type Attributes = readonly (readonly [string, AttributeValue])[];

const COMPOSE_SERVICE = 'com.docker.compose.service';
const COMPOSE_PROJECT = 'com.docker.compose.project';

/** KeyValue list in `field` (`attributes` in every message that has one). */
export function writeAttributes(w: OtlpWriter, field: number, attributes: Attributes): void {
  if (attributes.length === 0) return;
  w.repeated(field, 'attributes', (item) => {
    for (const [key, value] of attributes) item((kv) => writeKeyValue(kv, key, value));
  });
}

/** An attribute that is the same on many records: encoded once per writer kind (write it with `item(attribute.fill, attribute)`). */
export class ConstantAttribute {
  readonly fill: Fill;
  constructor(readonly key: string, readonly value: AttributeValue) {
    this.fill = (kv) => writeKeyValue(kv, key, value);
  }
}

/** KeyValue { key = 1, value = 2 }. */
export function writeKeyValue(w: OtlpWriter, key: string, value: unknown): void {
  w.string(1, 'key', key);
  w.message(2, 'value', (v) => writeAnyValue(v, value));
}

/**
 * An AnyValue of a JavaScript value (parsed JSON included): strings, booleans, safe integers as
 * int_value, other numbers as double_value, arrays and objects nested; null and undefined leave it empty.
 */
export function writeAnyValue(w: OtlpWriter, value: unknown): void {
  switch (typeof value) {
    case 'string': w.string(1, 'stringValue', value); return;
    case 'boolean': w.bool(2, 'boolValue', value); return;
    case 'bigint': w.int64(3, 'intValue', BigInt.asIntN(64, value)); return;
    case 'number':
      if (Number.isSafeInteger(value)) w.int64(3, 'intValue', value);
      else w.double(4, 'doubleValue', value);
      return;
    case 'object':
      if (value === null) return;
      if (Array.isArray(value)) {
        w.message(5, 'arrayValue', (array) => array.repeated(1, 'values', (item) => {
          for (const element of value) item((v) => writeAnyValue(v, element));
        }));
        return;
      }
      w.message(6, 'kvlistValue', (list) => list.repeated(1, 'values', (item) => {
        for (const [key, element] of Object.entries(value as Record<string, unknown>)) item((kv) => writeKeyValue(kv, key, element));
      }));
      return;
    default:
      // Functions and symbols do not come out of JSON.parse; nothing to write.
  }
}

/** `repo/name` and `tag` of an image reference (`name:tag`, `name@sha256:…`, `host:5000/name:tag`); tag undefined when none is named. */
export function splitImage(image: string): { name: string; tag: string | undefined } {
  const at = image.indexOf('@');
  const ref = at >= 0 ? image.slice(0, at) : image;
  const colon = ref.lastIndexOf(':');
  if (colon > ref.lastIndexOf('/')) return { name: ref.slice(0, colon), tag: ref.slice(colon + 1) };
  return { name: ref, tag: at >= 0 ? undefined : 'latest' };
}

/**
 * The resource attributes of a container: the semantic conventions' container.*, host.name,
 * service.name (the compose service when labelled, else the container name), service.namespace
 * (the compose project), and every shipped (allow-listed) label as container.label.<key>.
 */
export function containerResource(container: ContainerMeta): Attributes {
  const name = container.name.replace(/^\//, '');
  const image = splitImage(container.image);
  const labels = container.labels;
  const attributes: [string, AttributeValue][] = [
    ['container.id', container.id],
    ['container.name', name],
    ['container.runtime.name', 'docker'],
    // Deprecated for container.runtime.name, and still what receivers on older conventions look for.
    ['container.runtime', 'docker'],
    ['host.name', container.host],
    ['service.name', labels[COMPOSE_SERVICE] || name],
  ];
  if (image.name) attributes.push(['container.image.name', image.name]);
  if (image.tag) attributes.push(['container.image.tags', [image.tag]]);
  if (labels[COMPOSE_PROJECT]) attributes.push(['service.namespace', labels[COMPOSE_PROJECT]]);
  for (const [key, value] of Object.entries(labels)) attributes.push([`container.label.${key}`, value]);
  return attributes;
}

/** The resource of records about no container (daemon, image, network events): the host alone. */
export function hostResource(host: string): Attributes {
  return [['host.name', host], ['service.name', 'docker']];
}

/** Resource { attributes = 1 }, encoded once per container (or host) and reused. */
export function writeResource(w: OtlpWriter, field: number, key: object, attributes: () => Attributes): void {
  w.cached(field, 'resource', key, (r) => writeAttributes(r, 1, attributes()));
}

/** InstrumentationScope { name = 1, version = 2 }: dockhand itself. */
export function writeScope(w: OtlpWriter, field: number, version: string): void {
  w.message(field, 'scope', (s) => {
    s.string(1, 'name', 'dockhand');
    if (version) s.string(2, 'version', version);
  });
}
