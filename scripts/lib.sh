# Shared helpers for scripts/*. Sourced, not run.

log() { printf '[cohtrace] %s\n' "$*" >&2; }
die() { printf '[cohtrace] error: %s\n' "$*" >&2; exit 1; }

cohtrace_cache() { echo "${COHTRACE_CACHE:-$HOME/.cache/cohtrace}"; }

# The one place the QEMU version is pinned.
pinned_qemu_version() { tr -d ' \n' < "$(dirname "${BASH_SOURCE[0]}")/qemu-version"; }

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_get() { DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get -q "$@"; }

# Source entries for Debian's qemu source package (sid) and backports (meson). Written once; apt-get update
# runs only when the entries are new or the package lists are missing them.
ensure_apt_sources() {
    local list=/etc/apt/sources.list.d/cohtrace-src.sources
    local want
    want=$(cat <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-backports trixie-backports sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
)
    if [ ! -f "$list" ] || [ "$(cat "$list")" != "$want" ]; then
        log "adding Debian source and backports entries ($list)"
        printf '%s\n' "$want" | sudo_if_needed tee "$list" >/dev/null
        apt_get update >&2
    elif ! apt-cache showsrc qemu 2>/dev/null | grep -q '^Version'; then
        apt_get update >&2
    fi
}

# Install Debian packages that are not installed yet.
ensure_debs() {
    local missing=()
    local p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_get install -y --no-install-recommends "${missing[@]}" >&2 || {
            apt_get update >&2
            apt_get install -y --no-install-recommends "${missing[@]}" >&2
        }
    fi
}

# The whole QEMU command line of a guest variant (its manifest's qemu_args, then -kernel ELF), one argument
# per line: the manifests are the one place guest command lines are written.
#   mapfile -t args < <(variant_command NAME ELF)
variant_command() {
    local repo py
    repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    py=python3
    "$py" -c 'import tomllib' 2>/dev/null || py=/usr/bin/python3
    "$py" "$repo/guests/manifest.py" command "$1" "$2" "$repo"/guests/scenarios/*.toml "$repo"/guests/bench/*.toml
}
