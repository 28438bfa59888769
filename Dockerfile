# callbot service image. Build: docker build -t callbot .
# Not built on the machine it was written on (no Docker there): checked by reading.
FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/callbot
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY callbot ./callbot
COPY protos ./protos
RUN /opt/callbot/bin/pip install . \
    && /opt/callbot/bin/pip install "aio-pika==10.2.1"

FROM python:3.11-slim-bookworm
RUN useradd --system --uid 10001 --home-dir /var/lib/callbot callbot \
    && mkdir -p /var/lib/callbot /etc/callbot \
    && chown callbot /var/lib/callbot
COPY --from=build /opt/callbot /opt/callbot
COPY examples /opt/callbot-share/examples
COPY schemas /opt/callbot-share/schemas
ENV PATH=/opt/callbot/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    OMP_NUM_THREADS=1 \
    CALLBOT_GRPC_ADDRESS=0.0.0.0:50051 \
    CALLBOT_METRICS_ADDRESS=0.0.0.0:9464 \
    CALLBOT_RECORDS_DIR=/var/lib/callbot/records \
    CALLBOT_RECORDINGS_DIR=/var/lib/callbot/recordings \
    CALLBOT_EXPORT_SPOOL_DIR=/var/lib/callbot/spool \
    CALLBOT_EXPORT_JSONL_DIR=/var/lib/callbot/export
USER callbot
WORKDIR /var/lib/callbot
VOLUME ["/var/lib/callbot"]
# gRPC, metrics, SIP; RTP uses rtp_port_min..max over host networking (docs/operations.md).
EXPOSE 50051/tcp 9464/tcp 5060/udp 5060/tcp
STOPSIGNAL SIGTERM
ENTRYPOINT ["callbot"]
CMD ["serve"]
