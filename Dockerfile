# The scarf-etl code location as a container image: the pipeline and its pinned dependencies
# (uv.lock, with the `team` extra: DuckDB extensions as packages, dagster-postgres), no token.
#
#   docker build -t scarf-etl:latest .
#   docker build -t scarf-etl:latest --build-arg LAUNCHER_EXTRA=k8s .   (Helm)
#
# Its default command serves the definitions over gRPC to a webserver and a daemon
# (deploy/docker-compose.yaml, deploy/helm/values.yaml); run launchers start runs in it with
# their own command. Settings (SCARF_*, DAGSTER_PG_*) come from the environment at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
# The uv the Makefile pins, from the package registry.
RUN pip install --no-cache-dir "uv==0.13.8"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PROJECT_ENVIRONMENT=/opt/scarf-etl/.venv \
    UV_PYTHON_DOWNLOADS=never
WORKDIR /opt/scarf-etl
# Dependencies first (a layer that changes only with uv.lock), then the project itself.
COPY pyproject.toml uv.lock README.md ./
# The run launcher's package, which the instance in dagster.yaml loads in every container of
# the deployment: the `docker` extra (dagster-docker) for deploy/docker-compose.yaml, `k8s`
# (dagster-k8s) for Helm. Both are in uv.lock.
ARG LAUNCHER_EXTRA=docker
RUN uv sync --frozen --no-dev --extra team --extra "${LAUNCHER_EXTRA}" --no-install-project
COPY scarf_etl ./scarf_etl
RUN uv sync --frozen --no-dev --extra team --extra "${LAUNCHER_EXTRA}" --no-editable

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system scarf && useradd --system --gid scarf --create-home scarf
COPY --from=build /opt/scarf-etl/.venv /opt/scarf-etl/.venv
# The instance settings and the workspace the webserver and daemon services use.
COPY deploy/dagster.docker.yaml /opt/dagster/dagster_home/dagster.yaml
COPY deploy/workspace.docker.yaml /opt/dagster/app/workspace.yaml
RUN mkdir -p /data && chown scarf:scarf /data /opt/dagster/dagster_home
ENV PATH=/opt/scarf-etl/.venv/bin:$PATH \
    DAGSTER_HOME=/opt/dagster/dagster_home \
    SCARF_DATA_DIR=/data \
    PYTHONUNBUFFERED=1
WORKDIR /opt/dagster/app
USER scarf
EXPOSE 4000
# CMD, not ENTRYPOINT: run launchers replace the command with `dagster api execute_run ...`.
CMD ["dagster", "code-server", "start", "-h", "0.0.0.0", "-p", "4000", "-m", "scarf_etl.definitions"]
