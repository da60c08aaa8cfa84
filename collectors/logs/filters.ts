/** Which containers are read, and how their lines are processed. */
import type { ContainerMeta } from '../../src/records.js';
import type { Logger } from '../../src/telemetry/logger.js';
import { globMatcher } from '../../src/util/glob.js';
import type { LogsConfig } from './config.js';
import type { MultilineSettings } from './multiline.js';

export const SKIP_LABEL = 'dockhand.logs';
export const JSON_LABEL = 'dockhand.logs.json';
export const MULTILINE_LABEL = 'dockhand.multiline.pattern';

/** What selectors look at: a container's id, name, image and labels. */
export interface Selectable {
  readonly meta: Pick<ContainerMeta, 'id' | 'name' | 'image'>;
  readonly allLabels: Readonly<Record<string, string>>;
}

interface Selector {
  readonly names: readonly string[];
  readonly images: readonly string[];
  readonly labels: readonly string[];
}

/** Matches a container by name, image or label globs; an empty selector matches nothing. */
export class ContainerSelector {
  private readonly name: (v: string) => boolean;
  private readonly image: (v: string) => boolean;
  private readonly labels: { key: (v: string) => boolean; value: ((v: string) => boolean) | undefined }[];
  readonly empty: boolean;

  constructor(selector: Partial<Selector>) {
    this.name = globMatcher(selector.names ?? []);
    this.image = globMatcher(selector.images ?? []);
    this.labels = (selector.labels ?? []).map((pattern) => {
      const eq = pattern.indexOf('=');
      return eq < 0 ? { key: globMatcher([pattern]), value: undefined } : { key: globMatcher([pattern.slice(0, eq)]), value: globMatcher([pattern.slice(eq + 1)]) };
    });
    this.empty = (selector.names ?? []).length === 0 && (selector.images ?? []).length === 0 && this.labels.length === 0;
  }

  matches(container: Selectable): boolean {
    if (this.empty) return false;
    if (this.name(container.meta.name) || this.image(container.meta.image)) return true;
    for (const rule of this.labels) {
      for (const [key, value] of Object.entries(container.allLabels)) {
        if (rule.key(key) && (rule.value === undefined || rule.value(value))) return true;
      }
    }
    return false;
  }
}

export interface OwnContainer {
  /** Full 64-hex id, when found. */
  readonly id?: string;
  /** 12-hex prefix from HOSTNAME, when that is all there is. */
  readonly shortId?: string;
}

export class ContainerFilter {
  private readonly include: ContainerSelector;
  private readonly exclude: ContainerSelector;

  constructor(config: Pick<LogsConfig, 'include' | 'exclude' | 'exclude_self'>, private readonly own: OwnContainer) {
    this.include = new ContainerSelector(config.include);
    this.exclude = new ContainerSelector(config.exclude);
    if (!config.exclude_self) this.own = {};
  }

  /** Why a container is not read, or undefined when it is. */
  rejects(container: Selectable): string | undefined {
    if (container.allLabels[SKIP_LABEL] === 'false') return `label ${SKIP_LABEL}=false`;
    if (this.isOwn(container.meta.id)) return 'the agent\'s own container';
    if (!this.include.empty && !this.include.matches(container)) return 'not included';
    if (this.exclude.matches(container)) return 'excluded';
    return undefined;
  }

  private isOwn(id: string): boolean {
    if (this.own.id) return id === this.own.id;
    if (this.own.shortId) return id.startsWith(this.own.shortId);
    return false;
  }
}

export interface Processing {
  readonly multiline: MultilineSettings | undefined;
  readonly json: boolean;
}

/** Per-container processing from config rules, overridden by the container's labels. */
export class ProcessingRules {
  private readonly multiline: { selector: ContainerSelector | undefined; settings: MultilineSettings }[];
  private readonly json: ContainerSelector;

  constructor(config: Pick<LogsConfig, 'multiline' | 'json'>, private readonly logger: Logger) {
    this.multiline = config.multiline.map((rule) => ({
      selector: rule.names.length === 0 && rule.images.length === 0 ? undefined : new ContainerSelector({ names: rule.names, images: rule.images }),
      settings: { pattern: new RegExp(rule.pattern), maxLines: rule.max_lines, maxBytes: rule.max_bytes, timeoutMs: rule.timeout_ms },
    }));
    this.json = new ContainerSelector(config.json);
  }

  for(container: Selectable): Processing {
    const labels = container.allLabels;
    const jsonLabel = labels[JSON_LABEL];
    const json = jsonLabel === 'true' ? true : jsonLabel === 'false' ? false : this.json.matches(container);
    return { multiline: this.multilineFor(container), json };
  }

  private multilineFor(container: Selectable): MultilineSettings | undefined {
    const labels = container.allLabels;
    const rule = this.multiline.find((r) => r.selector === undefined || r.selector.matches(container))?.settings;
    const pattern = labels[MULTILINE_LABEL];
    if (pattern === undefined) return rule;
    let regex: RegExp;
    try {
      regex = new RegExp(pattern);
    } catch (error) {
      this.logger.warn({ container: container.meta.name, pattern, err: (error as Error).message }, `ignoring label ${MULTILINE_LABEL}: not a regular expression`);
      return rule;
    }
    const number = (key: string, fallback: number) => {
      const value = Number(labels[`dockhand.multiline.${key}`]);
      return Number.isInteger(value) && value > 0 ? value : fallback;
    };
    return {
      pattern: regex,
      maxLines: number('max_lines', rule?.maxLines ?? 500),
      maxBytes: number('max_bytes', rule?.maxBytes ?? 1024 * 1024),
      timeoutMs: number('timeout_ms', rule?.timeoutMs ?? 1000),
    };
  }
}
