# devtrack: one image for the bot (`python bot.py`, the default) and the reminder job
# (`python -m jobs.reminders`, CronJob / compose scheduler).
#
#   docker build -t devtrack:latest .
#
# Stage 1 builds a virtualenv from requirements.lock (the whole dependency tree, every file
# checked against its hash); stage 2 copies only that venv and the application code onto a clean
# python slim image, so no build tools or pip caches ship. The Python version is pinned to the
# exact patch release development and CI run (tests/test_deploy.py checks they agree).

FROM python:3.11.7-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/venv
ENV PATH="/opt/venv/bin:${PATH}"

WORKDIR /build
# Only the lock first: the dependency layer stays cached until the pins change.
COPY requirements.lock .
RUN pip install --no-cache-dir --require-hashes -r requirements.lock


FROM python:3.11.7-slim AS runtime

LABEL org.opencontainers.image.title="devtrack" \
      org.opencontainers.image.description="Telegram bot that tracks shared hardware"

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH="/opt/venv/bin:${PATH}"

# Fixed numeric ids so Kubernetes runAsNonRoot can verify the user and fsGroup can match it.
RUN groupadd --system --gid 10001 devtrack \
    && useradd --system --uid 10001 --gid devtrack --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin devtrack

WORKDIR /app

COPY --from=builder /opt/venv /opt/venv
# Application code stays owned by root (read-only for the app user); .dockerignore keeps
# .env, data/, .venv, tests, .git and caches out of the context.
COPY . .
# data/ holds the SQLite database, the log file and the heartbeat at runtime.
RUN mkdir -p /app/data && chown devtrack:devtrack /app/data

USER 10001:10001

STOPSIGNAL SIGTERM

CMD ["python", "bot.py"]
