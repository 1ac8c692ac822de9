#!/bin/bash
# Install the Debian 12 packages dillnet needs to build, test and benchmark,
# only those missing, so it is cheap to run before every `make check`.
set -euo pipefail

PKGS=(
	build-essential pkg-config clang libclang-rt-14-dev
	libdpdk-dev dpdk libconfig-dev libsystemd-dev check
	iproute2 ethtool iputils-ping nftables tshark python3 python3-scapy
	systemd man-db groff-base util-linux procps psmisc curl valgrind wrk
)

missing=()
for p in "${PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "deps: missing packages: ${missing[*]}" >&2
	echo "deps: run 'make deps' as root (or install them) first" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# tshark asks whether non-root users may capture; answer no without a prompt.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps: done"
