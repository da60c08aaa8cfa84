#!/usr/bin/env bash
# One-shot setup of the example stack (the `setup` service of docker-compose.yml), safe to run again:
# sets the kibana_system password, creates the `dockhand` user with a role that may only write
# dockhand's data streams and indices and install its templates, and imports the Kibana data
# views, saved searches and dashboard once Kibana answers.
set -euo pipefail

: "${ELASTICSEARCH_URL:?}" "${KIBANA_URL:?}" "${ELASTIC_PASSWORD:?}" "${KIBANA_PASSWORD:?}" "${DOCKHAND_ES_PASSWORD:?}"
SAVED_OBJECTS=${SAVED_OBJECTS:-/setup/dockhand-saved-objects.ndjson}
DEADLINE=$((SECONDS + ${SETUP_TIMEOUT_SECONDS:-600}))

# The passwords go into JSON bodies as they are.
for name in KIBANA_PASSWORD DOCKHAND_ES_PASSWORD; do
  [[ ${!name} =~ ^[A-Za-z0-9._~+-]{8,}$ ]] || { echo "setup: $name must be at least 8 letters, digits or ._~+- (openssl rand -hex 16 makes one)" >&2; exit 1; }
done

es() { curl -fsS -u "elastic:${ELASTIC_PASSWORD}" -H 'Content-Type: application/json' "$@"; }

wait_for() { # what command...
  local what=$1; shift
  echo "setup: waiting for $what"
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $DEADLINE ] || { echo "setup: $what did not answer in time" >&2; exit 1; }
    sleep 3
  done
}

wait_for Elasticsearch es "${ELASTICSEARCH_URL}/_cluster/health?wait_for_status=yellow&timeout=5s"

echo "setup: kibana_system password"
es -X POST "${ELASTICSEARCH_URL}/_security/user/kibana_system/_password" -d "{\"password\":\"${KIBANA_PASSWORD}\"}" >/dev/null

echo "setup: role dockhand_writer and user dockhand"
es -X PUT "${ELASTICSEARCH_URL}/_security/role/dockhand_writer" -d '{
  "cluster": ["monitor", "manage_index_templates", "manage_ilm"],
  "indices": [
    {
      "names": ["logs-docker.*", "metrics-docker.*", "dockhand-*"],
      "privileges": ["create_doc", "auto_configure", "create_index", "view_index_metadata"]
    }
  ]
}' >/dev/null
es -X PUT "${ELASTICSEARCH_URL}/_security/user/dockhand" \
  -d "{\"password\":\"${DOCKHAND_ES_PASSWORD}\",\"roles\":[\"dockhand_writer\"],\"full_name\":\"dockhand agent\"}" >/dev/null

wait_for Kibana curl -fsS -u "elastic:${ELASTIC_PASSWORD}" "${KIBANA_URL}/api/status"

echo "setup: Kibana data views, saved searches and dashboard"
result=$(curl -fsS -u "elastic:${ELASTIC_PASSWORD}" -H 'kbn-xsrf: true' \
  -F "file=@${SAVED_OBJECTS}" "${KIBANA_URL}/api/saved_objects/_import?overwrite=true")
case $result in
  *'"success":true'*) echo "setup: done" ;;
  *) echo "setup: the saved objects import failed: $result" >&2; exit 1 ;;
esac
