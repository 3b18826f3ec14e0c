# The console's image: the recipe of infra/docker/Dockerfile (runtime dependencies only, uid 10001,
# read-only root filesystem, a HEALTHCHECK, no migrations: the console has no database), plus
# GOV.UK Frontend's built assets, installed by npm from console/package-lock.json in a stage of
# their own (what `python3 manage.py` does for a checkout). The pages never load anything from a CDN.
#   docker build -f infra/docker/console.Dockerfile .
FROM node:22-slim AS assets
WORKDIR /console
COPY console/package.json console/package-lock.json ./
# The files manage.py's NPM_ASSETS["console"] names: the built CSS and JS, and the fonts and images.
RUN npm ci --ignore-scripts --no-audit --no-fund --loglevel=error \
 && mkdir /govuk \
 && cp -r node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.css \
          node_modules/govuk-frontend/dist/govuk/govuk-frontend.min.js \
          node_modules/govuk-frontend/dist/govuk/assets /govuk/

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SERVICE_DIR=console PACKAGE=console PORT=8005

WORKDIR /app
COPY requirements.txt constraints.txt ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt
COPY libs/servicekit libs/servicekit
COPY console/pyproject.toml console/pyproject.toml
COPY console/src console/src
COPY --from=assets /govuk console/src/console/static/govuk
RUN pip install --no-cache-dir --no-deps ./libs/servicekit ./console \
 && groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin app
USER 10001:10001

# The process answers /livez (the orchestrator's readiness probe is /readyz: its session store).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/livez' % os.environ['PORT'], timeout=2)"]

# One uvicorn worker; scale out with replicas (they share sessions through CONSOLE_REDIS_URL).
CMD ["sh", "-c", "exec uvicorn --factory \"$PACKAGE.main:create_app\" --host 0.0.0.0 --port \"$PORT\" --no-access-log --no-proxy-headers"]
