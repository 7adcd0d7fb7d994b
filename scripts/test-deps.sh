#!/usr/bin/env bash
# Installs and starts what the tests need on this host (Debian 12, as root),
# then the demo ShiftWise stack:
#
#   - Debian packages postgresql (15), redis-server, debootstrap, installed
#     only when missing (apt-get update only then);
#   - the host PostgreSQL 15 cluster "main" on 127.0.0.1:5432 (created when
#     missing) with role shiftwise_test/shiftwise_test (CREATEDB) owning the
#     database shiftwise_test: the bot's own state in tests;
#   - a host Redis on 127.0.0.1:6379 unless one already answers PING there;
#   - scripts/demo-up.sh: images, the compose project shiftwise, a backup.
#
# Every wait is bounded; any failure exits non-zero with what went wrong.
# Safe to run again: what is already there is left as it is.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_VERSION=15
PG_CLUSTER=main
PG_PORT=5432
TEST_ROLE=shiftwise_test
TEST_PASSWORD=shiftwise_test
TEST_DB=shiftwise_test
REDIS_PORT=6379

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'test-deps: %s\n' "$*" >&2
	exit 1
}

# wait_for SECONDS WHAT CMD...: run CMD every half second until it succeeds.
wait_for() {
	local limit=$1 what=$2 i
	shift 2
	for ((i = 0; i < limit * 2; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.5
	done
	die "$what did not come up within $limit s"
}

START=$SECONDS
[ "$(id -u)" = 0 ] || die "run me as root (apt-get, pg_ctlcluster and debootstrap need it)"
command -v docker >/dev/null || die "docker is not installed: this machine kind should have the Docker Engine"
command -v docker-compose >/dev/null || die "docker-compose (v1) is not installed"
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer on its socket"

# --- Debian packages -------------------------------------------------------
missing=()
dpkg -s "postgresql-$PG_VERSION" >/dev/null 2>&1 || missing+=(postgresql)
command -v redis-server >/dev/null || missing+=(redis-server)
command -v redis-cli >/dev/null || missing+=(redis-tools)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [ "${#missing[@]}" -gt 0 ]; then
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# A third-party source that cannot be reached must not stop Debian's own.
	apt-get update -qq || echo "test-deps: apt-get update reported errors; trying the install anyway" >&2
	apt-get install -y -qq -o=Dpkg::Use-Pty=0 "${missing[@]}" || die "apt-get install ${missing[*]} failed"
else
	say "packages present: postgresql-$PG_VERSION redis-server debootstrap"
fi

# --- host PostgreSQL (the bot's state) -------------------------------------
cluster_line() { pg_lsclusters --no-header | awk -v v="$PG_VERSION" -v c="$PG_CLUSTER" '$1 == v && $2 == c'; }
if [ -z "$(cluster_line)" ]; then
	say "creating PostgreSQL cluster $PG_VERSION/$PG_CLUSTER on port $PG_PORT"
	pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >/dev/null ||
		die "pg_createcluster $PG_VERSION $PG_CLUSTER failed"
fi
port=$(cluster_line | awk '{ print $3 }')
[ "$port" = "$PG_PORT" ] ||
	die "cluster $PG_VERSION/$PG_CLUSTER is configured for port $port, the tests expect $PG_PORT (/etc/postgresql/$PG_VERSION/$PG_CLUSTER/postgresql.conf)"
if [ "$(cluster_line | awk '{ print $4 }')" != online ]; then
	say "starting PostgreSQL cluster $PG_VERSION/$PG_CLUSTER"
	# A server killed a moment ago can leave a lock file naming a process
	# that is not reaped yet; PostgreSQL then refuses to start. Try again.
	started=0
	for _ in 1 2 3 4 5; do
		if pg_ctlcluster --skip-systemctl-redirect "$PG_VERSION" "$PG_CLUSTER" start; then
			started=1
			break
		fi
		sleep 2
	done
	[ "$started" = 1 ] ||
		die "pg_ctlcluster $PG_VERSION $PG_CLUSTER start failed; see /var/log/postgresql/postgresql-$PG_VERSION-$PG_CLUSTER.log"
fi
wait_for 30 "PostgreSQL on 127.0.0.1:$PG_PORT" pg_isready -q -h 127.0.0.1 -p "$PG_PORT"

pg_admin() { runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" -d postgres "$@"; }
# Create or repair the role; the password is set every time so a changed one heals.
pg_admin -c "DO \$\$
BEGIN
	IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$TEST_ROLE') THEN
		CREATE ROLE $TEST_ROLE LOGIN CREATEDB PASSWORD '$TEST_PASSWORD';
	ELSE
		ALTER ROLE $TEST_ROLE LOGIN CREATEDB PASSWORD '$TEST_PASSWORD';
	END IF;
END
\$\$;" || die "cannot create the role $TEST_ROLE"
# Tests drop their throwaway databases WITH (FORCE); that must be able to
# end sessions other test roles left in them.
pg_admin -c "GRANT pg_signal_backend TO $TEST_ROLE" || die "cannot grant pg_signal_backend to $TEST_ROLE"
if [ -z "$(pg_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = '$TEST_DB'")" ]; then
	say "creating database $TEST_DB"
	runuser -u postgres -- createdb -p "$PG_PORT" -O "$TEST_ROLE" "$TEST_DB" || die "createdb $TEST_DB failed"
fi
if ! PGPASSWORD=$TEST_PASSWORD psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$TEST_ROLE" -d "$TEST_DB" -tA -c 'SELECT 1' >/dev/null 2>&1; then
	# Debian's pg_hba asks for a password on 127.0.0.1; someone changed it.
	hba=$(pg_admin -tA -c 'SHOW hba_file')
	say "adding a password rule for $TEST_ROLE on 127.0.0.1 to $hba"
	sed -i "1i host    $TEST_DB    $TEST_ROLE    127.0.0.1/32    scram-sha-256  # added by shiftwise scripts/test-deps.sh" "$hba"
	pg_admin -c 'SELECT pg_reload_conf()' >/dev/null
	sleep 1
	PGPASSWORD=$TEST_PASSWORD psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U "$TEST_ROLE" -d "$TEST_DB" -tA -c 'SELECT 1' >/dev/null ||
		die "$TEST_ROLE cannot log in with its password on 127.0.0.1:$PG_PORT; check $hba"
fi
say "host PostgreSQL ready: postgres://$TEST_ROLE:***@127.0.0.1:$PG_PORT/$TEST_DB"

# --- host Redis (the bot's dedup and leases) --------------------------------
redis_ping() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
if redis_ping; then
	say "host Redis already answers on 127.0.0.1:$REDIS_PORT"
else
	say "starting redis-server on 127.0.0.1:$REDIS_PORT"
	redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
		--dir /tmp --logfile /var/log/shiftwise-test-redis.log ||
		die "redis-server did not start; see /var/log/shiftwise-test-redis.log"
	wait_for 15 "Redis on 127.0.0.1:$REDIS_PORT" redis_ping
fi

say "host services ready after $((SECONDS - START)) s"

# --- the demo stack ----------------------------------------------------------
"$ROOT/scripts/demo-up.sh"
say "test dependencies ready after $((SECONDS - START)) s"
