/** Markdown tables and number formats for the report. */

export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]) => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  const align = header.map((_, i) => (i === 0 ? '---' : '---:'));
  return [line(header), `|${align.map((a) => ` ${a} `).join('|')}|`, ...rows.map(line)].join('\n');
}

/** 1234567 → "1,234,567". */
export function int(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fixed(n: number | undefined, digits = 1): string {
  return n === undefined || !Number.isFinite(n) ? '–' : n.toFixed(digits);
}

export function mib(bytes: number | undefined): string {
  return bytes === undefined || bytes === 0 ? '–' : `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

export function ratio(value: number | undefined, base: number | undefined): string {
  if (value === undefined || base === undefined || base === 0 || !Number.isFinite(value)) return '–';
  return value / base >= 10 ? `${(value / base).toFixed(0)}×` : `${(value / base).toFixed(2)}`;
}
