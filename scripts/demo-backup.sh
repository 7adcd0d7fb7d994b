#!/usr/bin/env bash
# Backs up the demo stack's ShiftWise database the runbook's way: pg_dump
# inside the postgres container, streamed to a temporary file in the backup
# directory and renamed to shiftwise_YYYYmmdd_HHMMSS.sql once it is complete.
# A failed dump leaves nothing behind and exits non-zero.
#
#   SHIFTWISE_BACKUP_DIR       where to write (default ./backups; a relative
#                              path is taken from the repository root)
#   SHIFTWISE_COMPOSE_PROJECT  compose project of the stack (default shiftwise)
#
# Prints the path of the new backup on success.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PROJECT=${SHIFTWISE_COMPOSE_PROJECT:-shiftwise}
DIR=${SHIFTWISE_BACKUP_DIR:-./backups}
case "$DIR" in
/*) ;;
*) DIR="$ROOT/${DIR#./}" ;;
esac

die() {
	printf 'demo-backup: %s\n' "$*" >&2
	exit 1
}

cid=$(docker ps -q \
	--filter "label=com.docker.compose.project=$PROJECT" \
	--filter "label=com.docker.compose.service=postgres" \
	--filter status=running | head -n 1)
[ -n "$cid" ] || die "no running postgres container in compose project $PROJECT (scripts/demo-up.sh starts it)"

mkdir -p "$DIR" || die "cannot create the backup directory $DIR"
stamp=$(date +%Y%m%d_%H%M%S)
final="$DIR/shiftwise_$stamp.sql"
tmp=$(mktemp "$DIR/.shiftwise_$stamp.sql.XXXXXX") || die "cannot write in $DIR"
trap 'rm -f "$tmp"' EXIT

if ! docker exec "$cid" pg_dump -U shiftwise shiftwise >"$tmp"; then
	die "pg_dump -U shiftwise shiftwise in container $cid failed; no backup written"
fi
# A complete plain dump starts and ends with pg_dump's own markers (since
# 15.14 pg_dump also writes \restrict ... \unrestrict lines around them).
head -n 5 "$tmp" | grep -q '^-- PostgreSQL database dump' ||
	die "pg_dump's output does not start with its header; no backup written"
tail -n 20 "$tmp" | grep -q '^-- PostgreSQL database dump complete' ||
	die "pg_dump's output is truncated (no 'dump complete' line); no backup written"

chmod 0640 "$tmp"
sync "$tmp" 2>/dev/null || true
mv -f "$tmp" "$final"
trap - EXIT
echo "$final"
