# bbvars: push key/values into Bitbucket Pipelines variables.
#   docker build -t bbvars .
#   docker run --rm -e BITBUCKET_CLIENT_ID -e BITBUCKET_CLIENT_SECRET ... bbvars   # pipe mode
#
# BASE_IMAGE must provide python3 (>= 3.11) with the venv module; the same base
# is used for both stages so the venv's interpreter symlink stays valid.
#
# Offline / TLS-intercepting-proxy builds: pre-build the wheels on the host
# (which trusts the proxy's CA) and install only from them:
#   pip wheel --wheel-dir .wheelhouse . 'setuptools>=68' wheel
#   docker build --build-arg WHEELHOUSE=.wheelhouse .
ARG BASE_IMAGE=python:3.11.13-slim-bookworm

FROM ${BASE_IMAGE} AS builder
ARG WHEELHOUSE=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
# The context is an allow-list (see .dockerignore): pyproject, README, src/, .wheelhouse/.
COPY . .
RUN python3 -m venv /opt/bbvars \
 && if [ -n "$WHEELHOUSE" ]; then set -- --no-index --find-links "/src/$WHEELHOUSE"; fi \
 && /opt/bbvars/bin/pip install --no-cache-dir "$@" . \
 && /opt/bbvars/bin/pip uninstall --yes setuptools pip \
 && find /opt/bbvars -name '*.exe' -delete \
 && /opt/bbvars/bin/python -c "import bbvars"

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="bbvars" \
      org.opencontainers.image.description="Push key/values (Terraform outputs above all) into Bitbucket Pipelines variables" \
      org.opencontainers.image.licenses="MIT"
ENV PATH=/opt/bbvars/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=builder /opt/bbvars /opt/bbvars
# No USER: the image runs as its default user, root, on purpose. GitHub runs a Docker action as the image's user and
# requires root ("Dockerfile support for GitHub Actions"): the workspace and the files the runner hands the action
# ($GITHUB_OUTPUT, $GITHUB_STEP_SUMMARY) belong to the runner's user, and a fixed uid matches it only by chance; a
# pipe is handed its storage directory by the build in the same way. action.yml can only build this Dockerfile's
# last stage, and one image serves every surface. To run the CLI as yourself:
#   docker run --user "$(id -u):$(id -g)" --cap-drop ALL ... bbvars sync ...
ENTRYPOINT ["bbvars"]
CMD ["pipe"]
