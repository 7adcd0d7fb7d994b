# shiftwise-demo/app: the api, frontend and nginx roles of the demo stack.
# Built by scripts/demo-images.sh from a context holding only this file and
# the static binary (CGO_ENABLED=0): no base image, nothing pulled.
FROM scratch
COPY shiftwise-demo /usr/local/bin/shiftwise-demo
ENV PATH=/usr/local/bin
USER 65534:65534
# Listens on :3000 (api), :3001 (frontend) or :8080 (nginx): DEMO_ROLE, DEMO_ADDR.
# The healthcheck finds the port from DEMO_ROLE / DEMO_ADDR, like the server.
HEALTHCHECK --interval=5s --timeout=4s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/shiftwise-demo", "healthcheck", "-timeout", "3s"]
ENTRYPOINT ["/usr/local/bin/shiftwise-demo"]
