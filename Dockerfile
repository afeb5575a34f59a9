# The one image for both the operator and the gateway: `vmcp operator` and `vmcp serve`.
# Build: docker build -t vmcp:0.1.0 .   (deploy/operator and the operator's default gateway
# image expect that tag; set VMCP_GATEWAY_IMAGE on the operator to use another.)
FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin vmcp

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/vmcp /usr/local/bin/vmcp
USER 65532:65532
EXPOSE 4483
ENTRYPOINT ["/usr/local/bin/vmcp"]
