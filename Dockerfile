# syntax=docker/dockerfile:1
# hospital-sim as a container: `docker run --rm IMAGE --help`.
# Build: docker build -t hospital-sim .   (see DEPLOYMENT.md)

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- build: install the project and its dependencies into a virtualenv --------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/hospital-sim
COPY pyproject.toml README.md LICENSE ./
COPY src ./src
# Every dependency ships wheels for linux/amd64: no compiler is needed, none is installed.
RUN /opt/hospital-sim/bin/pip install --no-cache-dir . \
    && /opt/hospital-sim/bin/hospital-sim --version

# -- runtime: the virtualenv only, run by an unprivileged user ----------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="hospital-sim" \
      org.opencontainers.image.description="A realistic hospital OLTP simulator for PostgreSQL, for testing CDC pipelines" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/hospital-sim/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 hospital \
    && useradd --system --uid 10001 --gid hospital --home-dir /app --create-home \
       --shell /usr/sbin/nologin hospital
COPY --from=build /opt/hospital-sim /opt/hospital-sim
# config/ (settings.toml, .env) and logs/ are read and written relative to /app.
WORKDIR /app
USER 10001:10001
# The Prometheus endpoint of `stream --metrics-port 9108`. Outside a container /metrics
# listens on 127.0.0.1 only; here the container's network is the boundary.
ENV STREAM_METRICS_ADDRESS=0.0.0.0
EXPOSE 9108
ENTRYPOINT ["hospital-sim"]
CMD ["--help"]
