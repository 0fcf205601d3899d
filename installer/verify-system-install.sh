#!/usr/bin/env bash
# Check install.sh in SYSTEM mode (service user, system trust store, NSS, /opt, /etc, uninstall)
# without changing this machine: everything runs in a private mount namespace where /etc, /opt,
# /var/lib, /usr/local and /root are overlays on a tmpfs that vanish when it ends.
# Needs root, unshare and overlayfs. Not part of the test suite (it costs a full install);
# run it after changing install.sh:
#   sudo unshare -m bash installer/verify-system-install.sh WHEELHOUSE_DIR
wheelhouse=${1:?usage: unshare -m bash installer/verify-system-install.sh WHEELHOUSE_DIR}
set -euo pipefail
wheelhouse=$(cd "$wheelhouse" && pwd)
mount --make-rprivate /
mkdir -p /tmp/ov && mount -t tmpfs tmpfs /tmp/ov
for d in etc opt var/lib usr/local root; do
  mkdir -p /tmp/ov/$d/u /tmp/ov/$d/w
  mount -t overlay overlay -o lowerdir=/$d,upperdir=/tmp/ov/$d/u,workdir=/tmp/ov/$d/w /$d
done
mkdir -p /etc/pki/nssdb
[[ -f /etc/pki/nssdb/cert9.db ]] || certutil -N -d sql:/etc/pki/nssdb --empty-password
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash installer/install.sh --wheelhouse "$wheelhouse" --no-system-packages --folder /srv/dictations 2>&1 | { grep -v "is ignored" || true; }
echo "--- user:"; id phiwall
echo "--- CA dir:"; ls -la /var/lib/phiwall/ca | head -4
echo "--- in system bundle:"; grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt; ls -la /etc/ssl/certs | grep -i phiwall
echo "--- NSS:"; certutil -L -d sql:/etc/pki/nssdb | grep PhiWall
echo "--- doctor as the service user:"
runuser -u phiwall -- env PHIWALL_CONFIG=/etc/phiwall/config.toml /usr/local/bin/phiwall doctor | tail -8
echo "--- python trusts the CA via SSL_CERT_FILE:"
. /etc/profile.d/phiwall-proxy.sh; /opt/phiwall/venv/bin/python -c "import ssl; c=ssl.create_default_context(cafile='$SSL_CERT_FILE'); print(any('PhiWall' in str(x.get('subject')) for x in c.get_ca_certs()))"
echo "--- uninstall:"
bash installer/install.sh --uninstall
{ id phiwall 2>&1 || true; }; ls /opt /var/lib | grep -i phiwall || echo "nothing left in /opt, /var/lib"; grep -c "BEGIN CERTIFICATE" /etc/ssl/certs/ca-certificates.crt; certutil -L -d sql:/etc/pki/nssdb | grep -c PhiWall || true
