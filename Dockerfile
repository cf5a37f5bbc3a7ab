# leaseguard container image: built on Debian 12, run from debian:12-slim as a non-root
# user with only the shared libraries the binary needs. The chart's default image
# (ghcr.io/leaseguard/leaseguard) is built from this file.
FROM debian:12 AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make gcc pkg-config libc6-dev \
      libmicrohttpd-dev libgnutls28-dev libjansson-dev libssl-dev libcurl4-openssl-dev libyaml-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY cmake cmake
COPY policy policy
COPY src src
RUN cmake -S . -B /build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
 && cmake --build /build -j"$(nproc)" \
 && strip /build/leaseguard

FROM debian:12-slim
# The packages of the libraries leaseguard links (tests/container/run.sh checks this list
# against the binary's NEEDED entries); ca-certificates for the API server's public CAs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      libmicrohttpd12 libgnutls30 libjansson4 libssl3 libcurl4 libyaml-0-2 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /build/leaseguard /usr/bin/leaseguard
COPY policy/default.json /etc/leaseguard/default-policy.json
USER 65532:65532
EXPOSE 8443
ENTRYPOINT ["/usr/bin/leaseguard"]
CMD ["serve", "--help"]
