/**
 * deploy/prometheus: the alert rules pass `promtool check rules` and their own `promtool test rules`
 * suite, every rule is tested both firing and not firing, every metric they read is one the agent
 * defines, and the example scrape config loads them.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import { PROMTOOL_BIN } from '../helpers/prometheus.js';
import { knownMetricNames, metricNamesInPromql, repoPath, runTool } from '../helpers/deploy-files.js';

const DIR = repoPath('deploy', 'prometheus');

interface AlertRule { alert: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface RuleFile { groups: { name: string; rules: AlertRule[] }[] }
interface RuleTests { rule_files: string[]; tests: { name?: string; alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] }

const rules = (): AlertRule[] => (YAML.parse(readFileSync(repoPath('deploy/prometheus/alerts.yml'), 'utf8')) as RuleFile).groups.flatMap((g) => g.rules);

test('promtool check rules accepts alerts.yml', async () => {
  const result = await runTool(PROMTOOL_BIN, ['check', 'rules', 'alerts.yml'], { cwd: DIR });
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, new RegExp(`SUCCESS: ${rules().length} rules found`));
});

test('promtool test rules: alerts.test.yml passes', async () => {
  const result = await runTool(PROMTOOL_BIN, ['test', 'rules', 'alerts.test.yml'], { cwd: DIR });
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /SUCCESS/);
});

test('the issue\'s alerts are all there: container down, unhealthy, restarting, OOM-killed, high memory, agent not ready', () => {
  const names = rules().map((r) => r.alert);
  for (const name of ['ContainerDown', 'ContainerUnhealthy', 'ContainerRestarting', 'ContainerOOMKilled', 'ContainerHighMemory', 'DockhandDown', 'DockhandNotReady']) {
    assert.ok(names.includes(name), `${name} missing from alerts.yml (has ${names.join(', ')})`);
  }
  assert.equal(new Set(names).size, names.length, 'alert names must be unique');
});

test('every alert has a severity, a summary and a description', () => {
  for (const rule of rules()) {
    assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, `${rule.alert}: severity`);
    assert.ok(rule.annotations?.summary, `${rule.alert}: summary`);
    assert.ok(rule.annotations?.description, `${rule.alert}: description`);
  }
});

test('every alert is tested firing and not firing', () => {
  const suite = YAML.parse(readFileSync(repoPath('deploy/prometheus/alerts.test.yml'), 'utf8')) as RuleTests;
  assert.deepEqual(suite.rule_files, ['alerts.yml']);
  const cases = suite.tests.flatMap((t) => t.alert_rule_test ?? []);
  for (const { alert } of rules()) {
    const mine = cases.filter((c) => c.alertname === alert);
    assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert}: no test where it fires`);
    assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert}: no test where it stays quiet`);
  }
});

test('alerts read only metrics the agent defines', async () => {
  const known = await knownMetricNames();
  for (const rule of rules()) {
    const used = metricNamesInPromql(rule.expr);
    assert.ok(used.length > 0, `${rule.alert}: no metric found in ${rule.expr}`);
    for (const name of used) assert.ok(known.has(name), `${rule.alert} reads ${name}, which no source file defines`);
  }
});

test('metricNamesInPromql finds selectors, not functions, labels or keywords', () => {
  assert.deepEqual(
    metricNamesInPromql('sum by (name) (rate(container_cpu_usage_seconds_total{name=~"$name", cpu="total"}[5m])) / on (id) group_left (image) container_spec_memory_limit_bytes > 0.9 unless dockhand_ready offset 5m').sort(),
    ['container_cpu_usage_seconds_total', 'container_spec_memory_limit_bytes', 'dockhand_ready'],
  );
});

test('promtool check config accepts the example prometheus.yml, which loads alerts.yml and scrapes dockhand', async () => {
  const result = await runTool(PROMTOOL_BIN, ['check', 'config', 'prometheus.yml'], { cwd: DIR });
  assert.equal(result.code, 0, result.output);
  assert.match(result.output, /1 rule files found/);
  const config = YAML.parse(readFileSync(repoPath('deploy/prometheus/prometheus.yml'), 'utf8')) as { rule_files: string[]; scrape_configs: { job_name: string; static_configs: { targets: string[] }[] }[] };
  assert.deepEqual(config.rule_files, ['alerts.yml']);
  const job = config.scrape_configs.find((j) => j.job_name === 'dockhand');
  assert.ok(job, 'a scrape job named dockhand (the alerts read up{job="dockhand"})');
  assert.deepEqual(job.static_configs.flatMap((s) => s.targets), ['dockhand:9487']);
});
