# Build: docker build -t gemini-gateway .
# Run:   docker run -p 7860:7860 -e GEMINI_API_KEYS=... -e PASSWORD=... gemini-gateway
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 gateway
COPY --from=build /src/target/release/gemini-gateway /usr/local/bin/gemini-gateway
COPY --from=build /src/conf/gemini-gateway.yaml /etc/gemini-gateway/gemini-gateway.yaml
USER gateway
ENV HOST=0.0.0.0 PORT=7860
# The admin port (7861) stays on loopback inside the container and is deliberately not exposed.
EXPOSE 7860
ENTRYPOINT ["/usr/local/bin/gemini-gateway", "-c", "/etc/gemini-gateway/gemini-gateway.yaml"]
