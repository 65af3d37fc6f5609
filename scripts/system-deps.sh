#!/usr/bin/env bash
# Installs the system programs the integration tests use (sshd and rsync for the
# sandbox's real instances; sudo for their ubuntu user), Chromium (the JupyterLab browser test)
# and Slurm with munge (the Slurm provider's test cluster). Needs root and apt-get; elsewhere it says what is missing.
set -euo pipefail
need=()
command -v /usr/sbin/sshd >/dev/null 2>&1 || need+=(openssh-server)
command -v rsync >/dev/null 2>&1 || need+=(rsync)
command -v ssh >/dev/null 2>&1 || need+=(openssh-client)
command -v sudo >/dev/null 2>&1 || need+=(sudo)
# Mithril images have curl; the on-instance helpers of Mithril's SDK call the API with it.
command -v curl >/dev/null 2>&1 || need+=(curl)
[ -x /usr/bin/chromium ] || need+=(chromium)
# The Slurm provider's tests run a real two-node cluster (slurmctld, slurmd, munged).
command -v slurmctld >/dev/null 2>&1 || need+=(slurm-wlm)
command -v munged >/dev/null 2>&1 || need+=(munge)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
  echo "system-deps: missing ${need[*]}; install them (tests that need real instances will say so)" >&2
fi
