# leaseguard container image: built on Debian 12 and run from it as uid 65532 with only the
# shared libraries the binary needs. Both stages start from debian:12-slim, so
# scripts/image.sh can make that one base with mmdebstrap and build this file without any
# container registry; `docker build .` works as well, from Docker Hub's image.
FROM debian:12-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make gcc pkg-config libc6-dev \
      libmicrohttpd-dev libgnutls28-dev libjansson-dev libssl-dev libcurl4-openssl-dev libyaml-dev \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY policy policy
COPY src src
# The top-level CMakeLists.txt adds bench/; LG_BENCH=OFF makes that directory empty.
COPY bench/CMakeLists.txt bench/
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF -DLG_BENCH=OFF \
 && cmake --build /build -j"$(nproc)" \
 && strip /build/leaseguard

FROM debian:12-slim
# The packages of the libraries leaseguard links (scripts/image.sh checks the built image,
# tests/container/run.sh checks this list against the binary's NEEDED entries);
# ca-certificates for the API server's public CAs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libgnutls30 libjansson4 libssl3 libcurl4 libyaml-0-2 ca-certificates \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/debconf/*-old /var/log/apt /var/log/dpkg.log
COPY --from=build /build/leaseguard /usr/bin/leaseguard
COPY policy/default.json /etc/leaseguard/default-policy.json
COPY LICENSE /usr/share/doc/leaseguard/copyright
LABEL org.opencontainers.image.title="leaseguard" \
      org.opencontainers.image.description="Validating admission webhook guarding leader-election Leases" \
      org.opencontainers.image.source="https://github.com/leaseguard/leaseguard" \
      org.opencontainers.image.licenses="Apache-2.0"
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/bin/leaseguard"]
CMD ["serve", "--help"]
