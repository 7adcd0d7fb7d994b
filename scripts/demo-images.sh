#!/usr/bin/env bash
# Builds the images of the demo ShiftWise stack locally; nothing is pulled
# (this machine has no registry):
#
#   shiftwise-demo/app:latest     FROM scratch + the static shiftwise-demo binary
#   shiftwise-demo/base:bookworm  a minimal Debian 12 with postgresql-15,
#                                 redis-server and procps, made by debootstrap
#                                 and `docker import` (the slow one: ~1-2 min)
#   shiftwise-demo/data:latest    FROM the base + entrypoint and demo data
#
# An image whose tag exists is kept. The app and data images also carry the
# hash of their sources in the label shiftwise.demo.source-hash and are
# rebuilt when the sources change. --rebuild rebuilds all three.
#
# Needs: docker, go (for the app image), debootstrap (for the base image;
# scripts/test-deps.sh installs it) and root for debootstrap.
#
# Usage: scripts/demo-images.sh [--rebuild]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEMO="$ROOT/deploy/demo"
APP_IMAGE=shiftwise-demo/app:latest
BASE_IMAGE=shiftwise-demo/base:bookworm
DATA_IMAGE=shiftwise-demo/data:latest
MIRROR=${DEMO_DEBIAN_MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
PACKAGES=postgresql-15,redis-server,procps
HASH_LABEL=shiftwise.demo.source-hash
# The classic builder: it takes FROM scratch and local tags as they are and
# never asks a registry about them.
export DOCKER_BUILDKIT=0

REBUILD=0
for arg in "$@"; do
	case "$arg" in
	--rebuild) REBUILD=1 ;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*)
		echo "demo-images: unknown argument $arg (try --help)" >&2
		exit 2
		;;
	esac
done

say() { printf '==> %s\n' "$*"; }
die() {
	printf 'demo-images: %s\n' "$*" >&2
	exit 1
}

START=$SECONDS
command -v docker >/dev/null || die "docker is not installed"
docker info >/dev/null 2>&1 || die "the Docker Engine does not answer (is dockerd running, may you use its socket?)"

# Two builds at once would race on the same tags: take turns.
exec 8>"${TMPDIR:-/tmp}/shiftwise-demo-images.lock"
flock -w 900 8 || die "another demo-images.sh has held the lock for 15 minutes"

# Temporary directories, removed on any exit (mounts under them undone first).
TMPS=()
cleanup() {
	local d
	for d in "${TMPS[@]}"; do
		unmount_under "$d"
		rm -rf "$d"
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

image_id() { docker image inspect -f '{{.Id}}' "$1" 2>/dev/null || true; }

# Images this run replaced; removed at the end when nothing uses them any more
# (a container still running the old one keeps it until demo-up recreates it).
REPLACED=()
remember_old() {
	local id
	id=$(image_id "$1")
	[ -z "$id" ] || REPLACED+=("$id")
}

image_hash() {
	docker image inspect -f "{{index .Config.Labels \"$HASH_LABEL\"}}" "$1" 2>/dev/null || true
}

# sources_hash FILE...: one hash over the names and contents of the files.
sources_hash() {
	local f
	for f in "$@"; do
		printf '%s\n' "${f##*/}"
		cat "$f"
	done | sha256sum | cut -c1-16
}

# needs_build IMAGE HASH: whether IMAGE must be (re)built.
needs_build() {
	[ "$REBUILD" = 1 ] && return 0
	image_exists "$1" || return 0
	[ -z "$2" ] && return 1
	[ "$(image_hash "$1")" != "$2" ]
}

# docker_build IMAGE HASH CONTEXT: the builder's chatter is shown only when it fails.
docker_build() {
	local out
	if ! out=$(docker build --label "$HASH_LABEL=$2" -t "$1" "$3" 2>&1); then
		printf '%s\n' "$out" >&2
		die "docker build of $1 failed"
	fi
}

# The app image is keyed by the binary itself (Go builds are reproducible with
# -trimpath -buildvcs=false): a change elsewhere in the module, or a new
# commit, rebuilds nothing and so recreates no container.
build_app() {
	local hash tmp t0 gobin
	gobin=$(command -v go || echo /usr/local/go/bin/go)
	if [ ! -x "$gobin" ]; then
		image_exists "$APP_IMAGE" || die "go is needed to build $APP_IMAGE"
		say "go not found: keeping $APP_IMAGE as it is"
		return
	fi
	t0=$SECONDS
	tmp=$(mktemp -d)
	TMPS+=("$tmp")
	(cd "$ROOT" && CGO_ENABLED=0 GOOS=linux "$gobin" build -trimpath -buildvcs=false -ldflags='-s -w' \
		-o "$tmp/shiftwise-demo" ./cmd/shiftwise-demo) || die "go build ./cmd/shiftwise-demo failed"
	cp "$DEMO/Dockerfile.app" "$tmp/Dockerfile"
	hash=$(sources_hash "$tmp/shiftwise-demo" "$tmp/Dockerfile")
	if ! needs_build "$APP_IMAGE" "$hash"; then
		say "$APP_IMAGE is up to date (binary $hash)"
		return
	fi
	say "building $APP_IMAGE (static shiftwise-demo, binary $hash)"
	remember_old "$APP_IMAGE"
	docker_build "$APP_IMAGE" "$hash" "$tmp"
	say "built $APP_IMAGE in $((SECONDS - t0)) s"
}

# unmount_under DIR: undo mounts debootstrap may leave behind (proc, sys)
# when it is interrupted, so that rm -rf never walks into them.
unmount_under() {
	local m
	awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/mounts | sort -r |
		while read -r m; do umount -l "$m" || true; done
}

build_base() {
	if [ "$REBUILD" = 0 ] && image_exists "$BASE_IMAGE"; then
		say "$BASE_IMAGE exists"
		return
	fi
	[ "$(id -u)" = 0 ] || die "debootstrap needs root to build $BASE_IMAGE"
	command -v debootstrap >/dev/null || die "debootstrap is not installed (scripts/test-deps.sh installs it: apt-get install -y debootstrap)"
	local t0 dir
	t0=$SECONDS
	dir=$(mktemp -d /var/tmp/shiftwise-rootfs.XXXXXX)
	TMPS+=("$dir")
	say "debootstrap $SUITE ($PACKAGES) from $MIRROR into $dir (takes a minute or two)"
	if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir" "$MIRROR" >"$dir.log" 2>&1; then
		tail -n 30 "$dir.log" >&2
		die "debootstrap failed; its log is $dir.log"
	fi
	say "debootstrap done in $((SECONDS - t0)) s; slimming the root filesystem"
	for f in usr/lib/postgresql/15/bin/postgres usr/lib/postgresql/15/lib/pg_stat_statements.so usr/bin/redis-server usr/bin/redis-cli bin/ps usr/bin/setpriv; do
		[ -e "$dir/$f" ] || die "debootstrap left no /$f in $dir"
	done
	# The package installs made a default cluster 'main'; the image makes its own.
	rm -rf "$dir/etc/postgresql/15/main" "$dir/var/lib/postgresql/15/main"
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/cache/apt/*.bin "$dir"/var/lib/apt/lists/* \
		"$dir"/usr/share/doc/* "$dir"/usr/share/man/* "$dir"/usr/share/info/* \
		"$dir"/usr/share/locale/* "$dir"/var/log/*.log "$dir"/var/log/apt/* "$dir"/tmp/* "$dir"/var/tmp/*
	unmount_under "$dir"
	remember_old "$BASE_IMAGE"
	say "importing $dir as $BASE_IMAGE ($(du -sh "$dir" | cut -f1))"
	tar -C "$dir" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
		docker import \
			--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
			--change 'ENV LANG=C.UTF-8' \
			--change 'CMD ["/bin/bash"]' \
			--message "debootstrap --variant=minbase --include=$PACKAGES $SUITE" \
			- "$BASE_IMAGE" >/dev/null || die "docker import of $BASE_IMAGE failed"
	rm -f "$dir.log"
	unmount_under "$dir"
	rm -rf "$dir"
	say "built $BASE_IMAGE in $((SECONDS - t0)) s"
}

build_data() {
	local hash tmp t0 base_id
	# The base image's ID is part of the hash: a new base means a new data image.
	base_id=$(docker image inspect -f '{{.Id}}' "$BASE_IMAGE")
	hash=$({
		sources_hash "$DEMO/Dockerfile.data" "$DEMO/data-entrypoint.sh" "$DEMO/seed.sql"
		echo "$base_id"
	} | sha256sum | cut -c1-16)
	if ! needs_build "$DATA_IMAGE" "$hash"; then
		say "$DATA_IMAGE is up to date (sources $hash)"
		return
	fi
	t0=$SECONDS
	say "building $DATA_IMAGE FROM $BASE_IMAGE (sources $hash)"
	tmp=$(mktemp -d)
	TMPS+=("$tmp")
	cp "$DEMO/Dockerfile.data" "$tmp/Dockerfile"
	mkdir -p "$tmp/rootfs/usr/local/bin" "$tmp/rootfs/usr/local/share/shiftwise"
	install -m 0755 "$DEMO/data-entrypoint.sh" "$tmp/rootfs/usr/local/bin/shiftwise-data"
	install -m 0644 "$DEMO/seed.sql" "$tmp/rootfs/usr/local/share/shiftwise/seed.sql"
	chmod -R go-w,a+rX "$tmp/rootfs"
	remember_old "$DATA_IMAGE"
	docker_build "$DATA_IMAGE" "$hash" "$tmp"
	say "built $DATA_IMAGE in $((SECONDS - t0)) s"
}

build_app
build_base
build_data
# Newest first: an old data image must go before the old base it was built on.
for ((i = ${#REPLACED[@]} - 1; i >= 0; i--)); do
	id=${REPLACED[i]}
	if ! docker image inspect -f '{{.RepoTags}}' "$id" 2>/dev/null | grep -q ':'; then
		docker rmi "$id" >/dev/null 2>&1 || true
	fi
done
say "images ready in $((SECONDS - START)) s: $APP_IMAGE $DATA_IMAGE ($BASE_IMAGE)"
