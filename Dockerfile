# directlive: one node, in-memory store by default (pass --redis redis://... to share state).
FROM python:3.11-slim-bookworm
WORKDIR /app
COPY pyproject.toml README.md ./
COPY directlive directlive
COPY streamer streamer
COPY signaling signaling
COPY fanout fanout
COPY recorder recorder
COPY benchmarks benchmarks
# gcc builds streamer.forwarding._fastsend, the C forwarding path (without it the server falls back to
# the slower Python path), and with libssl-dev's headers streamer.forwarding._srtpgcm (SRTP AES-GCM
# on OpenSSL's libcrypto, which the image keeps; without it libsrtp protects everything); the
# build tools are removed again once the wheel is built.
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev libssl-dev \
    && pip install --no-cache-dir . \
    && apt-get purge -y gcc libc6-dev libssl-dev && apt-get autoremove -y \
    && rm -rf /var/lib/apt/lists/*
# HTTP + WebSocket signaling.
EXPOSE 8080/tcp
# WebRTC media: one UDP port per process (--udp-port, below the kernel's ephemeral range):
# 10000 for the main process (publishers), 10001-10004 for the four media workers. Change
# --media-workers and this range together (BASE..BASE+workers), and set --ice-address to the
# address clients reach.
ENV DIRECTLIVE_UDP_PORT=10000
EXPOSE 10000-10004/udp
VOLUME /data
ENTRYPOINT ["directlive"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--data-dir", "/data", "--media-workers", "4"]
