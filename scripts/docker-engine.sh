#!/usr/bin/env bash
# Make a Docker engine available on this machine (Debian 12, as root) and start it if it is not
# running. Idempotent: a no-op when `docker info` already answers.
#
# Why a script and not systemd: CI machines of this kind have the docker CLI but no engine and
# no init system to run one, so we install Debian's docker.io and start dockerd in the
# background ourselves (overlay2 storage; works with cgroup v1 and v2).
# Used by .ci/install.sh (install_docker) and by `make run`.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
LOG=${VCE_DOCKERD_LOG:-/var/log/vce-dockerd.log}

engine_up() { docker info >/dev/null 2>&1; }

if engine_up; then
    exit 0
fi

if ! command -v dockerd >/dev/null 2>&1; then
    if [ "$(id -u)" != 0 ]; then
        echo "docker-engine.sh: dockerd is missing and installing it needs root (apt-get install docker.io)" >&2
        exit 1
    fi
    echo "docker-engine.sh: installing Debian's docker.io" >&2
    # Keep apt's maintainer scripts from trying to start a service manager that is not there.
    policy=/usr/sbin/policy-rc.d
    created_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
    fi
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends docker.io iptables ca-certificates >/dev/null
    [ "$created_policy" = 1 ] && rm -f "$policy"
fi

if [ ! -S /var/run/docker.sock ] || ! engine_up; then
    if pidof dockerd >/dev/null 2>&1; then
        echo "docker-engine.sh: dockerd is starting, waiting for it" >&2
    else
        echo "docker-engine.sh: starting dockerd (log: $LOG)" >&2
        # setsid + nohup: the engine outlives the shell (and the CI step) that started it.
        setsid nohup dockerd --storage-driver=overlay2 >>"$LOG" 2>&1 </dev/null &
    fi
fi

for _ in $(seq 1 60); do
    if engine_up; then
        docker info --format 'docker-engine.sh: engine {{.ServerVersion}} up ({{.Driver}}, cgroup v{{.CgroupVersion}})' >&2
        exit 0
    fi
    sleep 1
done
echo "docker-engine.sh: dockerd did not come up within 60 s; last lines of $LOG:" >&2
tail -n 30 "$LOG" >&2 || true
exit 1
