#!/usr/bin/env bash
# Refresh the vendored htmx from the npm registry. Pinned: change HTMX_VERSION
# deliberately, review the diff, and commit the new file with its licence.
set -euo pipefail
HTMX_VERSION="${HTMX_VERSION:-2.0.11}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/core/themes/default/static/vendor/htmx"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack "htmx.org@${HTMX_VERSION}" --silent >/dev/null && tar xzf htmx.org-*.tgz)
mkdir -p "$dest"
cp "$tmp/package/dist/htmx.min.js" "$dest/htmx.min.js"
cp "$tmp/package/LICENSE" "$dest/LICENSE"
echo "$HTMX_VERSION" > "$dest/VERSION"
sha256sum "$dest/htmx.min.js" | awk '{print $1}' > "$dest/SHA256"
echo "htmx ${HTMX_VERSION} -> $dest ($(wc -c < "$dest/htmx.min.js") bytes)"
