#!/usr/bin/env bash
# Removes the demo ShiftWise stack (containers and network). The PostgreSQL
# volume shiftwise_postgres_data is kept unless -v/--volumes is given, so the
# next scripts/demo-up.sh finds the same data. Images are kept too.
#
# Usage: scripts/demo-down.sh [-v|--volumes]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=${SHIFTWISE_COMPOSE_PROJECT:-shiftwise}

args=(down --remove-orphans)
for arg in "$@"; do
	case "$arg" in
	-v | --volumes) args+=(--volumes) ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo-down: unknown argument $arg (try --help)" >&2
		exit 2
		;;
	esac
done

docker-compose -p "$PROJECT" -f "$ROOT/deploy/demo/docker-compose.yml" "${args[@]}"
