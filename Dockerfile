# papers digest: one image for the web pages, the scheduler and the CLI.
#   docker build -t papers-digest .
#   docker run -p 8000:8000 -v digest-data:/data -e DIGEST_SECRET_KEY=... papers-digest
# See docs/deploy.md.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# A system user without a login shell owns only /data (the database, a Maildir).
RUN groupadd --system --gid 10001 digest \
    && useradd --system --uid 10001 --gid digest --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin digest

WORKDIR /app

# The package (its Alembic migrations ship inside it, under digest/migrations/).
COPY pyproject.toml README.md ./
COPY digest/ ./digest/
# Editable on purpose: digest/render.py and digest/web/app.py find templates/ next to the
# package directory (<package>/../templates), which a plain `pip install .` into site-packages
# does not provide, because templates/ is not package data. Once templates ship inside the
# package, this line can become `pip install .`. (The dependencies include psycopg, the
# PostgreSQL driver for DIGEST_DATABASE_URL=postgresql+psycopg://...)
RUN pip install -e .

# Read at run time: templates/ (email and web, found next to digest/), and from the working
# directory config/ (digest.toml is the offline default; production.example.toml a starting
# point) and seeds/ (the saved listings config/digest.toml fetches).
COPY templates/ ./templates/
COPY config/ ./config/
COPY seeds/ ./seeds/

# Only /data is writable by the service; the Maildir transport creates /data/mail and its
# tmp/ new/ cur/ folders (also inside an existing empty directory).
RUN mkdir -p /data && chown digest:digest /data
VOLUME ["/data"]

ENV DIGEST_DATABASE_URL=sqlite:////data/digest.sqlite \
    DIGEST_MAILDIR=/data/mail

USER digest
EXPOSE 8000

# python:3.11-slim has no curl: ask /healthz with the standard library (non-200 raises).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["digest", "serve", "--host", "0.0.0.0", "--port", "8000"]
