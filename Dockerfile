# The ShiftWise ops bot for users: a static binary on an empty base image,
# running as an unprivileged user, with a CA bundle (Slack over TLS) and the
# time-zone database (embedded in the binary with -tags timetzdata).
#
# No registry is needed: `make image` (scripts/build-image.sh) builds the
# binary with CGO_ENABLED=0 and lays this context out:
#   shiftwise-bot            the binary
#   ca-certificates.crt      the host's CA bundle
# then runs `docker build`. FROM scratch pulls nothing.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY shiftwise-bot /shiftwise-bot
# SHIFTWISE_DATA_DIR (the audit spool and digest), owned by the bot's user:
# a named volume mounted there starts with this ownership.
COPY --chown=65534:65534 data /data
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt \
    SHIFTWISE_BACKUP_DIR=/backups \
    SHIFTWISE_DATA_DIR=/data
# nobody:nogroup. To reach the Docker socket, add the socket's group with
# `group_add` (see README, "Run it next to the stack").
USER 65534:65534
ENTRYPOINT ["/shiftwise-bot"]
