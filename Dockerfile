# kfleet worker image: `docker compose up --build` builds it; see
# docker-compose.yml. Two stages on debian:bookworm-slim: the first has the
# compiler and the -dev packages, the second only the shared libraries the
# daemon and its handlers load at run time.

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config \
      librdkafka-dev libhiredis-dev libcjson-dev libcurl4-openssl-dev libmicrohttpd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
# A packager's build: Release, no tests, no test tools. It installs into
# /staging as if into /usr (DESTDIR), so kfleet.pc and the example configs name
# /usr paths. LIBDIR is plain lib, not Debian's lib/<triplet>: the handlers
# land in /usr/lib/kfleet/handlers/, the path config/examples/compose.json
# names.
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DBUILD_TESTING=OFF \
      -DCMAKE_INSTALL_PREFIX=/usr -DCMAKE_INSTALL_LIBDIR=lib \
 && cmake --build build -j"$(nproc)" \
 && DESTDIR=/staging cmake --install build

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      librdkafka1 libhiredis0.14 libcjson1 libcurl4 libmicrohttpd12 \
      ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin kfleet
# The installed tree: /usr/bin/kfleet, /usr/lib/kfleet/handlers/*.so, the
# handler header and kfleet.pc, /usr/share/kfleet/examples/.
COPY --from=build /staging/usr/ /usr/
COPY config/examples/compose.json /etc/kfleet/kfleet.json
USER kfleet
# Metrics and health (/metrics, /healthz) on metrics.listen.
EXPOSE 9464
HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --retries=6 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:9464/healthz || exit 1
ENTRYPOINT ["kfleet"]
CMD ["run", "-c", "/etc/kfleet/kfleet.json"]
