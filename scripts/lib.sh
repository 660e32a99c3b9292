# Shared by scripts/demo and scripts/test: install what is missing, say what
# cannot be installed.

# Debian packages to install when a command is missing, as "command:package".
ensure_packages() {
    local missing=()
    local pair
    for pair in "$@"; do
        # Daemons live in sbin, which a non-login shell may not have on PATH.
        PATH="$PATH:/usr/sbin:/sbin" command -v "${pair%%:*}" >/dev/null 2>&1 || missing+=("${pair##*:}")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "missing packages: ${missing[*]} (run as root, or: sudo apt-get install ${missing[*]})" >&2
        exit 1
    fi
    echo "installing: ${missing[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A Rust toolchain new enough for the workspace (see rust-version in Cargo.toml).
ensure_rust() {
    [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
    if ! command -v cargo >/dev/null 2>&1; then
        ensure_packages curl:curl
        echo "installing Rust with rustup" >&2
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c clippy,rustfmt
        . "$HOME/.cargo/env"
    fi
}
