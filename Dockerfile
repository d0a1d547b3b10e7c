# The bot as a service: runs as a non-root user, in its /data volume, which holds the database.
#   docker build -t luma-modify-bot .
#   docker run -d --restart unless-stopped --stop-timeout 45 \
#       --env-file .env -v luma-bot-data:/data -p 8080:8080 luma-modify-bot
# Packages come from requirements.lock (exact versions and hashes): two builds of one commit
# install the same ones. tests/test_container.py runs the bot in this layout without Docker.
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_PATH=/data/bot.sqlite3 \
    MPLCONFIGDIR=/tmp/matplotlib

RUN useradd --create-home --uid 10001 --user-group bot \
    && mkdir /data && chown 10001:10001 /data

WORKDIR /app
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY handlers ./handlers
COPY storage ./storage
RUN pip install --no-deps . && pip check

# The bot runs in its volume: a relative DATABASE_PATH from an .env file (data/bot.sqlite3)
# lands on the volume too, never in the read-only app folder.
WORKDIR /data
USER 10001:10001
EXPOSE 8080
VOLUME ["/data"]
STOPSIGNAL SIGTERM
CMD ["python", "-m", "bot"]
