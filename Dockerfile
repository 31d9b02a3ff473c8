# syntax=docker/dockerfile:1
# paceline's images: one Dockerfile for the four services, so they cannot drift apart.
# Build from the repository root, naming the service (the directory under services/):
#   docker build --build-arg SERVICE=activity-api -t paceline/activity-api .
# SERVICE is one of activity-api, auth-gateway, token-refresher, provider-sandbox. Everything
# but the last few lines is shared; each service's stage below holds only what differs
# (environment, port, health check, command), and the last stage picks it by SERVICE.
ARG PYTHON_IMAGE=python:3.11-slim
ARG SERVICE

# --- builder: a virtualenv with the service and its pinned dependencies
FROM ${PYTHON_IMAGE} AS builder
ARG SERVICE
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
COPY constraints.txt ./
COPY libs/paceline/ libs/paceline/
COPY services/${SERVICE}/ services/${SERVICE}/
# The core library comes from libs/paceline, and only into the services that depend on it
# (the sandbox imports nothing of paceline). Not editable: the venv must not point back into
# /src, which the final image does not have. pip and setuptools are removed afterwards:
# nothing is installed at run time.
RUN echo "paceline @ file:///src/libs/paceline" > local-constraints.txt \
 && pip install -c constraints.txt -c local-constraints.txt ./services/${SERVICE} \
 && pip uninstall --yes pip setuptools

# --- runtime: the slim base, the venv and a non-root user; no compilers, no pip, no sources
FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# /tmp/prometheus: gunicorn's multiprocess metrics directory (PROMETHEUS_MULTIPROC_DIR, set
# by the two gunicorn services). The chart mounts an emptyDir there (the root filesystem is
# read-only); the directory in the image serves `docker run`.
RUN groupadd --system --gid 10001 paceline \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin paceline \
 && install -d -o 10001 -g 10001 -m 0700 /tmp/prometheus
COPY --from=builder /opt/venv /opt/venv
USER 10001:10001

# --- what differs per service (the chart runs the same commands)
FROM runtime AS activity-api
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
EXPOSE 8080
CMD ["gunicorn", "--config", "python:activity_api.gunicorn_conf", "activity_api.app:create_app()"]

FROM runtime AS auth-gateway
ENV PROMETHEUS_MULTIPROC_DIR=/tmp/prometheus
# Where the browser reaches the gateway: the OAuth redirect URI is built from it. This default
# fits `docker run -p 8080:8080` and the chart's port-forward; the chart always sets its own
# (gateway.publicUrl or the ingress host), as must any other deployment.
ENV PACELINE_PUBLIC_URL=http://localhost:8080
EXPOSE 8080
CMD ["gunicorn", "--config", "python:auth_gateway.gunicorn_conf", "auth_gateway.app:create_app()"]

# A run-to-completion CLI (the chart's CronJob): no server, no port, and no
# PROMETHEUS_MULTIPROC_DIR (it reports its runs through Redis; the long-running
# services export them as metrics).
FROM runtime AS token-refresher
CMD ["token-refresher"]

# The offline Strava emulator.
FROM runtime AS provider-sandbox
EXPOSE 8090
HEALTHCHECK --interval=10s --timeout=3s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/_sandbox/healthz', timeout=2)"]
CMD ["provider-sandbox", "--host", "0.0.0.0", "--port", "8090"]

# --- the image: the stage named by SERVICE
FROM ${SERVICE}
