#!/usr/bin/env bash
# Makes a local, unsigned, flat apt repository of the given .deb files:
#   packaging/apt-repo.sh DIR PKG.deb...
# Then, e.g. with a private apt configuration that leaves the machine's own alone:
#   echo "deb [trusted=yes] file:$DIR ./" > my.list
#   apt-get -o Dir::Etc::sourcelist=$PWD/my.list -o Dir::Etc::sourceparts=- update
# (packaging/test.sh does that through APT_CONFIG.) Needs apt-ftparchive (apt-utils).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: $0 DIR PKG.deb..." >&2; exit 2; }
dir=$1
shift
command -v apt-ftparchive >/dev/null || {
  echo "apt-repo.sh: apt-ftparchive is missing (apt-get install apt-utils)" >&2; exit 1; }
rm -rf "$dir"
mkdir -p "$dir/pool"
cp "$@" "$dir/pool/"
# apt fetches as the unprivileged _apt user: keep the tree world-readable.
chmod -R a+rX "$dir"
cd "$dir"
apt-ftparchive packages pool > Packages
gzip -9nk Packages
apt-ftparchive \
  -o APT::FTPArchive::Release::Origin=tailcall-logger-local \
  -o APT::FTPArchive::Release::Label=tailcall-logger-local \
  -o APT::FTPArchive::Release::Description="tailcall-logger local repository" \
  release . > ../.Release.tmp
# (written outside, or the half-written Release would list itself)
mv ../.Release.tmp Release
chmod a+r Packages Packages.gz Release
echo "deb [trusted=yes] file:$(pwd) ./"
