#!/usr/bin/env bash
# PhiWall workstation installer for Debian/Ubuntu. Idempotent: a second run changes nothing
# that is already in place (the CA and an edited config are kept).
#
#   install.sh [options]              install (as root) and start the agent
#   install.sh --uninstall            remove everything the installer put in place
#
# Options:
#   --root DIR          install into the tree DIR (packaging, tests): every path below DIR,
#                       no system packages, no service user, no systemctl, no trust-store
#                       commands; files still name their final paths (/opt/phiwall, /etc/...)
#   --prefix DIR        where the program goes (default /opt/phiwall)
#   --wheelhouse DIR    install phiwall and its dependencies from wheels in DIR, offline
#   --python PATH       the Python >= 3.12 to build the environment with
#   --folder PATH       a clinical folder to watch (repeatable; default: none, edit the config)
#   --proxy HOST:PORT   the agent's proxy address (default 127.0.0.1:8080)
#   --pac-port PORT     the PAC server's port (default 8079)
#   --trusted-root FILE the hospital's signature root.json (default: the one shipped, if any)
#   --signatures-repo R signature repository (directory or https URL): its signed bundle is
#                       verified and installed now, and the agent keeps following it
#   --no-system-packages  do not apt-get install (they must be present)
#   --no-start          install but do not enable/start the services
#   --uninstall         remove it all (the manifest lists what was installed)
#   --keep-data         with --uninstall: keep /var/lib/phiwall (store with the audit trail)
#   -h, --help
set -euo pipefail
umask 022
trap 'echo "phiwall-install: error: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
source_tree=$(cd "$here/.." && pwd)

root=""
prefix=/opt/phiwall
wheelhouse=""
python=""
folders=()
proxy=127.0.0.1:8080
pac_port=8079
trusted_root=""
signatures_repo=""
system_packages=1
start=1
uninstall=0
keep_data=0
service_user=phiwall

# The comment block above, without the shebang and up to the first line that is not a comment.
usage() { sed -n '2,/^[^#]/{/^#/!q;s/^# \{0,1\}//;p}' "$0"; }
die() { echo "phiwall-install: error: $*" >&2; exit 1; }
say() { echo "phiwall-install: $*" >&2; }

while (($#)); do
  case "$1" in
    --root) root=${2:?--root needs a directory}; shift ;;
    --prefix) prefix=${2:?--prefix needs a directory}; shift ;;
    --wheelhouse) wheelhouse=${2:?--wheelhouse needs a directory}; shift ;;
    --python) python=${2:?--python needs a path}; shift ;;
    --folder) folders+=("${2:?--folder needs a path}"); shift ;;
    --proxy) proxy=${2:?--proxy needs HOST:PORT}; shift ;;
    --pac-port) pac_port=${2:?--pac-port needs a port}; shift ;;
    --trusted-root) trusted_root=${2:?--trusted-root needs a file}; shift ;;
    --signatures-repo) signatures_repo=${2:?--signatures-repo needs a directory or URL}; shift ;;
    --no-system-packages) system_packages=0 ;;
    --no-start) start=0 ;;
    --uninstall) uninstall=1 ;;
    --keep-data) keep_data=1 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option $1 (see --help)" ;;
  esac
  shift
done

[[ $prefix == /* ]] || die "--prefix must be an absolute path"
[[ $proxy =~ ^[0-9.]+:[0-9]+$ ]] || die "--proxy must be IP:PORT, got $proxy"
[[ $pac_port =~ ^[0-9]+$ ]] || die "--pac-port must be a number"
[[ -z $trusted_root || -f $trusted_root ]] || die "--trusted-root $trusted_root is not a file"
if [[ -n $root ]]; then
  mkdir -p "$root"
  root=$(cd "$root" && pwd)
  [[ $root != / ]] || root=""
fi
system=1            # touch the running system (packages, users, systemctl, trust stores)
[[ -n $root ]] && system=0
if ((system)) && [[ $(id -u) -ne 0 ]]; then
  die "run as root (or use --root DIR to build a tree)"
fi

conf_dir=/etc/phiwall
data_dir=/var/lib/phiwall
ca_cert_name=phiwall-proxy-ca.crt
nss_nickname="PhiWall proxy CA"
pac_url="http://127.0.0.1:${pac_port}/proxy.pac"
units=(phiwall-agent.service phiwall-pac.socket phiwall-pac.service)
R() { printf '%s%s' "$root" "$1"; }   # a final path inside the target tree
manifest=$(R "$data_dir")/install-manifest

# --- the manifest: one "TYPE PATH" line per thing installed, read back by --uninstall ----------
record() {
  local line="$1 $2"
  [[ -d $(dirname "$manifest") ]] || mkdir -p "$(dirname "$manifest")"
  touch "$manifest"
  grep -qxF -- "$line" "$manifest" || printf '%s\n' "$line" >>"$manifest"
}

# mkdir -p a final path in the tree, recording each directory it had to create.
make_dirs() {
  local path=$1 missing=()
  while [[ $path != / && ! -d $(R "$path") ]]; do
    missing=("$path" "${missing[@]+"${missing[@]}"}")
    path=$(dirname "$path")
  done
  local d
  for d in "${missing[@]+"${missing[@]}"}"; do
    mkdir -p "$(R "$d")"
    record dir "$d"
  done
}

# Write a file from a template (placeholders @NAME@), record it; 0644 unless told otherwise.
render() {
  local template=$1 dest=$2 mode=${3:-0644}
  local out
  out=$(R "$dest")
  make_dirs "$(dirname "$dest")"
  local folders_toml=""
  local f
  for f in "${folders[@]+"${folders[@]}"}"; do
    folders_toml+="${folders_toml:+, }\"${f//\"/\\\"}\""
  done
  local trusted_line='# trusted_root = "/etc/phiwall/root.json"   # default: the one shipped with PhiWall'
  [[ -f $(R "$conf_dir/root.json") ]] && trusted_line="trusted_root = \"$conf_dir/root.json\""
  local repository_line='# repository = "https://phiwall-updates.hospital.local/"'
  [[ -n $signatures_repo ]] && repository_line="repository = \"${signatures_repo//\"/\\\"}\""
  sed -e "s|@PREFIX@|$prefix|g" -e "s|@DATA_DIR@|$data_dir|g" -e "s|@CONF_DIR@|$conf_dir|g" \
      -e "s|@PROXY@|$proxy|g" -e "s|@PAC_PORT@|$pac_port|g" -e "s|@PAC_URL@|$pac_url|g" \
      -e "s|@USER@|$service_user|g" -e "s|@NO_PROXY@|${no_proxy_list:-localhost,127.0.0.1,::1}|g" -e "s|@FOLDERS@|${folders_toml//|/\\|}|g" \
      -e "s|@TRUSTED_ROOT_LINE@|${trusted_line//|/\\|}|g" -e "s|@REPOSITORY_LINE@|${repository_line//|/\\|}|g" \
      "$here/templates/$template" >"$out.tmp"
  chmod "$mode" "$out.tmp"
  mv -f "$out.tmp" "$out"
  record file "$dest"
}

have() { command -v "$1" >/dev/null 2>&1; }

# --- uninstall -----------------------------------------------------------------------------------
nss_remove() {
  local db=$1
  have certutil || return 0
  certutil -d "sql:$(R "$db")" -D -n "$nss_nickname" >/dev/null 2>&1 || true
}

do_uninstall() {
  [[ -f $manifest ]] || die "nothing to uninstall: $manifest not found"
  say "uninstalling (manifest $manifest)"
  if ((system)) && have systemctl && [[ -d /run/systemd/system ]]; then
    systemctl disable --now "${units[@]}" >/dev/null 2>&1 || true
  fi
  local kind path
  local -a lines dirs=()
  mapfile -t lines <"$manifest"
  local i
  for ((i = ${#lines[@]} - 1; i >= 0; i--)); do
    kind=${lines[i]%% *}
    path=${lines[i]#* }
    case "$kind" in
      file) rm -f -- "$(R "$path")" ;;
      tree) rm -rf -- "$(R "$path")" ;;
      dir) dirs+=("$path") ;;
      nss) nss_remove "$path" ;;
      data) ((keep_data)) || rm -rf -- "$(R "$path")" ;;
      user) if ((system)) && id "$path" >/dev/null 2>&1; then userdel "$path" || say "could not remove user $path"; fi ;;
      *) say "unknown manifest entry: ${lines[i]}" ;;
    esac
  done
  for path in "${dirs[@]+"${dirs[@]}"}"; do
    rmdir -- "$(R "$path")" 2>/dev/null || true
  done
  if ((system)); then
    have update-ca-certificates && update-ca-certificates --fresh >/dev/null 2>&1 || true
    have dconf && dconf update 2>/dev/null || true
    [[ -d /run/systemd/system ]] && have systemctl && systemctl daemon-reload || true
  fi
  if ((keep_data)); then
    rm -f -- "$manifest"
    say "removed; data kept in $(R "$data_dir")"
  else
    rm -rf -- "$(R "$data_dir")"
    say "removed"
  fi
}

if ((uninstall)); then
  do_uninstall
  exit 0
fi

# --- 1. system packages --------------------------------------------------------------------------
debs=(libmagic1 libchromaprint1 libarchive13 ca-certificates libnss3-tools)
if ((system && system_packages)); then
  missing=()
  for pkg in "${debs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    say "installing Debian packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# --- 2. Python 3.12 environment under the prefix ---------------------------------------------
is_py312() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; }
find_python() {
  local c
  for c in "$python" "${PHIWALL_PYTHON:-}" python3.12 python3.13 python3; do
    [[ -n $c ]] && have "$c" && is_py312 "$(command -v "$c")" && { command -v "$c"; return; }
  done
  for c in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[2-9]*/bin/python3 /root/.pyenv/versions/3.1[2-9]*/bin/python3; do
    [[ -x $c ]] && is_py312 "$c" && { echo "$c"; return; }
  done
  return 1
}

venv=$(R "$prefix/venv")
if [[ -n $wheelhouse ]]; then
  [[ -d $wheelhouse ]] || die "--wheelhouse $wheelhouse is not a directory"
  wheelhouse=$(cd "$wheelhouse" && pwd)
  stamp=$(cd "$wheelhouse" && find . -maxdepth 1 -name '*.whl' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)
else
  [[ -f $source_tree/pyproject.toml ]] || die "run from a PhiWall checkout or pass --wheelhouse"
  stamp=$(cd "$source_tree" && { git rev-parse HEAD 2>/dev/null || true; git status --porcelain 2>/dev/null || true;
    cat pyproject.toml requirements/constraints.txt; } | sha256sum | cut -c1-16)
fi
make_dirs "$(dirname "$data_dir")"   # the manifest lives in the data dir: record its parents first
make_dirs "$(dirname "$prefix")"
record tree "$prefix"
if [[ ! -x $venv/bin/python ]] || ! is_py312 "$venv/bin/python"; then
  py=$(find_python) || die "no Python >= 3.12 found (install python3.12 or pass --python)"
  say "creating the environment in $venv with $py"
  mkdir -p "$venv"
  "$py" -m venv "$venv"
fi
if [[ $(cat "$venv/.phiwall-stamp" 2>/dev/null) != "$stamp" ]] || ! "$venv/bin/python" -c 'import agent' 2>/dev/null; then
  # Byte-code is compiled afterwards on every core (pip compiles file by file): the service
  # user cannot write caches into the root-owned environment, so it must be complete.
  pip=("$venv/bin/python" -m pip install -q --disable-pip-version-check --no-warn-script-location --no-compile)
  if [[ -n $wheelhouse ]]; then
    say "installing phiwall from $wheelhouse (offline)"
    "${pip[@]}" --no-index --find-links "$wheelhouse" phiwall
    # Same version number, new build: replace phiwall itself (its dependencies stay).
    "${pip[@]}" --no-index --find-links "$wheelhouse" --force-reinstall --no-deps phiwall
  else
    say "installing phiwall from $source_tree"
    "${pip[@]}" -c "$source_tree/requirements/constraints.txt" "$source_tree"
    "${pip[@]}" --force-reinstall --no-deps "$source_tree"
  fi
  "$venv/bin/python" -m compileall -q -j 0 "$venv/lib" >/dev/null || die "byte-compiling the environment failed"
  "$venv/bin/python" -c 'import agent, mitmproxy, chromaprint, magic, av' || die "the environment does not import"
  echo "$stamp" >"$venv/.phiwall-stamp"
fi
mkdir -p "$(R "$prefix/libexec")" "$(R "$prefix/share/doc")"
cp -f "$here/lib/pac_server.py" "$here/lib/make_ca.py" "$here/lib/make_pac.py" "$(R "$prefix/libexec")/"
[[ -f $source_tree/docs/operations.md ]] && cp -f "$source_tree/docs/operations.md" "$(R "$prefix/share/doc")/"
make_dirs /usr/local/bin
ln -sfn "$prefix/venv/bin/phiwall" "$(R /usr/local/bin)/phiwall"
record file /usr/local/bin/phiwall

# --- 3. service user and directories --------------------------------------------------------------
if ((system)); then
  if ! id "$service_user" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$data_dir" --no-create-home --shell /usr/sbin/nologin "$service_user"
    record user "$service_user"
  fi
fi
make_dirs "$conf_dir"
chmod 0755 "$(R "$conf_dir")"
mkdir -p "$(R "$data_dir")"
chmod 0700 "$(R "$data_dir")"   # private: the store names clinical files; the CA key lives here
record data "$data_dir"
((system)) && chown "$service_user:$service_user" "$(R "$data_dir")"

# --- 4. signatures: the shipped trusted root, then the config ---------------------------------
shipped_root=$("$venv/bin/python" -c 'import signatures, pathlib; p = pathlib.Path(signatures.__file__).parent / "trusted" / "root.json"; print(p if p.is_file() else "")' 2>/dev/null || true)
[[ -n $trusted_root ]] && shipped_root=$trusted_root
if [[ -n $trusted_root ]]; then
  install -m 0644 "$trusted_root" "$(R "$conf_dir/root.json")"
  record file "$conf_dir/root.json"
elif [[ -n $shipped_root && ! -f $(R "$conf_dir/root.json") ]]; then
  install -m 0644 "$shipped_root" "$(R "$conf_dir/root.json")"
  record file "$conf_dir/root.json"
elif [[ -z $shipped_root ]]; then
  say "no trusted root ships with this build: signature updates stay off until one is configured"
fi
if [[ ! -f $(R "$conf_dir/config.toml") ]]; then
  render config.toml "$conf_dir/config.toml" 0644
else
  record file "$conf_dir/config.toml"
  say "keeping the existing $conf_dir/config.toml"
fi

# --- 5. the proxy CA, made here, key 0600 -----------------------------------------------------
ca_dir=$data_dir/ca
ca_cert=$("$venv/bin/python" "$here/lib/make_ca.py" "$(R "$ca_dir")")
((system)) && chown -R "$service_user:$service_user" "$(R "$ca_dir")"
make_dirs /usr/local/share/ca-certificates
install -m 0644 "$ca_cert" "$(R "/usr/local/share/ca-certificates/$ca_cert_name")"
record file "/usr/local/share/ca-certificates/$ca_cert_name"
if ((system)) && have update-ca-certificates; then
  update-ca-certificates >/dev/null 2>&1
fi

# NSS databases (Chromium: ~/.pki/nssdb; Firefox profiles; system-wide /etc/pki/nssdb).
if have certutil; then
  shopt -s nullglob
  for db in "$(R /etc/pki/nssdb)" "$(R /root/.pki/nssdb)" "$(R /home)"/*/.pki/nssdb \
            "$(R /home)"/*/.mozilla/firefox/*/ "$(R /home)"/*/snap/firefox/common/.mozilla/firefox/*/; do
    db=${db%/}
    [[ -f $db/cert9.db ]] || continue
    certutil -d "sql:$db" -A -t "C,," -n "$nss_nickname" -i "$ca_cert"
    record nss "${db#"$root"}"
  done
  shopt -u nullglob
else
  say "certutil not found (libnss3-tools): browsers' own NSS databases were not updated"
fi

# --- 6. the initial signed catalog, then the PAC file from the catalog in force --------------------
# In a --root tree the agent's config names final paths: run the installed phiwall with a copy
# whose paths point into the tree.
agent_config=$(R "$conf_dir/config.toml")
if [[ -n $root ]]; then
  agent_config=$(mktemp)
  sed -e "s|\"$data_dir\"|\"$root$data_dir\"|" -e "s|\"$conf_dir/|\"$root$conf_dir/|" "$(R "$conf_dir/config.toml")" >"$agent_config"
fi
installed_phiwall() {
  if ((system)); then
    runuser -u "$service_user" -- env PHIWALL_CONFIG="$agent_config" "$venv/bin/phiwall" "$@"
  else
    env PHIWALL_CONFIG="$agent_config" "$venv/bin/python" "$venv/bin/phiwall" "$@"
  fi
}
if [[ -n $signatures_repo ]]; then
  if installed_phiwall signatures install --repo "$signatures_repo" >&2; then
    say "installed the signed signature bundle from $signatures_repo"
  else
    say "WARNING: the signature bundle from $signatures_repo was not installed (the shipped catalog is in force; the agent retries)"
  fi
fi
"$venv/bin/python" "$here/lib/make_pac.py" "$(R "$conf_dir/proxy.pac")" --proxy "$proxy" --config "$agent_config" >/dev/null
record file "$conf_dir/proxy.pac"
# Command-line tools reach the internal zone (private ranges, the config's zones.internal) directly.
no_proxy_list=$("$venv/bin/python" "$here/lib/make_pac.py" --print-no-proxy --config "$agent_config")
[[ -n $root ]] && rm -f "$agent_config"

# --- 7. browser and desktop proxy settings -----------------------------------------------------------
render profile-proxy.sh /etc/profile.d/phiwall-proxy.sh
render environment.d.conf /etc/environment.d/90-phiwall-proxy.conf
render chromium-policy.json /etc/chromium/policies/managed/phiwall.json
render chromium-policy.json /etc/opt/chrome/policies/managed/phiwall.json
render dconf-proxy /etc/dconf/db/local.d/00-phiwall-proxy
render dconf-locks /etc/dconf/db/local.d/locks/phiwall-proxy
# The per-user notification helper, started with every desktop session (XDG autostart).
render phiwall-notify.desktop /etc/xdg/autostart/phiwall-notify.desktop
if [[ ! -f $(R /etc/dconf/profile/user) ]]; then
  make_dirs /etc/dconf/profile
  printf 'user-db:user\nsystem-db:local\n' >"$(R /etc/dconf/profile/user)"
  record file /etc/dconf/profile/user
elif ! grep -qx 'system-db:local' "$(R /etc/dconf/profile/user)"; then
  say "/etc/dconf/profile/user has no system-db:local: add it so GNOME uses the PAC file"
fi
if [[ ! -f $(R /etc/firefox/policies/policies.json) ]] || grep -qxF "file /etc/firefox/policies/policies.json" "$manifest"; then
  render firefox-policies.json /etc/firefox/policies/policies.json
else
  say "/etc/firefox/policies/policies.json exists: merge $here/templates/firefox-policies.json into it"
fi
((system)) && have dconf && dconf update 2>/dev/null || true

# --- 8. systemd units ------------------------------------------------------------------------------
for unit in "${units[@]}"; do
  render "$unit" "/etc/systemd/system/$unit"
done
if ((system)) && have systemctl && [[ -d /run/systemd/system ]]; then
  systemctl daemon-reload
  if ((start)); then
    systemctl enable --now phiwall-pac.socket phiwall-agent.service >/dev/null
  fi
elif ((system)); then
  say "systemd is not running here: start the agent with $prefix/venv/bin/phiwall run"
fi

if [[ -n $root ]]; then
  # The tree is used at its final path (a package, an image): scripts must name $prefix, not $root.
  { grep -rlIF -- "$venv" "$venv/bin" "$venv/pyvenv.cfg" 2>/dev/null || true; } | while read -r f; do
    sed -i "s|$venv|$prefix/venv|g" "$f"
  done
fi

say "installed phiwall $("$venv/bin/python" -c 'import agent; print(agent.__version__)') in $(R "$prefix")"
