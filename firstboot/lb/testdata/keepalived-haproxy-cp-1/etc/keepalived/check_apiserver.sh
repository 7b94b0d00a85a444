#!/bin/sh
# check_apiserver.sh written by kiln: keepalived's health check. It fails when the API server
# cannot be reached through this node's load balancer, or, while this node holds the virtual
# IP, through the virtual IP.

errorExit() {
    echo "*** $*" 1>&2
    exit 1
}

curl --silent --fail --max-time 2 --insecure https://localhost:8443/healthz -o /dev/null ||
    errorExit "Error GET https://localhost:8443/healthz"
if ip -o addr show | grep -qF " 10.0.0.100/"; then
    curl --silent --fail --max-time 2 --insecure https://10.0.0.100:8443/healthz -o /dev/null ||
        errorExit "Error GET https://10.0.0.100:8443/healthz"
fi
