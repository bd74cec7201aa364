#!/usr/bin/env bash
# Refresh the vendored Leaflet and Leaflet.markercluster from the npm registry.
# Pinned: change the versions deliberately, review the diff, and commit the new
# files with their licences. Nothing is fetched at run time: the case map and
# the grid map load these files from /static/vendor/.
set -euo pipefail
LEAFLET_VERSION="${LEAFLET_VERSION:-1.9.4}"          # BSD-2-Clause
MARKERCLUSTER_VERSION="${MARKERCLUSTER_VERSION:-1.5.3}"  # MIT; 1.x is the classic (non-module) build for Leaflet 1.x
here="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$here/core/themes/default/static/vendor"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

fetch() {  # package@version -> $tmp/<package>/package
  mkdir -p "$tmp/$1"
  (cd "$tmp/$1" && npm pack "$1@$2" --silent >/dev/null && tar xzf ./*.tgz)
}

fetch leaflet "$LEAFLET_VERSION"
dest="$vendor/leaflet"
rm -rf "$dest" && mkdir -p "$dest/images"
cp "$tmp/leaflet/package/dist/leaflet.js" "$tmp/leaflet/package/dist/leaflet.css" "$dest/"
cp "$tmp/leaflet/package/dist/images/"*.png "$dest/images/"
cp "$tmp/leaflet/package/LICENSE" "$dest/LICENSE"
echo "$LEAFLET_VERSION" > "$dest/VERSION"
(cd "$dest" && sha256sum leaflet.js leaflet.css images/*.png > SHA256)

fetch leaflet.markercluster "$MARKERCLUSTER_VERSION"
dest="$vendor/leaflet.markercluster"
rm -rf "$dest" && mkdir -p "$dest"
cp "$tmp/leaflet.markercluster/package/dist/leaflet.markercluster.js" \
   "$tmp/leaflet.markercluster/package/dist/MarkerCluster.css" \
   "$tmp/leaflet.markercluster/package/dist/MarkerCluster.Default.css" "$dest/"
cp "$tmp/leaflet.markercluster/package/MIT-LICENCE.txt" "$dest/LICENSE"
echo "$MARKERCLUSTER_VERSION" > "$dest/VERSION"
(cd "$dest" && sha256sum leaflet.markercluster.js MarkerCluster.css MarkerCluster.Default.css > SHA256)

echo "leaflet ${LEAFLET_VERSION}, leaflet.markercluster ${MARKERCLUSTER_VERSION} -> $vendor"
