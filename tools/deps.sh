#!/bin/sh
# Makes sure the Debian packages named as arguments are installed: installs
# the missing ones with apt-get when run as root, otherwise prints one line
# saying what to install and fails.
missing=""
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "repfix: installing Debian packages:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q $missing >/dev/null 2>&1 ||
        { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $missing >/dev/null; } || {
        echo "repfix: apt-get could not install:$missing" >&2; exit 1; }
    exit 0
fi
echo "repfix: missing Debian packages; run: sudo apt-get install$missing" >&2
exit 1
