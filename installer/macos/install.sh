#!/usr/bin/env bash
# PhiWall installer for macOS -- TEMPLATE, UNTESTED (no macOS machine in this project's CI).
# Mirrors installer/install.sh: venv under /opt/phiwall, CA made here (key 0600, owned by the
# _phiwall service user), trusted in the System keychain, the agent under launchd, the PAC
# file for the system proxy settings (networksetup), and --uninstall.
set -euo pipefail
prefix=/opt/phiwall
data="/Library/Application Support/PhiWall"
here=$(cd "$(dirname "$0")/.." && pwd)
wheelhouse=${WHEELHOUSE:?set WHEELHOUSE to a directory of wheels}

if [[ ${1:-} == --uninstall ]]; then
  launchctl bootout system/org.phiwall.agent 2>/dev/null || true
  rm -f /Library/LaunchDaemons/org.phiwall.agent.plist
  security delete-certificate -c "PhiWall proxy CA" /Library/Keychains/System.keychain || true
  while read -r service; do networksetup -setautoproxystate "$service" off || true; done \
    < <(networksetup -listallnetworkservices | tail -n +2)
  rm -rf "$prefix" "$data"
  exit 0
fi

python3.12 -m venv "$prefix/venv"
"$prefix/venv/bin/python" -m pip install --no-index --find-links "$wheelhouse" phiwall
mkdir -p "$prefix/libexec" && cp "$here"/lib/*.py "$prefix/libexec/"
dscl . -read /Users/_phiwall >/dev/null 2>&1 || sysadminctl -addUser _phiwall -roleAccount 2>/dev/null || true
mkdir -p "$data/ca" /Library/Logs/PhiWall
cert=$("$prefix/venv/bin/python" "$prefix/libexec/make_ca.py" "$data/ca")
chown -R _phiwall "$data"
security add-trusted-cert -d -r trustRoot -k /Library/Keychains/System.keychain "$cert"
"$prefix/venv/bin/python" "$prefix/libexec/make_pac.py" "$data/proxy.pac"
while read -r service; do
  networksetup -setautoproxyurl "$service" "file://$data/proxy.pac" || true
done < <(networksetup -listallnetworkservices | tail -n +2)
cp "$here/macos/org.phiwall.agent.plist" /Library/LaunchDaemons/
launchctl bootstrap system /Library/LaunchDaemons/org.phiwall.agent.plist
