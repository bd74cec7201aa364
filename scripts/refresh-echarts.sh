#!/usr/bin/env bash
# Refresh the vendored Apache ECharts from the npm registry. Pinned: change
# ECHARTS_VERSION deliberately, review the diff, and commit the new file with
# its licence and notice. The "common" build holds what our charts use (bar,
# line, pie, grid, tooltip, legend, aria) and the SVG renderer, at ~60 % of the
# full build. Nothing is fetched at run time: the app serves this copy.
set -euo pipefail
ECHARTS_VERSION="${ECHARTS_VERSION:-6.1.0}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/core/themes/default/static/vendor/echarts"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "echarts@${ECHARTS_VERSION}" --silent >/dev/null && tar xzf echarts-*.tgz)
mkdir -p "$dest"
cp "$tmp/package/dist/echarts.common.min.js" "$dest/echarts.common.min.js"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
cp "$tmp/package/NOTICE" "$dest/NOTICE"
cp "$tmp/package/licenses/LICENSE-d3" "$dest/LICENSE-d3"
echo "$ECHARTS_VERSION" > "$dest/VERSION"
sha256sum "$dest/echarts.common.min.js" | awk '{print $1}' > "$dest/SHA256"
echo "echarts ${ECHARTS_VERSION} -> $dest ($(wc -c < "$dest/echarts.common.min.js") bytes)"
