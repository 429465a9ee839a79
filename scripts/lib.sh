# shellcheck shell=bash
# Shared helpers for scripts/run, scripts/test, scripts/fuzz and .ci/run.
# Source it; it does not change the caller's shell options (the callers set
# -euo pipefail).
#
#   hearth_root          absolute path of the checkout
#   hearth_deps          install missing Debian packages (no-op when all present)
#   hearth_build PRESET [TARGET...]  configure (when needed) and build a CMake preset
#
# Set HEARTH_SKIP_DEPS=1 to skip the package check entirely.

HEARTH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# Everything needed to build, test and run hearth (embedded PostgreSQL and the
# tests' throwaway clusters use the postgresql server package; the notification
# tests run a local SMTP sink on python3-aiosmtpd; the network partition test
# puts a node in a network namespace with iproute2, and the cluster test cuts
# a node off from its peers with nftables; the Grafana dashboard's
# queries run against Debian's prometheus; the Debian package is made by
# CPack with dpkg-dev's dpkg-shlibdeps and checked by lintian).
HEARTH_PACKAGES=(
  cmake g++ pkg-config git ninja-build ccache procps
  libcaf-dev libpqxx-dev libsimdjson-dev libfmt-dev libspdlog-dev libcli11-dev
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libsodium-dev libgtest-dev libgmock-dev libbenchmark-dev prometheus-cpp-dev
  libsystemd-dev libssl-dev openssl libcurl4-openssl-dev
  libical-dev python3-icalendar
  postgresql
  python3-aiosmtpd
  haproxy curl
  iproute2 nftables
  prometheus
  dpkg-dev lintian
)

# What scripts/fuzz adds (CI runs it): clang and its runtime libraries
# (libFuzzer, ASan, UBSan) for the fuzz preset.
# shellcheck disable=SC2034  # used by scripts/fuzz
HEARTH_FUZZ_PACKAGES=(clang libclang-rt-14-dev)

hearth_root() {
  printf '%s\n' "$HEARTH_ROOT"
}

hearth_log() {
  printf '[hearth] %s\n' "$*" >&2
}

# Prints the packages of HEARTH_PACKAGES that are not installed (one dpkg-query).
hearth_missing_packages() {
  local installed
  installed="$(dpkg-query -W -f='${Package} ${Status}\n' "${HEARTH_PACKAGES[@]}" 2>/dev/null |
    awk '$NF == "installed" && $(NF-1) == "ok" { print $1 }' || true)"
  local pkg
  for pkg in "${HEARTH_PACKAGES[@]}"; do
    if ! grep -qxF -- "$pkg" <<<"$installed"; then
      printf '%s\n' "$pkg"
    fi
  done
}

# Installs missing packages with apt-get (via sudo when not root). Does not
# touch apt at all when everything is installed.
hearth_deps() {
  local skip="${HEARTH_SKIP_DEPS:-0}"
  unset HEARTH_SKIP_DEPS  # not a hearth key: hearth rejects unknown HEARTH_* names
  if [[ "$skip" == 1 ]]; then
    return 0
  fi
  if ! command -v dpkg-query >/dev/null 2>&1; then
    hearth_log "not a Debian/Ubuntu system: install these yourself: ${HEARTH_PACKAGES[*]}"
    return 0
  fi
  local missing
  mapfile -t missing < <(hearth_missing_packages)
  if ((${#missing[@]} == 0)); then
    return 0
  fi
  hearth_log "installing missing packages: ${missing[*]}"
  local -a sudo=()
  if ((EUID != 0)); then
    if ! command -v sudo >/dev/null 2>&1; then
      hearth_log "need root to install packages and sudo is not available"
      return 1
    fi
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q -o DPkg::Lock::Timeout=600
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    -o DPkg::Lock::Timeout=600 \
    "${missing[@]}"
}

# hearth_build PRESET [TARGET...]: configures build/PRESET when it has never been
# configured or CMakePresets.json is newer than its cache (CMakeLists.txt
# changes are picked up by the build itself), then builds with 2 jobs.
# ccache is enabled by CMakeLists.txt when installed.
hearth_build() {
  local preset="$1"
  shift
  local -a targets=()
  if (($# > 0)); then
    targets=(--target "$@")
  fi
  local build_dir="$HEARTH_ROOT/build/$preset"
  (
    cd "$HEARTH_ROOT" || exit 1
    if [[ ! -f "$build_dir/build.ninja" || ! -f "$build_dir/CMakeCache.txt" ||
          CMakePresets.json -nt "$build_dir/CMakeCache.txt" ]]; then
      cmake --preset "$preset" || exit
    fi
    cmake --build --preset "$preset" -j2 "${targets[@]}" || exit
  )
}
