# syntax=docker/dockerfile:1
# The simulator's image: one static binary, the default fixtures and two empty folders; no
# shell, no libc (about 9 MB).
#   docker build -t bland-sms-sim .
#   docker run --rm -p 8790:8790 bland-sms-sim
# packaging/image/build.sh builds the same last stage from a binary built outside (no registry
# needed); the release workflow builds it for linux/amd64 and linux/arm64.

# The builder: Rust on Alpine targets musl, and links statically by default.
FROM docker.io/library/rust:1.95-alpine AS build
RUN apk add --no-cache musl-dev
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin bland-sms-sim \
 && mkdir -p /out/data /out/scenarios \
 && cp target/release/bland-sms-sim fixtures/default.json /out/

# The image. Everything from this line down is also the image packaging/image/context.sh makes.
FROM scratch
COPY --from=build /out/bland-sms-sim /usr/local/bin/bland-sms-sim
# Mount your fixtures over this file; scenarios in /scenarios (with BLAND_SIM_SCENARIOS=/scenarios);
# the state file in a volume at /data (BLAND_SIM_STATE_FILE=/data/state.json).
COPY --from=build /out/default.json /fixtures.json
COPY --from=build /out/scenarios /scenarios
COPY --from=build --chown=65532:65532 /out/data /data
# Every flag is a BLAND_SIM_* variable. The Host check admits the name a compose service or a
# CI service alias gives it: `bland-sms-sim` (set BLAND_SIM_ALLOWED_HOST for another name).
ENV BLAND_SIM_HOST=0.0.0.0 \
    BLAND_SIM_PORT=8790 \
    BLAND_SIM_ALLOWED_HOST=bland-sms-sim \
    BLAND_SIM_FIXTURES=/fixtures.json
EXPOSE 8790
USER 65532:65532
WORKDIR /data
# Follows BLAND_SIM_HOST and BLAND_SIM_PORT, so a changed port stays healthy.
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/bland-sms-sim", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/bland-sms-sim"]
