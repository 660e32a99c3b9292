# syntax=docker/dockerfile:1
# The one ferrolb image: `ferrolb controller` (Deployment) and
# `ferrolb speaker --node NAME` (DaemonSet) both run it; see deploy/README.md.
#
#   docker build -t ghcr.io/ferrolb/ferrolb:latest .
#
# The binary is static (musl): the image holds it and nothing else.
# scripts/image-binary builds it with the same command and checks it.

FROM rust:1-bookworm AS build
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends musl-tools \
    && rm -rf /var/lib/apt/lists/* \
    && rustup target add x86_64-unknown-linux-musl
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# The caches keep crates.io downloads and build artifacts between builds;
# the binary is copied out of the cached target directory, without its
# debugging sections.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    CC_x86_64_unknown_linux_musl=musl-gcc \
    cargo build --release --locked --target x86_64-unknown-linux-musl -p ferrolb \
    && strip -o /ferrolb target/x86_64-unknown-linux-musl/release/ferrolb

# Nothing but the binary: no shell, no libraries, no package manager. The
# image's user is unprivileged (65532); the speaker's DaemonSet runs it as
# root with all capabilities dropped but NET_RAW, NET_ADMIN and
# NET_BIND_SERVICE.
FROM scratch
LABEL org.opencontainers.image.source="https://github.com/ferrolb/ferrolb" \
      org.opencontainers.image.description="A load balancer for bare-metal Kubernetes that reads MetalLB's configuration" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /ferrolb /usr/local/bin/ferrolb
USER 65532:65532
# Metrics and health; gossip between speakers.
EXPOSE 7472/tcp 7946/udp
ENTRYPOINT ["/usr/local/bin/ferrolb"]
