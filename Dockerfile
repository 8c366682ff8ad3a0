# portcullis: one binary on Debian slim. Build: docker build -t portcullis .
# The build stage installs its system packages with the same script as the README's run
# command (`./dev deps serve`), so the two lists cannot drift apart.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY dev ./
RUN ./dev deps serve && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock seed.example.toml ./
COPY src src
COPY migrations migrations
COPY templates templates
COPY demo demo
RUN cargo build --release --locked --bin portcullis

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates libssl3 libxml2 libxmlsec1 libxmlsec1-openssl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /var/lib/portcullis --create-home portcullis
COPY --from=build /src/target/release/portcullis /usr/local/bin/portcullis
USER portcullis
WORKDIR /var/lib/portcullis
ENV PORTCULLIS_LISTEN=0.0.0.0:8080
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/portcullis"]
CMD ["serve"]
