#!/bin/bash
# `make image-smoke`: build both Dockerfile targets and run them for real on this machine.
#
# Starts its own dockerd (Debian's docker.io) unless one already answers, and stops exactly that
# process on exit, removing the bridge and restoring the iptables rules and ip_forward it
# changed. With no registry reachable, python:3.11-slim is replaced by a local stand-in
# (debootstrap minbase bookworm from this machine's apt mirror, python3.11 with a venv at
# /usr/local, this machine's CA bundle for pip). Then: build `api` and `airflow` with
# --network host; migrate a scratch PostgreSQL database on the host; run the API container
# against it until Docker reports it healthy; check it runs as non-root and carries neither
# Airflow nor test tools; `airflow dags list` in the Airflow image with 0 import errors.
# Prints image sizes and build times. Not part of `make test` (needs root and the daemon).
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
WORK=${IMAGE_SMOKE_WORK:-/var/tmp/image-smoke}
BASE_IMAGE=python:3.11-slim
STANDIN=gaming-backend-base:python3.11-slim-standin
API_IMAGE=gaming-backend-api:smoke
AIRFLOW_IMAGE=gaming-backend-airflow:smoke
PG_URL_BASE=${IMAGE_SMOKE_PG:-postgresql://postgres@127.0.0.1:5432}
DB=image_smoke_$$
CONTAINER=image-smoke-api-$$
DOCKERD_PID=""
mkdir -p "$WORK"

log() { printf '[image-smoke %s] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

cleanup() {
  local rc=$?
  set +e
  docker rm -f "$CONTAINER" >/dev/null 2>&1
  psql "$PG_URL_BASE/postgres" -qc "DROP DATABASE IF EXISTS $DB" >/dev/null 2>&1
  if [ -n "$DOCKERD_PID" ]; then
    log "stopping dockerd (pid $DOCKERD_PID)"
    kill -TERM "$DOCKERD_PID" 2>/dev/null
    for _ in $(seq 60); do kill -0 "$DOCKERD_PID" 2>/dev/null || break; sleep 1; done
    kill -KILL "$DOCKERD_PID" 2>/dev/null
    ip link delete docker0 2>/dev/null
    umount /run/docker/netns/default 2>/dev/null  # dockerd's own network namespace handle
    restore_iptables
    sysctl -qw net.ipv4.ip_forward="$(cat "$WORK/ip_forward.before")" 2>/dev/null
  fi
  exit $rc
}
trap cleanup EXIT INT TERM

need() { command -v "$1" >/dev/null 2>&1; }

restore_iptables() {
  # Docker adds chains and rules to filter and nat and sets FORWARD to DROP: empty both tables,
  # reset the policies, then load what was there before (iptables-restore alone would leave
  # Docker's chains in the tables the saved state does not mention).
  for table in filter nat; do iptables -t "$table" -F; iptables -t "$table" -X; done
  iptables -P INPUT ACCEPT; iptables -P FORWARD ACCEPT; iptables -P OUTPUT ACCEPT
  iptables-restore < "$WORK/iptables.before"
}

start_dockerd() {
  if docker info >/dev/null 2>&1; then log "using the running Docker daemon"; return; fi
  need dockerd || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker.io >/dev/null; }
  iptables-save > "$WORK/iptables.before"
  ip6tables-save > "$WORK/ip6tables.before" 2>/dev/null || rm -f "$WORK/ip6tables.before"
  sysctl -n net.ipv4.ip_forward > "$WORK/ip_forward.before"
  dockerd --storage-driver overlay2 > "$WORK/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  docker info >/dev/null 2>&1 || { tail -20 "$WORK/dockerd.log"; exit 1; }
  log "dockerd started (pid $DOCKERD_PID)"
}

apt_mirror() {
  # The Debian mirror this machine's apt uses (deb822 or one-line sources).
  { grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
    grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}'; } \
    | grep -v security | head -1
}

base_image() {
  if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || timeout 60 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then
    echo "$BASE_IMAGE"; return
  fi
  if ! docker image inspect "$STANDIN" >/dev/null 2>&1; then
    log "no $BASE_IMAGE (no registry): building the stand-in $STANDIN with debootstrap" >&2
    need debootstrap || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    local root="$WORK/rootfs" started=$SECONDS
    rm -rf "$root"
    debootstrap --variant=minbase --include=ca-certificates \
      bookworm "$root" "$(apt_mirror)" > "$WORK/debootstrap.log" 2>&1 \
      || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    # apt inside the chroot resolves python3.11-venv's dependencies (debootstrap's --include does not).
    chroot "$root" apt-get install -y -qq --no-install-recommends python3.11 python3.11-venv \
      >> "$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    # python/pip where the official image has them: a venv at /usr/local.
    chroot "$root" /usr/bin/python3.11 -m venv /usr/local
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    printf '[global]\ncert = /etc/ssl/certs/ca-certificates.crt\n' > "$root/etc/pip.conf"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | docker import \
      --change 'ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' - "$STANDIN" >/dev/null
    rm -rf "$root"
    log "stand-in built in $((SECONDS - started)) s" >&2
  fi
  echo "$STANDIN"
}

build() {  # target tag -> prints seconds
  local started=$SECONDS
  DOCKER_BUILDKIT=0 docker build -q --network host --build-arg PYTHON_IMAGE="$BASE" \
    --target "$1" -t "$2" "$REPO" > "$WORK/build-$1.log" 2>&1 || { tail -30 "$WORK/build-$1.log"; exit 1; }
  echo $((SECONDS - started))
}

size_mb() { echo $(( $(docker image inspect -f '{{.Size}}' "$1") / 1000000 )); }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

start_dockerd
BASE=$(base_image)
log "base image: $BASE"
API_SECONDS=$(build api "$API_IMAGE")
log "api image built in ${API_SECONDS} s: $(size_mb "$API_IMAGE") MB"
AIRFLOW_SECONDS=$(build airflow "$AIRFLOW_IMAGE")
log "airflow image built in ${AIRFLOW_SECONDS} s: $(size_mb "$AIRFLOW_IMAGE") MB"

# The API image: nothing of Airflow or the test tools, the package installed non-editable.
docker run --rm "$API_IMAGE" python -c '
import importlib.util, importlib.metadata, json, sys
present = [m for m in ("airflow", "pytest", "schemathesis", "hypothesis", "celery") if importlib.util.find_spec(m)]
direct_url = importlib.metadata.distribution("gaming-backend").read_text("direct_url.json") or "{}"
editable = json.loads(direct_url).get("dir_info", {}).get("editable", False)
print("api image: forbidden modules", present or "none", "- editable install:", editable)
sys.exit(1 if present or editable else 0)'

psql "$PG_URL_BASE/postgres" -qc "CREATE DATABASE $DB" >/dev/null
DATABASE_URL="$PG_URL_BASE/$DB"
docker run --rm --network host -e DATABASE_URL="$DATABASE_URL" "$API_IMAGE" python -m service migrate
PORT=$(free_port)
docker run -d --name "$CONTAINER" --network host -e DATABASE_URL="$DATABASE_URL" -e PORT="$PORT" \
  "$API_IMAGE" >/dev/null
started=$SECONDS
status=starting
while [ $((SECONDS - started)) -lt 180 ]; do
  status=$(docker inspect -f '{{.State.Health.Status}}' "$CONTAINER")
  [ "$status" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$CONTAINER")" = true ] || break
  sleep 2
done
if [ "$status" != healthy ]; then docker logs --tail 40 "$CONTAINER"; log "API container: $status"; exit 1; fi
log "API container healthy after $((SECONDS - started)) s on port $PORT"
uid=$(docker exec "$CONTAINER" id -u)
[ "$uid" != 0 ] || { log "API container runs as root"; exit 1; }
log "API container runs as uid $uid ($(docker exec "$CONTAINER" id -un))"
curl -fsS "http://127.0.0.1:$PORT/health"; echo
curl -fsS -o /dev/null -w "GET /docs/assets/vendor/swagger-ui/swagger-ui-bundle.js -> %{http_code}\n" \
  "http://127.0.0.1:$PORT/docs/assets/vendor/swagger-ui/swagger-ui-bundle.js"

# The Airflow image: the DAG folder parses with no import error.
docker run --rm -e AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=sqlite:////tmp/airflow.db "$AIRFLOW_IMAGE" sh -c '
  airflow db migrate >/dev/null 2>&1 &&
  airflow dags list --local -o plain 2>/dev/null &&
  airflow dags list-import-errors --local -o json 2>/dev/null' > "$WORK/dags.txt"
cat "$WORK/dags.txt"
grep -q revenue_pipeline "$WORK/dags.txt" || { log "revenue_pipeline not listed"; exit 1; }
if grep -q '"error"\|"stack_trace"\|filepath' "$WORK/dags.txt"; then log "import errors in the Airflow image"; exit 1; fi
log "airflow image: revenue_pipeline listed, 0 import errors"
log "PASS: api $(size_mb "$API_IMAGE") MB (${API_SECONDS} s), airflow $(size_mb "$AIRFLOW_IMAGE") MB (${AIRFLOW_SECONDS} s)"
