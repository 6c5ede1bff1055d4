#!/usr/bin/env bash
# Installs the Debian packages the test suites drive, if missing: Chromium (browser tests)
# and nginx (the load-balancer example). Never downloads a browser of its own.
set -euo pipefail

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
{ [ -x /usr/sbin/nginx ] || [ -x /usr/bin/nginx ]; } || missing+=(nginx-light)

if [ ${#missing[@]} -gt 0 ]; then
  echo "packages: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
