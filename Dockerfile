# dockhand: the sidecar image.
#
#   docker build -t dockhand .
#   docker run -d --name dockhand --restart unless-stopped \
#     --read-only --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v /var/run/docker.sock:/var/run/docker.sock:ro \
#     -v /sys/fs/cgroup:/host/sys/fs/cgroup:ro -v /proc:/host/proc:ro \
#     -v dockhand-data:/var/lib/dockhand -p 127.0.0.1:9487:9487 dockhand
#
# The agent runs as uid 10001, not root: it reaches the Docker socket through the socket's group,
# which `--group-add` gives it (the gid differs between hosts, hence the `stat`). The root
# filesystem can be read-only: the agent writes only under the data directory, a volume.
# Its config is /etc/dockhand/dockhand.yaml (deploy/dockhand/container.yaml: the host's cgroup tree and
# /proc under /host); mount your own over it, keeping those keys, or set DOCKHAND_CONFIG.
#
# BASE_IMAGE is the official Node.js image on the current Debian stable. Node 24 is an LTS line
# (maintenance until April 2028) and the agent needs Node >= 20. CI passes a locally imported
# image instead, since it has no registry.
ARG BASE_IMAGE=node:24-trixie-slim

# Compile TypeScript with the dev dependencies.
FROM ${BASE_IMAGE} AS build
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: no install script is needed (ssh2's optional native crypto is for SSH transports,
# which dockhand does not use), and none runs with build privileges.
RUN npm ci --ignore-scripts
COPY tsconfig.json ./
COPY src src
COPY collectors collectors
COPY exporters exporters
COPY config config
RUN npx tsc -p tsconfig.json

# Production dependencies only, installed apart so that the run stage gets node_modules without npm's cache.
FROM ${BASE_IMAGE} AS deps
ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM ${BASE_IMAGE}
# A user of its own, and the data directory it owns: a fresh named volume copies this ownership.
RUN echo 'dockhand:x:10001:10001:dockhand:/var/lib/dockhand:/sbin/nologin' >> /etc/passwd \
 && echo 'dockhand:x:10001:' >> /etc/group \
 && mkdir -p /var/lib/dockhand \
 && chown 10001:10001 /var/lib/dockhand \
 && chmod 0700 /var/lib/dockhand
WORKDIR /app
COPY --from=deps /app/node_modules node_modules
COPY package.json ./
COPY config/default.yaml config/default.yaml
COPY deploy/dockhand/container.yaml /etc/dockhand/dockhand.yaml
COPY --from=build /src/dist/src dist/src
COPY --from=build /src/dist/collectors dist/collectors
COPY --from=build /src/dist/exporters dist/exporters
COPY --from=build /src/dist/config dist/config
# The live page's files (/ui/), served as they are from the repository.
COPY ui ui
# NODE_OPTIONS, MALLOC_ARENA_MAX and MALLOC_MMAP_THRESHOLD_: the agent's V8 flags and environment (src/node-flags.ts says why); `docker run -e` replaces them.
ENV NODE_ENV=production \
    NODE_OPTIONS=--max-semi-space-size=16 \
    MALLOC_ARENA_MAX=2 \
    MALLOC_MMAP_THRESHOLD_=131072 \
    DOCKHAND_CONFIG=/etc/dockhand/dockhand.yaml \
    DOCKHAND_LISTEN=0.0.0.0:9487 \
    DOCKHAND_DATA_DIR=/var/lib/dockhand
VOLUME /var/lib/dockhand
USER 10001:10001
EXPOSE 9487
# Slim images have no curl or wget: the agent's own command asks /healthz, at the listen address of
# the effective config (file, DOCKHAND_LISTEN or DOCKHAND_<PATH> variables), as the agent reads it.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "/app/dist/src/main.js", "healthcheck"]
ENTRYPOINT ["node", "/app/dist/src/main.js"]
