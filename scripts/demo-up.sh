#!/usr/bin/env bash
# Starts the demo ShiftWise stack and waits until it is healthy:
#
#   1. builds the images when missing or stale (scripts/demo-images.sh);
#   2. docker-compose -p shiftwise -f deploy/demo/docker-compose.yml up -d
#      (a running, unchanged stack is left as it is);
#   3. waits, at most DEMO_UP_TIMEOUT seconds (default 90), until the
#      containers of api, frontend, nginx, postgres and redis are healthy;
#   4. makes sure a real backup younger than 24 hours is in the backup
#      directory (SHIFTWISE_BACKUP_DIR, default ./backups from the repository
#      root), taking one with scripts/demo-backup.sh when there is none.
#
# It never resets a service that a test has switched into a failing mode;
# --reset does (POST /control/reset to api, frontend and nginx).
#
# Usage: scripts/demo-up.sh [--rebuild] [--reset]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=${SHIFTWISE_COMPOSE_PROJECT:-shiftwise}
COMPOSE_FILE="$ROOT/deploy/demo/docker-compose.yml"
TIMEOUT=${DEMO_UP_TIMEOUT:-90}
SERVICES=(api frontend nginx postgres redis)
BACKUP_DIR=${SHIFTWISE_BACKUP_DIR:-./backups}
case "$BACKUP_DIR" in
/*) ;;
*) BACKUP_DIR="$ROOT/${BACKUP_DIR#./}" ;;
esac

image_args=()
RESET=0
for arg in "$@"; do
	case "$arg" in
	--rebuild) image_args+=(--rebuild) ;;
	--reset) RESET=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo-up: unknown argument $arg (try --help)" >&2
		exit 2
		;;
	esac
done

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'demo-up: %s\n' "$*" >&2
	exit 1
}

START=$SECONDS
command -v docker-compose >/dev/null || die "docker-compose is not installed (apt-get install -y docker-compose)"

# Two demo-up.sh at once (parallel test setups) take turns.
exec 9>"${TMPDIR:-/tmp}/shiftwise-demo-up.lock"
flock -w 900 9 || die "another demo-up.sh has held the lock for 15 minutes"

"$ROOT/scripts/demo-images.sh" "${image_args[@]}"

say "docker-compose -p $PROJECT up -d"
if ! out=$(docker-compose -p "$PROJECT" -f "$COMPOSE_FILE" up -d 2>&1); then
	printf '%s\n' "$out" >&2
	die "docker-compose up failed"
fi
# Only what changed: compose says "... is up-to-date" for every untouched service.
grep -v -e 'is up-to-date$' <<<"$out" || true
# Demo images replaced by a rebuild were kept while containers used them; now
# that up has recreated those containers, drop them (with their untagged base).
for id in $(docker images -q --filter dangling=true --filter label=shiftwise.demo.source-hash); do
	docker rmi "$id" >/dev/null 2>&1 || true
done

# post_reset PORT: POST /control/reset to 127.0.0.1:PORT with bash alone (no curl needed).
post_reset() {
	# shellcheck disable=SC2016 # $1 is expanded by the inner bash
	timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" &&
		printf "POST /control/reset HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n" >&3 &&
		head -n 1 <&3' _ "$1"
}
if [ "$RESET" = 1 ]; then
	for port in 13000 13001 18080; do
		for _ in $(seq 1 20); do # a container just started may not listen yet
			if status=$(post_reset "$port" 2>/dev/null) && [ -n "$status" ]; then
				say "reset 127.0.0.1:$port: ${status%$'\r'}"
				break
			fi
			sleep 0.5
		done
	done
fi

# states: "service status health" for every container of the project.
states() {
	local ids
	ids=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT")
	[ -n "$ids" ] || return 0
	# shellcheck disable=SC2086 # one argument per id
	docker inspect -f '{{index .Config.Labels "com.docker.compose.service"}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' $ids
}

say "waiting up to ${TIMEOUT} s for ${SERVICES[*]} to be healthy"
deadline=$((SECONDS + TIMEOUT))
while :; do
	current=$(states)
	pending=()
	for svc in "${SERVICES[@]}"; do
		grep -qx "$svc running healthy" <<<"$current" || pending+=("$svc")
	done
	[ "${#pending[@]}" = 0 ] && break
	if [ "$SECONDS" -ge "$deadline" ]; then
		echo "demo-up: after ${TIMEOUT} s these services are not healthy: ${pending[*]}" >&2
		printf '    %s\n' "${current//$'\n'/$'\n'    }" >&2
		for svc in "${pending[@]}"; do
			cid=$(docker ps -aq --filter "label=com.docker.compose.project=$PROJECT" --filter "label=com.docker.compose.service=$svc" | head -n 1)
			[ -n "$cid" ] || continue
			echo "--- $svc: last health check output and logs" >&2
			docker inspect -f '{{if .State.Health}}{{range .State.Health.Log}}{{.Output}}{{end}}{{end}}' "$cid" | tail -n 5 >&2 || true
			docker logs --tail 15 "$cid" 2>&1 | sed 's/^/    /' >&2 || true
		done
		case " ${pending[*]} " in
		*" api "* | *" frontend "* | *" nginx "*)
			echo "(an app service switched into fail/slow/hang mode by a test stays unhealthy: scripts/demo-up.sh --reset)" >&2
			;;
		esac
		exit 1
	fi
	sleep 1
done
say "all services healthy after $((SECONDS - START)) s"

# A backup younger than 24 h, as the runbook's daily check expects.
recent=""
if [ -d "$BACKUP_DIR" ]; then
	while IFS= read -r f; do
		if head -n 5 "$f" | grep -q '^-- PostgreSQL database dump'; then
			recent=$f
			break
		fi
	done < <(find "$BACKUP_DIR" -maxdepth 1 -type f -name 'shiftwise_*.sql' -mmin -1440 -size +0 | sort -r)
fi
if [ -n "$recent" ]; then
	say "recent backup: $recent"
else
	say "no backup younger than 24 h in $BACKUP_DIR: taking one"
	recent=$(SHIFTWISE_BACKUP_DIR="$BACKUP_DIR" SHIFTWISE_COMPOSE_PROJECT="$PROJECT" "$ROOT/scripts/demo-backup.sh") ||
		die "the backup failed"
	say "backup written: $recent"
fi

cat <<EOF
==> demo stack '$PROJECT' is up ($((SECONDS - START)) s)
    api       http://127.0.0.1:13000/health
    frontend  http://127.0.0.1:13001/health
    nginx     http://127.0.0.1:18080/health
    postgres  postgres://shiftwise:shiftwise@127.0.0.1:15432/shiftwise?sslmode=disable
    redis     redis://127.0.0.1:16379/0
    bot env   set -a; . deploy/demo/demo.env; set +a
EOF
