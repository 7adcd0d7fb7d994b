#!/bin/bash
# Entrypoint of shiftwise-demo/data: runs PostgreSQL 15 or Redis 7 for the
# demo ShiftWise stack.
#
#   shiftwise-data postgres [postgres options, e.g. -c work_mem=8MB]
#   shiftwise-data redis    [redis-server options]
#   shiftwise-data healthcheck      (the image's HEALTHCHECK; exit 0 healthy)
#   shiftwise-data <command...>     (anything else is exec'd, e.g. bash)
#
# postgres: on the first start (empty $PGDATA, a volume) it initialises a
# cluster as user postgres, lets everyone in with a password
# (scram-sha-256) over TCP and without one over the local socket (so
# `docker exec <c> pg_dump -U shiftwise shiftwise` works as in the runbook),
# creates the SUPERUSER role shiftwise/shiftwise, the database shiftwise,
# pg_stat_statements, and the demo data. An initialisation cut short is
# started over on the next start. The server then runs in the foreground as
# the only child of this script (PID 1): SIGTERM or SIGINT to the container
# asks PostgreSQL for a fast shutdown. Logs go to stderr (docker logs).
#
# redis: exec's redis-server as user redis, no persistence, 64 MB LRU.
set -euo pipefail

: "${PGDATA:=/var/lib/postgresql/data}"
ROLE_FILE=/run/shiftwise-data.role
INIT_MARK="$PGDATA/.shiftwise-initialised"
SEED=/usr/local/share/shiftwise/seed.sql

log() { printf '%s shiftwise-data: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >&2; }

# as USER CMD...: run CMD as USER in this process (no extra su/gosu process).
as() {
	local user=$1
	shift
	setpriv --reuid="$user" --regid="$user" --init-groups --inh-caps=-all -- "$@"
}

healthcheck() {
	local role
	role=$(cat "$ROLE_FILE" 2>/dev/null || true)
	case "$role" in
	postgres)
		# TCP, not the socket: the initialisation server listens on the socket only.
		pg_isready -q -h 127.0.0.1 -p 5432 -U shiftwise -d shiftwise -t 2
		;;
	redis)
		[ "$(timeout 2 redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]
		;;
	*)
		echo "shiftwise-data healthcheck: no role recorded in $ROLE_FILE" >&2
		return 1
		;;
	esac
}

init_postgres() {
	if [ -s "$PGDATA/PG_VERSION" ] && [ -e "$INIT_MARK" ]; then
		return 0
	fi
	if [ -n "$(ls -A "$PGDATA" 2>/dev/null)" ]; then
		log "the data directory holds an unfinished initialisation; starting over"
		find "$PGDATA" -mindepth 1 -delete
	fi
	log "initialising a new PostgreSQL 15 cluster in $PGDATA"
	mkdir -p "$PGDATA" /var/run/postgresql
	chown postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
	chmod 2775 /var/run/postgresql

	as postgres initdb -D "$PGDATA" --username=postgres --encoding=UTF8 --locale=C.UTF-8 \
		--auth-local=trust --auth-host=scram-sha-256 >&2
	cat >>"$PGDATA/pg_hba.conf" <<-'EOF'

	# shiftwise demo: password logins from anywhere (ports are published on 127.0.0.1 only)
	host    all             all             0.0.0.0/0               scram-sha-256
	host    all             all             ::/0                    scram-sha-256
	EOF
	cat >>"$PGDATA/postgresql.conf" <<-'EOF'

	# shiftwise demo
	listen_addresses = '*'
	port = 5432
	max_connections = 100
	unix_socket_directories = '/var/run/postgresql'
	shared_preload_libraries = 'pg_stat_statements'
	pg_stat_statements.track = all
	logging_collector = off
	log_destination = 'stderr'
	log_line_prefix = '%m [%p] %q%u@%d '
	log_timezone = 'UTC'
	timezone = 'UTC'
	EOF

	# A server on the socket only, so nothing outside sees a half-made database.
	as postgres pg_ctl -D "$PGDATA" -w -t 60 -o "-c listen_addresses=''" start >&2
	as postgres psql -v ON_ERROR_STOP=1 -q -U postgres -d postgres >&2 <<-'EOF'
	CREATE ROLE shiftwise WITH LOGIN SUPERUSER PASSWORD 'shiftwise';
	CREATE DATABASE shiftwise OWNER shiftwise;
	EOF
	as postgres psql -v ON_ERROR_STOP=1 -q -U shiftwise -d shiftwise -c 'CREATE EXTENSION IF NOT EXISTS pg_stat_statements;' >&2
	as postgres psql -v ON_ERROR_STOP=1 -q -U shiftwise -d shiftwise -f "$SEED" >&2
	# Statistics start clean: the seed's own statements are not the demo's slow queries.
	as postgres psql -v ON_ERROR_STOP=1 -q -U shiftwise -d shiftwise -c 'SELECT pg_stat_statements_reset();' >/dev/null
	as postgres pg_ctl -D "$PGDATA" -w -t 60 -m fast stop >&2
	as postgres touch "$INIT_MARK"
	log "initialisation done: role shiftwise, database shiftwise, demo data loaded"
}

run_postgres() {
	mkdir -p /var/run/postgresql
	chown postgres:postgres /var/run/postgresql
	chmod 2775 /var/run/postgresql
	init_postgres
	rm -f "$PGDATA/postmaster.pid" # a container killed hard leaves it behind; nothing else runs here

	# setpriv exec's postgres, so $! is the postmaster itself (no shell in between
	# that would swallow the signals below).
	setpriv --reuid=postgres --regid=postgres --init-groups --inh-caps=-all -- postgres -D "$PGDATA" "$@" &
	local pid=$!
	# Fast shutdown whichever signal Docker sends (SIGTERM alone would wait for every client).
	trap 'kill -INT "$pid" 2>/dev/null || true' TERM INT
	trap 'kill -QUIT "$pid" 2>/dev/null || true' QUIT
	local rc=0
	while :; do
		# wait returns early (status > 128) when a trapped signal arrives.
		wait "$pid" && rc=0 || rc=$?
		kill -0 "$pid" 2>/dev/null || break
	done
	log "postgres exited with status $rc"
	exit "$rc"
}

run_redis() {
	cd /tmp
	exec setpriv --reuid=redis --regid=redis --init-groups --inh-caps=-all -- \
		redis-server --bind 0.0.0.0 --port 6379 --protected-mode no \
		--save "" --appendonly no --dir /tmp \
		--maxmemory 64mb --maxmemory-policy allkeys-lru "$@"
}

cmd=${1:-postgres}
case "$cmd" in
postgres | redis)
	shift || true
	echo "$cmd" >"$ROLE_FILE"
	"run_$cmd" "$@"
	;;
healthcheck)
	healthcheck
	;;
*)
	exec "$@"
	;;
esac
