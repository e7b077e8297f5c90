#!/bin/sh
# SPDX-License-Identifier: MIT
# Install the Debian packages listed in the given file(s) that are not installed yet.
# apt-get runs only when something is missing, so repeated `make` calls stay offline and quick.
set -eu
missing=""
for list in "$@"; do
    for pkg in $(sed -e 's/#.*//' "$list"); do
        if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
            missing="$missing $pkg"
        fi
    done
done
[ -z "$missing" ] && exit 0
echo "installing missing Debian packages:$missing"
if [ "$(id -u)" -ne 0 ]; then
    echo "error: packages are missing and this is not root; run as root or install:$missing" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing
