import { test } from 'node:test';
import assert from 'node:assert/strict';
import { containerLabelName, containerLabels } from '../../exporters/prometheus/labels.js';
import { actionLabel } from '../../exporters/prometheus/event-metrics.js';

test('label names are sanitised as cAdvisor does', () => {
  assert.equal(containerLabelName('com.docker.compose.project'), 'container_label_com_docker_compose_project');
  assert.equal(containerLabelName('my-app/tier:1'), 'container_label_my_app_tier_1');
  assert.equal(containerLabelName('ok_Name9'), 'container_label_ok_Name9');
  assert.equal(containerLabelName('é'), 'container_label__');
});

test('container labels: id, name, image plus allow-listed labels; collisions resolved by sorted key', () => {
  const labels = containerLabels({ id: 'abc', name: 'web', image: 'nginx:1', host: 'h', labels: { 'b.x': 'second', 'a.b': 'one', 'b-x': 'first' } });
  assert.deepEqual(labels, { container_label_a_b: 'one', container_label_b_x: 'first', id: 'abc', name: 'web', image: 'nginx:1' });
  // A label cannot override the identity labels (they are not prefixed, so they never collide).
  assert.equal(containerLabels({ id: 'i', name: 'n', image: 'm', host: 'h', labels: { id: 'evil' } }).id, 'i');
});

test('event action labels have bounded cardinality', () => {
  assert.equal(actionLabel('start'), 'start');
  assert.equal(actionLabel('exec_start: /bin/sh -c echo 1234'), 'exec_start');
  assert.equal(actionLabel('exec_create: ls'), 'exec_create');
  assert.equal(actionLabel('health_status: unhealthy'), 'health_status: unhealthy');
});
