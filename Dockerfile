# syntax=docker/dockerfile:1
# The one ferrolb image: `ferrolb controller` (Deployment) and
# `ferrolb speaker --node NAME` (DaemonSet) both run it; see deploy/README.md.
#
#   docker build -t ghcr.io/ferrolb/ferrolb:latest .

FROM rust:1-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates crates
# The caches keep crates.io downloads and build artifacts between builds;
# the binary is copied out of the cached target directory.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ferrolb \
    && cp target/release/ferrolb /usr/local/bin/ferrolb

# glibc and libgcc only, no shell, no package manager. The image's user is
# unprivileged (65532); the speaker's DaemonSet runs it as root with all
# capabilities dropped but NET_RAW, NET_ADMIN and NET_BIND_SERVICE.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.source="https://github.com/ferrolb/ferrolb" \
      org.opencontainers.image.description="A load balancer for bare-metal Kubernetes that reads MetalLB's configuration" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /usr/local/bin/ferrolb /usr/local/bin/ferrolb
USER 65532:65532
# Metrics and health; gossip between speakers.
EXPOSE 7472/tcp 7946/udp
ENTRYPOINT ["/usr/local/bin/ferrolb"]
