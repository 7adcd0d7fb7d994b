#!/usr/bin/env bash
# Builds the user image shiftwise-bot:latest without any registry: a static
# binary and the host's CA bundle on `FROM scratch`. With --check, also runs
# the image once (one-shot `help`, exit 0 expected) to prove it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
tag=${SHIFTWISE_IMAGE:-shiftwise-bot:latest}
ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT
CGO_ENABLED=0 go build -trimpath -tags timetzdata -ldflags='-s -w' -o "$ctx/shiftwise-bot" ./cmd/shiftwise-bot
cp /etc/ssl/certs/ca-certificates.crt "$ctx/"
cp Dockerfile "$ctx/"
mkdir "$ctx/data" # becomes /data, owned by the bot's user
docker build --quiet -t "$tag" "$ctx" >/dev/null
echo "built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | awk '{printf "%.1f MB", $1/1e6}'))"
if [ "${1:-}" = "--check" ]; then
  user=$(docker image inspect -f '{{.Config.User}}' "$tag")
  [ "$user" = "65534:65534" ] || { echo "image runs as '$user', want 65534:65534" >&2; exit 1; }
  out=$(docker run --rm --network none "$tag" help)
  grep -q "health" <<<"$out" || { echo "image's help does not list health:" >&2; echo "$out" >&2; exit 1; }
  echo "image check: runs as $user, one-shot help answers"
fi
