# OrderSaga's one image: every service is `ordersaga <command>` in it (see docker-compose.yml).
#   docker build -t ordersaga .
#   docker run --rm ordersaga settings

# Build: a release build on the Swift version the README names, with the Swift runtime linked in,
# so the runtime stage needs no Swift image. Linking Foundation's URLSession statically needs
# libcurl's development files (-lcurl); the binary then needs only the libraries installed below.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends librabbitmq-dev libpq-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /build
# The manifest first, so a change to the sources does not fetch the dependencies again.
COPY Package.swift ./
RUN swift package resolve
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --static-swift-stdlib --product ordersaga \
    && swift build -c release --static-swift-stdlib --product saga-status \
    && mkdir /staging \
    && cp "$(swift build -c release --show-bin-path)/ordersaga" "$(swift build -c release --show-bin-path)/saga-status" /staging/ \
    && strip /staging/*

# Run: Debian slim with the two C clients' libraries (and libcurl for Foundation's URLSession,
# which setup and `ordersaga probe` use), as a user that is not root.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends librabbitmq4 libpq5 libcurl4 ca-certificates tzdata \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 ordersaga \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --shell /usr/sbin/nologin ordersaga \
    && install -d -o 10001 -g 10001 /var/lib/ordersaga/mail
# Where the notification worker writes each message (.eml); mount a volume there to keep them.
ENV ORDERSAGA_NOTIFICATION_MAIL_DIRECTORY=/var/lib/ordersaga/mail
WORKDIR /app
COPY --from=build /staging/ /usr/local/bin/
COPY sagas ./sagas
COPY schema ./schema
USER 10001:10001
# The order service's REST API; the workers' /health, /ready and /metrics (catalog … notification).
EXPOSE 8080 9101 9102 9103 9104 9105
ENTRYPOINT ["ordersaga"]
CMD ["--help"]
