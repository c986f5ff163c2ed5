#!/usr/bin/env bash
# Install the Debian packages listed in hack/apt-packages.txt whose command (or absolute file) is missing.
# Idempotent and quiet when everything is there; needs root (or sudo) only when something is missing.
set -euo pipefail
list="$(dirname "$0")/apt-packages.txt"
missing=()
while read -r package command; do
  [[ -z "$package" || "$package" == \#* ]] && continue
  if [[ "$command" == /* ]]; then  # a file the package installs off PATH (e.g. CNI plugins)
    [[ -x "$command" ]] || missing+=("$package")
  else
    command -v "$command" >/dev/null 2>&1 || missing+=("$package")
  fi
done <"$list"
((${#missing[@]} == 0)) && exit 0
echo "installing Debian packages: ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null 2>&1 || { echo "error: need root to apt-get install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
