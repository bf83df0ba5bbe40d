#!/bin/sh
# demo.sh: from a fresh Debian 12 machine to a container running in its own VM.
#
# Installs the packages and the guest kernel, builds berth, installs berth, berthd and
# berth-init under /usr/local, starts berthd (unless one already answers), loads the busybox
# image built from Debian's busybox-static, and runs `berth run --rm busybox uname -a`, which
# prints the guest's kernel, not the host's. berthd keeps running afterwards so you can go on.
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
scripts/build.sh
cmake --install build --prefix /usr/local >/dev/null
echo "==> installed berth, berthd (/usr/local/bin) and berth-init (/usr/local/lib/berth)"

if ! berth system info >/dev/null 2>&1; then
  mkdir -p /var/log/berth
  # berthd makes bridges, taps and an nft table for container networks: here it gets a network
  # namespace of its own (the CLI reaches it over its unix socket all the same), so nothing of
  # the host's own network changes. `exec` keeps $! berthd's pid.
  nohup unshare -n sh -c 'ip link set lo up && exec berthd' >/var/log/berth/berthd.log 2>&1 &
  echo "==> started berthd (pid $!) in its own network namespace, log in /var/log/berth/berthd.log"
  echo "    (probe containers from there: nsenter --net=/proc/$!/ns/net ...)"
  i=0
  until berth system info >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 600 ] || ! kill -0 $! 2>/dev/null; then
      echo "berthd did not come up:" >&2
      tail -n 20 /var/log/berth/berthd.log >&2
      exit 1
    fi
    sleep 0.1
  done
fi

scripts/fixtures/busybox-image.sh build/images
berth image load -i build/images/busybox.tar
echo "==> host kernel:  $(uname -r)"
echo "==> berth run --rm busybox uname -a"
berth run --rm busybox uname -a
echo "==> done. Try: berth run --rm busybox sh -c 'echo hello from \$(hostname)'; berth system info"
