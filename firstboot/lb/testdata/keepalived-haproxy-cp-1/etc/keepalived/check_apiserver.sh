#!/bin/sh
# check_apiserver.sh written by kiln: keepalived's health check. It fails when this node's own
# API server does not answer (so a control plane whose API server stopped gives the virtual IP
# up, although its haproxy could still reach the others), when this node's load balancer does
# not, or, while this node holds the virtual IP, when the virtual IP does not.

errorExit() {
    echo "*** $*" 1>&2
    exit 1
}

curl --silent --fail --max-time 2 --insecure https://10.0.0.11:6443/healthz -o /dev/null ||
    errorExit "Error GET https://10.0.0.11:6443/healthz (this node's API server)"
curl --silent --fail --max-time 2 --insecure https://localhost:8443/healthz -o /dev/null ||
    errorExit "Error GET https://localhost:8443/healthz"
if ip -o addr show | grep -qF " 10.0.0.100/"; then
    curl --silent --fail --max-time 2 --insecure https://10.0.0.100:8443/healthz -o /dev/null ||
        errorExit "Error GET https://10.0.0.100:8443/healthz"
fi
