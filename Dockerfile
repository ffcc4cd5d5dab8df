# mcphub container image.
#
#   docker build --build-arg VERSION="$(git describe --tags --always --dirty)" -t mcphub .
#   export MCPHUB_API_TOKEN="$(openssl rand -hex 32)"
#   docker run --rm -p 127.0.0.1:9000:9000 --stop-timeout 20 -e MCPHUB_API_TOKEN mcphub
#
# The hub listens on 0.0.0.0:9000 in the container, and it refuses a
# non-loopback address without authentication: set MCPHUB_API_TOKEN (or put
# auth.tokens in your config), or it exits at once with "insecure
# configuration". GET /readyz and GET /mcp_hub/health need no token.
# Mount your own config over /etc/mcphub/mcp_servers.yaml; the one shipped
# runs the example server. test/deploy/deploy_test.go runs this file's build
# commands without Docker (and lints it).

# Build stage: the Go version is go.mod's minor, at a pinned patch. It runs on
# the build machine's platform and cross-compiles (cheap in Go) rather than
# running the compiler under emulation for other platforms.
FROM --platform=$BUILDPLATFORM golang:1.26.8-trixie AS build
WORKDIR /src
# Modules in their own layer: it is rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
# Set by BuildKit from --platform; empty means the build machine's.
ARG TARGETOS
ARG TARGETARCH
# Static binaries (no cgo, so no libc dependency), without local paths,
# symbol table or DWARF, nor gin's msgpack codec (the API is JSON only):
# the Makefile's BUILDFLAGS and LDFLAGS; change both together. -X main.version is what --version prints. There is
# no .git in the build context (.dockerignore), so no commit is stamped:
# give VERSION from `git describe`, which names the commit.
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
      go build -trimpath -tags nomsgpack -ldflags "-s -w -X main.version=${VERSION}" -o /out/mcphub ./cmd/mcphub && \
    CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH \
      go build -trimpath -ldflags "-s -w" -o /out/example-server ./cmd/example-server

# Runtime stage: Debian slim, not distroless or scratch. The hub starts stdio
# MCP servers as child processes, and those are usually Node.js (npx) or
# Python (uvx) programs: a derived image adds them with apt-get or npm, which
# distroless cannot do, and Debian's glibc runs their prebuilt native modules,
# which Alpine's musl often cannot. trixie is Debian's current stable release.
FROM debian:trixie-slim

# tini is PID 1: it forwards SIGTERM and SIGINT to the hub, and it reaps the
# orphans of stdio servers (npx -> sh -> node, once a parent exits) that would
# otherwise stay zombies. -s makes it a child subreaper, so it still reaps
# when it is not PID 1 (docker run --init, a Kubernetes pod that shares its
# process namespace). Not -g, which signals the hub's whole process group:
# the hub's stdio children are not in it (each has a group of its own, which
# the hub stops itself once in-flight calls finish: stdin closed, SIGTERM,
# then SIGKILL), so -g would reach them no sooner, only whatever helper the
# hub runs at that moment (a ${cmd:...} placeholder during a reload).
# Versions are not pinned (hadolint DL3008): a stable release changes only
# for fixes, and a pin would break the build at the next security update.
# hadolint ignore=DL3008
RUN apt-get update && \
    apt-get install -y --no-install-recommends ca-certificates tini && \
    rm -rf /var/lib/apt/lists/* && \
    groupadd --system --gid 65532 mcphub && \
    useradd --system --no-log-init --uid 65532 --gid 65532 \
      --home-dir /var/lib/mcphub --create-home --shell /usr/sbin/nologin mcphub

COPY --from=build /out/mcphub /out/example-server /usr/local/bin/
COPY deploy/docker/mcp_servers.yaml /etc/mcphub/mcp_servers.yaml

ARG VERSION=dev
LABEL org.opencontainers.image.title="mcphub" \
      org.opencontainers.image.description="Gateway for the Model Context Protocol: MCP servers behind one REST and MCP endpoint" \
      org.opencontainers.image.source="https://github.com/mcphub/mcphub" \
      org.opencontainers.image.version="${VERSION}"

# A numeric user, so that Kubernetes' runAsNonRoot can check it. Its home is
# the working directory: npx and uvx keep their caches there.
USER 65532:65532
WORKDIR /var/lib/mcphub
EXPOSE 9000
# No HEALTHCHECK: the image has no HTTP client. Orchestrators probe over HTTP
# themselves: GET /readyz (readiness) and GET /mcp_hub/health (liveness)
# need no token.
# docker stop waits 10 s before SIGKILL by default, the hub up to 15 s to
# stop gracefully: run with --stop-timeout 20 (compose: stop_grace_period).
ENTRYPOINT ["/usr/bin/tini", "-s", "--", "/usr/local/bin/mcphub"]
CMD ["-c", "/etc/mcphub/mcp_servers.yaml", "--listen", "0.0.0.0:9000"]
