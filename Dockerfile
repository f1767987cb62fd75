# Dockerfile — ottu-resend as a container: built with the same `make install` as a host
# install (tests/integration/test_ops.sh runs it), run as a non-root user.
#   docker build -t registry.example.com/ottu-resend:0.1.0 .
#   docker run --rm -e OTTU_BASE_URL -e OTTU_API_KEY_FILE=/run/secrets/ottu-api-key \
#     -v "$PWD/key:/run/secrets/ottu-api-key:ro" -v ottu-state:/var/lib/ottu-resend \
#     registry.example.com/ottu-resend:0.1.0 --dry-run /var/lib/ottu-resend/list.csv
# (docs/runbook.md, "Containers and Kubernetes")

FROM debian:bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      build-essential pkg-config ca-certificates \
      libcsv-dev libcurl4-openssl-dev libssl-dev libcjson-dev libmicrohttpd-dev libxlsxwriter-dev \
      libsqlite3-dev libpq-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN make -j2 all && make install DESTDIR=/out PREFIX=/usr/local

FROM debian:bookworm-slim
# Runtime libraries only: the packages behind every library the two programs link
# (the install test checks this list against the binaries).
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates libcsv3 libcurl4 libssl3 libcjson1 libmicrohttpd12 libxlsxwriter4 libsqlite3-0 libpq5 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --user-group --home-dir /var/lib/ottu-resend --no-create-home \
      --shell /usr/sbin/nologin ottu \
 && install -d -m 0700 -o ottu -g ottu /var/lib/ottu-resend
COPY --from=build /out/usr/local/ /usr/local/
# The ledger's default place (${XDG_STATE_HOME}/ottu-resend/ledger.db), the journals and
# the results live on the volume, so they outlive the container.
ENV XDG_STATE_HOME=/var/lib/ottu-resend
VOLUME ["/var/lib/ottu-resend"]
WORKDIR /var/lib/ottu-resend
USER 10001:10001
ENTRYPOINT ["ottu-resend"]
CMD ["--help"]
