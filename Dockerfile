# Build: docker build -t gemini-gateway .
# Run:   docker run -p 7860:7860 -e GEMINI_API_KEYS=... -e PASSWORD=... -v gemini-gateway-data:/data gemini-gateway
# (docs/deploy.md "Docker" and "Hugging Face Spaces")
#
# The stages are in this order on purpose:
#   runtime  the runtime image without the binary: CA roots, the user, /data, env, entrypoint. Its
#            base comes from RUNTIME_BASE. It comes first so that `--target runtime` never needs the
#            Rust image, even with Docker's legacy builder (which builds every stage before the
#            target, used or not).
#   build    compiles the release binaries.
#   (last)   runtime + the compiled binary: what `docker build .` produces.
# scripts/container-check.sh (CI) builds `--target runtime` on a local Debian bookworm base and
# copies in the binaries CI has just built, so what it runs is this image's runtime stage.
ARG RUNTIME_BASE=debian:bookworm-slim

FROM ${RUNTIME_BASE} AS runtime
# /data: store, logs (log.dir "logs" is relative to the working directory) and anything else the
# gateway writes. Owned by uid 10001 and group 0 with group write, so the image also runs under an
# arbitrary uid in group 0 (Hugging Face Spaces, OpenShift) with a read-only root filesystem.
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --gid 0 --home-dir /data --no-create-home gateway \
    && mkdir -p /data && chown 10001:0 /data && chmod 0775 /data
COPY conf/gemini-gateway.yaml /etc/gemini-gateway/gemini-gateway.yaml
USER 10001:0
WORKDIR /data
ENV HOST=0.0.0.0 PORT=7860
VOLUME /data
# The admin port (7861) stays on loopback inside the container and is deliberately not exposed.
EXPOSE 7860
ENTRYPOINT ["/usr/local/bin/gemini-gateway", "-c", "/etc/gemini-gateway/gemini-gateway.yaml"]

FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM runtime
COPY --from=build /src/target/release/gemini-gateway /usr/local/bin/gemini-gateway
