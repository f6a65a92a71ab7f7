# cluster-client container image: `docker run IMAGE create g1` runs `cluster-client create g1`.
#
# Three stages: `chef` has the toolchain and cargo-chef, `planner` reduces the workspace to a
# dependency recipe, `builder` compiles the dependencies from that recipe in their own layer
# (rebuilt only when Cargo.toml/Cargo.lock change) and then the crate itself. The runtime
# stage is distroless: glibc, libgcc, CA certificates and a nonroot user, with no shell and
# no package manager. The builder is Debian 13 (trixie) like the runtime, so the binary
# never needs a newer glibc than the runtime has.
#
# The builder images are pinned by version tag (rust:1.95.0-slim-trixie, cargo-chef
# 0.1.78). The runtime image is not pinned: distroless publishes no version tags, so
# `cc-debian13:nonroot` floats and picks up Debian security updates with every build. A
# release pipeline that needs reproducible images should pin it by digest
# (FROM gcr.io/distroless/cc-debian13:nonroot@sha256:...), and the rust image too.

FROM rust:1.95.0-slim-trixie AS chef
# Note: cargo-chef comes from crates.io, pinned and --locked; this layer is built once per
# builder image and then cached.
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /build

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS builder
COPY --from=planner /build/recipe.json recipe.json
RUN cargo chef cook --locked --release --recipe-path recipe.json --bin cluster-client
COPY . .
# The journal directory is made here, owned by the runtime user, because the runtime stage
# has no shell to make it with: a named Docker volume mounted there starts out writable.
RUN cargo build --locked --release --bin cluster-client \
    && install -D -m 0755 target/release/cluster-client /out/cluster-client \
    && install -d -m 0750 /out/journal

FROM gcr.io/distroless/cc-debian13:nonroot
LABEL org.opencontainers.image.title="cluster-client" \
      org.opencontainers.image.description="Create, delete and check groups across cluster nodes, all or nothing, with a write-ahead journal" \
      org.opencontainers.image.licenses="MIT OR Apache-2.0"
COPY --from=builder /out/cluster-client /usr/local/bin/cluster-client
COPY --from=builder --chown=65532:65532 /out/journal /var/lib/cluster-client
# The journal sits one directory down, in journal/ which cluster-client creates 0700: the
# mount point of a Kubernetes volume with fsGroup is group-writable, and cluster-client
# refuses a journal directory that anyone else may write.
ENV CLUSTER_CLIENT_HOSTS=/etc/cluster-client/hosts.txt \
    CLUSTER_CLIENT_JOURNAL=/var/lib/cluster-client/journal/journal.json
# Numeric, so that Kubernetes' runAsNonRoot can check it without the image's /etc/passwd.
USER 65532:65532
# A one-shot command-line tool, not a service: there is nothing to probe between runs.
HEALTHCHECK NONE
ENTRYPOINT ["cluster-client"]
CMD ["--help"]
